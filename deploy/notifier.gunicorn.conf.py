"""gunicorn config for notifier: the shared settings, on port 8002 unless GUNICORN_BIND says otherwise."""
import os

os.environ.setdefault("GUNICORN_BIND", "127.0.0.1:8002")

from deploy.gunicorn_settings import *  # noqa: E402,F401,F403
from deploy.gunicorn_settings import metrics_hooks  # noqa: E402

# /metrics adds up every gunicorn worker and the notifier worker process (see gunicorn_settings.py).
on_starting, child_exit = metrics_hooks("notifier")
