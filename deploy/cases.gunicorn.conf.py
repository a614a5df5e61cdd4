"""gunicorn config for cases: the shared settings, on port 8001 unless GUNICORN_BIND says otherwise."""
import os

os.environ.setdefault("GUNICORN_BIND", "127.0.0.1:8001")

from deploy.gunicorn_settings import *  # noqa: E402,F401,F403
