"""gunicorn config for cases: the shared settings, on port 8001 unless GUNICORN_BIND says otherwise."""
import os

os.environ.setdefault("GUNICORN_BIND", "127.0.0.1:8001")

from deploy.gunicorn_settings import *  # noqa: E402,F401,F403
from deploy.gunicorn_settings import metrics_hooks  # noqa: E402

# /metrics adds up every gunicorn worker and the cases worker process (see gunicorn_settings.py).
on_starting, child_exit = metrics_hooks("cases")
