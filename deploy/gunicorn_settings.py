"""gunicorn settings shared by the three services (each file below only names its port).

Run: gunicorn -c deploy/gunicorn.conf.py services.cases.wsgi:app   (GUNICORN_BIND picks the port)
"""
import multiprocessing
import os

# Every service listens on its own port; the per-service wrappers set the default.
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8001")
# 2 x cores + 1 is gunicorn's guidance for sync workers; overridable for small boxes and tests.
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count() * 2 + 1))
# gthread lets one worker overlap the database/broker waits of a few requests.
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", 4))
# Providers retry webhooks that take too long; 30 s keeps a stuck request from pinning a worker.
timeout = 30
graceful_timeout = 20
# Behind a proxy, keep-alive above the proxy's idle timeout avoids spurious 502s.
keepalive = 75
# Apps are built after fork (no preload): nothing connects before gunicorn forks anyway,
# and each worker gets its own database pool and broker connections.
preload_app = False
# Logs go to stderr as JSON lines from the app; gunicorn's access log would repeat request
# lines with query strings that can hold personal data, so it stays off.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
# gunicorn's control socket (a shared ~/.gunicorn path by default) would clash between the
# three masters on one machine; ops use signals instead.
control_socket_disable = True
# gunicorn's largest request line (its default is 4094 bytes): the print queue's batch download
# takes up to 200 letter ids in its query. Longer lines get gunicorn's own 414 page, not our JSON.
limit_request_line = 8190
# Recycle workers now and then so a slow leak never becomes an outage.
max_requests = 10000
max_requests_jitter = 1000


def metrics_hooks(service: str):
    """gunicorn hooks for /metrics across workers (prometheus_client multiprocess mode).

    The master points every process of the service at `$DATA_DIR/metrics/<service>` (or
    PROMETHEUS_MULTIPROC_DIR) before it forks, clearing files left by processes no longer running;
    the service's worker process (`python -m services.<service> worker`) writes to the same
    directory, so /metrics adds up all of them. A worker that exits has its live gauges dropped.
    """

    def on_starting(_server):
        from shared.config import Settings
        from shared.metrics import enable_multiprocess

        enable_multiprocess(service, Settings.from_env().data_dir)

    def child_exit(_server, worker):
        from shared.metrics import process_exited

        process_exited(worker.pid)

    return on_starting, child_exit
