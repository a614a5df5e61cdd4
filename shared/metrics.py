"""Prometheus metrics every service exposes on GET /metrics.

gunicorn runs several web workers and each service's consumer and outbox relay run in another
process, so metrics use prometheus_client's multiprocess mode: every process writes its values
to files in one directory per service (`$DATA_DIR/metrics/<service>`, or PROMETHEUS_MULTIPROC_DIR
when set) and /metrics adds them up. `enable_multiprocess()` is called at process start (the
gunicorn config, the worker) before any metric exists; the metric objects are therefore made on
first use, not at import. Without it (unit tests, a bare Flask app) values stay in the process.
"""
from __future__ import annotations

import os
import re
import threading
from functools import cache
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_PID_FILE = re.compile(r"_(\d+)\.db$")
_lock = threading.Lock()


def metrics_directory(service: str, data_dir: Path | str) -> Path:
    return Path(data_dir) / "metrics" / service


def enable_multiprocess(service: str, data_dir: Path | str, clean: bool = True) -> Path:
    """Write this process's metrics to the service's shared directory (made if missing).

    `clean` removes the files of processes that are no longer running (a previous run's), never
    those of a live process: the web app and the worker start in any order.
    """
    path = Path(os.environ.get(MULTIPROC_ENV) or metrics_directory(service, data_dir))
    path.mkdir(parents=True, exist_ok=True)
    os.environ[MULTIPROC_ENV] = str(path)
    if clean:
        for file in path.glob("*.db"):
            match = _PID_FILE.search(file.name)
            if match and not _alive(int(match.group(1))):
                file.unlink(missing_ok=True)
    from prometheus_client import values

    # prometheus_client picks its value class when first imported; pick again now the directory is set.
    values.ValueClass = values.get_value_class()
    return path


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def process_exited(pid: int) -> None:
    """gunicorn's child_exit hook: drop a dead worker's live gauges (its counters are kept)."""
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)


def exposition(collectors=()) -> tuple[bytes, str]:
    """The text /metrics serves: every process of the service in multiprocess mode, else this one.

    `collectors` are read at scrape time in this process (e.g. cases' queue health gauges).
    """
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        body = generate_latest(registry)
    else:
        from prometheus_client import REGISTRY

        body = generate_latest(REGISTRY)
    if collectors:
        extra = CollectorRegistry(auto_describe=False)
        for collector in collectors:
            extra.register(collector)
        body += generate_latest(extra)
    return body, CONTENT_TYPE_LATEST


# --- the metrics, made on first use ---------------------------------------------------------

@cache
def _metric(kind, name: str, documentation: str, labels: tuple[str, ...], **kwargs):
    with _lock:
        return kind(name, documentation, labels, **kwargs)


LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def http_requests():
    return _metric(Counter, "http_requests", "HTTP requests by endpoint (the URL rule) and status.",
                   ("method", "endpoint", "status"))


def http_latency():
    return _metric(Histogram, "http_request_duration_seconds", "Time to answer an HTTP request.",
                   ("method", "endpoint"), buckets=LATENCY_BUCKETS)


def messages_published():
    return _metric(Counter, "messages_published", "Messages confirmed by the broker, by routing key.",
                   ("routing_key",))


def messages_consumed():
    return _metric(Counter, "messages_consumed", "Messages a consumer handled and acked, by queue.",
                   ("queue",))


def messages_retried():
    return _metric(Counter, "messages_retried", "Messages sent to a delay queue for a later retry.",
                   ("queue",))


def messages_rejected():
    return _metric(Counter, "messages_rejected", "Messages dead-lettered, by queue and why.",
                   ("queue", "reason"))


def outbox_lag():
    return _metric(Gauge, "outbox_lag_seconds", "Age of the oldest unpublished outbox row (0 when none).",
                   (), multiprocess_mode="livemax")


def sends():
    return _metric(Counter, "notifier_sends", "Provider sends by channel, provider and outcome.",
                   ("channel", "provider", "outcome"))


def deferrals():
    return _metric(Counter, "notifier_deferrals", "Sends the governor or calendar held back, by reason.",
                   ("reason",))


def circuit_open_until():
    return _metric(Gauge, "notifier_circuit_open_until_seconds",
                   "Unix time until which a provider's circuit is open (0: closed).",
                   ("provider",), multiprocess_mode="livemax")


def webhook_rejections():
    return _metric(Counter, "gateway_webhook_rejections", "Webhook requests refused, by endpoint and reason.",
                   ("endpoint", "reason"))


# --- one-line hooks for the services --------------------------------------------------------

def record_send(channel: str, provider, outcome: str) -> None:
    """A send's outcome; `provider` may be the provider object (its circuit is read too) or a name."""
    name = getattr(provider, "name", provider)
    sends().labels(channel, str(name), str(outcome)).inc()
    record_circuit(provider)


def record_deferral(reason: str, provider=None) -> None:
    """A send held back; `reason` may be the governor's sentence, it is reduced to a bounded label."""
    deferrals().labels(deferral_reason(reason)).inc()
    if provider is not None:
        record_circuit(provider)


# The governor's and dispatcher's reasons are sentences ("sms cap of 2 a day reached"); a label
# must come from a small set, so each sentence is named by what it says.
_DEFERRALS = (
    (re.compile(r"circuit[ _]open"), "circuit_open"),
    (re.compile(r"quiet[ _]hours"), "quiet_hours"),
    (re.compile(r"outside[ _]window|no send window"), "outside_window"),
    (re.compile(r"already sent .* window"), "window_already_used"),
    (re.compile(r"across channels"), "messages_per_day_cap"),
    (re.compile(r"in 7 days|per week|_week"), "weekly_cap"),
    (re.compile(r"a day reached|per day|_day"), "daily_cap"),
    (re.compile(r"community daily budget|budget"), "community_budget"),
    (re.compile(r"holiday"), "holiday"),
)


def deferral_reason(reason: str) -> str:
    text = str(reason).lower()
    for pattern, name in _DEFERRALS:
        if pattern.search(text):
            return name
    return _reason_key(text)


def record_circuit(provider) -> None:
    """Publish a circuit breaker's state (anything with `.state()` giving `open_until`)."""
    state = getattr(provider, "state", None)
    if not callable(state):
        return
    current = state()
    until = getattr(current, "open_until", None)
    circuit_open_until().labels(str(getattr(current, "provider", provider.name))).set(
        until.timestamp() if until is not None else 0)


# What a refused webhook's status says about why (every webhook handler answers these).
WEBHOOK_REJECTIONS = {400: "malformed", 401: "signature", 403: "signature", 404: "unknown", 405: "method",
                      413: "too_large", 415: "media_type", 422: "malformed", 503: "unavailable"}


def record_webhook_rejection(reason: str, endpoint: str = "") -> None:
    webhook_rejections().labels(endpoint, _reason_key(reason)).inc()


def webhook_rejection_reason(status: int) -> str:
    return WEBHOOK_REJECTIONS.get(status, f"http_{status}")


def _reason_key(reason: str) -> str:
    """A bounded label: the reason's first word-ish token ("quiet_hours until 08:00" -> "quiet_hours")."""
    head = re.split(r"[\s:(]", str(reason).strip(), maxsplit=1)[0] or "unknown"
    return head[:48]
