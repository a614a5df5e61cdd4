"""What ops watch on the broker: every queue of the system, and the health rules that raise alerts.

Numbers come from RabbitMQ's management HTTP API (depth, consumers, rates, oldest message age);
when the API cannot be reached, from AMQP passive declares (depth and consumers only); on the
embedded transport (kombu's SQLAlchemy tables), from those tables (depth and oldest age).

The oldest age of a quorum queue is read by peeking its head message (`ack_requeue_true`): the
message goes back where it was, but a quorum queue counts the peek as a delivery, and a work
queue dead-letters a message after `x-delivery-limit` deliveries. So work queues are only peeked
when OPS_PEEK_WORK_QUEUES is on; retry and dead-letter queues have no delivery limit.

The report is a plain dict, the shape GET /api/v1/ops/queues serves:
{"source": "management"|"amqp"|"embedded", "queues": [...], "alerts": [...]}.
"""
from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass

from shared.config import ConfigError
from shared.topology import Topology

log = logging.getLogger(__name__)
HTTP_TIMEOUT = 3.0
DEFAULT_NOTIFIER_METRICS_URL = "http://127.0.0.1:8002/metrics"
CIRCUIT_GAUGE = "notifier_circuit_open_until_seconds"


class BrokerUnreachable(RuntimeError):
    """Neither the management API nor AMQP answered."""


BROKER_ERRORS: tuple[type[BaseException], ...] = (OSError, ConnectionError)


def broker_errors() -> tuple[type[BaseException], ...]:
    """What a broker that is down or refusing raises, across kombu and py-amqp."""
    from amqp.exceptions import AMQPError
    from kombu.exceptions import KombuError

    return (*BROKER_ERRORS, KombuError, AMQPError)


@dataclass(frozen=True)
class HealthRules:
    max_depth: int = 1000  # ready + unacked in a work or retry queue
    max_age_seconds: float = 300.0  # oldest message waiting in a work queue
    max_dead_letters: int = 0  # a dead-letter queue holding more than this
    alert_no_consumers: bool = True  # a work queue nobody consumes
    peek_work_queues: bool = False  # see the module docstring


def load_health_rules(environ: Mapping[str, str] | None = None) -> HealthRules:
    env = os.environ if environ is None else environ

    def number(name: str, default: str, kind):
        raw = env.get(name, "").strip() or default
        try:
            value = kind(raw)
        except ValueError:
            raise ConfigError(f"{name} must be a number, not {raw!r}") from None
        if value < 0:
            raise ConfigError(f"{name} must not be negative, not {value}")
        return value

    def flag(name: str, default: bool) -> bool:
        raw = env.get(name, "").strip().lower()
        return default if not raw else raw in {"1", "true", "yes", "on"}

    return HealthRules(
        max_depth=number("OPS_MAX_QUEUE_DEPTH", "1000", int),
        max_age_seconds=number("OPS_MAX_MESSAGE_AGE_SECONDS", "300", float),
        max_dead_letters=number("OPS_MAX_DEAD_LETTERS", "0", int),
        alert_no_consumers=flag("OPS_ALERT_NO_CONSUMERS", True),
        peek_work_queues=flag("OPS_PEEK_WORK_QUEUES", False),
    )


@dataclass
class QueueStats:
    name: str
    service: str
    kind: str  # work | retry | dead
    ready: int | None = None
    unacked: int | None = None
    consumers: int | None = None
    publish_rate: float | None = None
    deliver_rate: float | None = None
    oldest_age_seconds: float | None = None


@dataclass(frozen=True)
class Alert:
    rule: str
    subject: str
    severity: str  # critical | warning
    message: str


def system_queues(topology: Topology) -> list[QueueStats]:
    """Every queue of the system, empty of numbers, in a stable order."""
    found = []
    for queues in topology.all_queues():
        found.append(QueueStats(queues.work.name, queues.service, "work"))
        found.extend(QueueStats(q.name, queues.service, "retry") for q in queues.retries)
        found.append(QueueStats(queues.dead.name, queues.service, "dead"))
    return found


# --- sources ---------------------------------------------------------------------------------

def management_url(broker_url: str, override: str | None = None) -> tuple[str, str]:
    """(base URL with credentials, vhost) of the management API for an amqp:// broker URL."""
    parsed = urllib.parse.urlsplit(broker_url)
    vhost = urllib.parse.unquote(parsed.path[1:]) if len(parsed.path) > 1 else "/"
    if override:
        return override.rstrip("/"), vhost
    # urlsplit leaves the credentials percent-encoded, as they must stay in the URL we build.
    user = parsed.username or "guest"
    password = parsed.password or "guest"
    scheme = "https" if parsed.scheme == "amqps" else "http"
    netloc = f"{user}:{password}@{parsed.hostname or '127.0.0.1'}:15672"
    return f"{scheme}://{netloc}", vhost


class ManagementApi:
    """The few calls of RabbitMQ's management HTTP API the monitor and the tools need."""

    def __init__(self, base_url: str, vhost: str, timeout: float = HTTP_TIMEOUT):
        parsed = urllib.parse.urlsplit(base_url)
        self.base = urllib.parse.urlunsplit((parsed.scheme, parsed.hostname + (f":{parsed.port}" if parsed.port else ""),
                                             parsed.path.rstrip("/"), "", ""))
        credentials = f"{urllib.parse.unquote(parsed.username or 'guest')}:{urllib.parse.unquote(parsed.password or 'guest')}"
        self.auth = "Basic " + base64.b64encode(credentials.encode()).decode()
        self.vhost = vhost
        self.timeout = timeout

    def _call(self, method: str, path: str, body: dict | None = None):
        request = urllib.request.Request(
            self.base + path, method=method, data=json.dumps(body).encode() if body is not None else None,
            headers={"Authorization": self.auth, "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            return json.loads(response.read() or b"null")

    def _queue_path(self, name: str) -> str:
        return f"/api/queues/{urllib.parse.quote(self.vhost, safe='')}/{urllib.parse.quote(name, safe='')}"

    def queues(self) -> dict[str, dict]:
        """Every queue of the vhost by name, in one request."""
        rows = self._call("GET", f"/api/queues/{urllib.parse.quote(self.vhost, safe='')}")
        return {row["name"]: row for row in rows}

    def peek(self, name: str) -> dict | None:
        """The head message, put back where it was (see the module docstring about quorum queues)."""
        got = self._call("POST", self._queue_path(name) + "/get",
                         {"count": 1, "ackmode": "ack_requeue_true", "encoding": "auto", "truncate": 1024})
        return got[0] if got else None


def _from_management(api: ManagementApi, stats: list[QueueStats], rules: HealthRules, now: float) -> None:
    known = api.queues()
    for queue in stats:
        row = known.get(queue.name)
        if row is None:  # never declared: nothing consumes it
            queue.ready, queue.unacked, queue.consumers = 0, 0, 0
            continue
        queue.ready = int(row.get("messages_ready") or 0)
        queue.unacked = int(row.get("messages_unacknowledged") or 0)
        queue.consumers = int(row.get("consumers") or 0)
        message_stats = row.get("message_stats") or {}
        queue.publish_rate = float((message_stats.get("publish_details") or {}).get("rate", 0.0))
        queue.deliver_rate = float((message_stats.get("deliver_get_details") or {}).get("rate", 0.0))
        head = row.get("head_message_timestamp")  # classic queues only
        if head:
            queue.oldest_age_seconds = max(0.0, now - float(head))
        elif queue.ready and (queue.kind != "work" or rules.peek_work_queues):
            queue.oldest_age_seconds = _age_of(api.peek(queue.name), now)
        elif not queue.ready:
            queue.oldest_age_seconds = 0.0


def _age_of(message: dict | None, now: float) -> float | None:
    stamp = ((message or {}).get("properties") or {}).get("timestamp")
    return max(0.0, now - float(stamp)) if stamp else None


def _from_amqp(broker_url: str, stats: list[QueueStats]) -> None:
    """Depth and consumers by passive declares (a missing queue closes the channel: one each)."""
    from amqp.exceptions import NotFound

    from shared.messaging import connect

    with connect(broker_url) as connection:
        connection.ensure_connection(max_retries=1, timeout=3)
        for queue in stats:
            channel = connection.channel()
            try:
                _, ready, consumers = channel.queue_declare(queue.name, passive=True)
                queue.ready, queue.consumers = ready, consumers
            except NotFound:
                queue.ready, queue.consumers = 0, 0
                continue
            finally:
                with contextlib.suppress(Exception):  # already closed by the broker's refusal
                    channel.close()


def _from_embedded(broker_url: str, stats: list[QueueStats], now: float) -> None:
    """Depth and oldest age from kombu's SQLAlchemy tables (read only; nothing is created)."""
    from sqlalchemy import create_engine, inspect, text

    url = broker_url.split("+", 1)[1]
    engine = create_engine(url, connect_args={"timeout": 30} if url.startswith("sqlite") else {})
    try:
        if not inspect(engine).has_table("kombu_queue"):
            for queue in stats:
                queue.ready, queue.oldest_age_seconds = 0, 0.0
            return
        with engine.connect() as connection:
            for queue in stats:
                rows = connection.execute(text(
                    "SELECT m.payload FROM kombu_message m JOIN kombu_queue q ON q.id = m.queue_id "
                    "WHERE q.name = :name AND m.visible = :visible ORDER BY m.id"), {"name": queue.name, "visible": True})
                payloads = [row[0] for row in rows]
                queue.ready = len(payloads)
                queue.oldest_age_seconds = _embedded_age(payloads[0], now) if payloads else 0.0
    finally:
        engine.dispose()


def _embedded_age(payload: str, now: float) -> float | None:
    try:
        stamp = (json.loads(payload).get("properties") or {}).get("timestamp")
    except (ValueError, AttributeError):
        return None
    return max(0.0, now - float(stamp)) if stamp else None


def is_embedded(broker_url: str) -> bool:
    return broker_url.startswith(("sqla+", "sqlalchemy+"))


# --- circuits --------------------------------------------------------------------------------

def notifier_circuits(url: str | None = None) -> dict[str, float] | None:
    """provider -> Unix time its circuit is open until (0: closed), from the notifier's /metrics.

    None when the notifier cannot be reached (its circuits are then unknown, not closed).
    """
    from prometheus_client.parser import text_string_to_metric_families

    url = url or os.environ.get("NOTIFIER_METRICS_URL", "").strip() or DEFAULT_NOTIFIER_METRICS_URL
    try:
        with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT) as response:
            text = response.read().decode("utf-8")
    except (OSError, ValueError):
        return None
    circuits: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name == CIRCUIT_GAUGE:
            for sample in family.samples:
                circuits[sample.labels.get("provider", "?")] = max(
                    sample.value, circuits.get(sample.labels.get("provider", "?"), 0.0))
    return circuits


# --- rules -----------------------------------------------------------------------------------

def evaluate(stats: list[QueueStats], circuits: dict[str, float] | None, rules: HealthRules,
             now: float) -> list[Alert]:
    alerts: list[Alert] = []
    for queue in stats:
        depth = (queue.ready or 0) + (queue.unacked or 0)
        if queue.kind == "work" and rules.alert_no_consumers and queue.consumers == 0:
            alerts.append(Alert("no_consumers", queue.name, "critical",
                                f"Nothing consumes {queue.name}: is the {queue.service} worker running?"))
        if queue.kind in ("work", "retry") and depth > rules.max_depth:
            alerts.append(Alert("depth", queue.name, "warning",
                                f"{queue.name} holds {depth} messages (limit {rules.max_depth})."))
        if queue.kind == "work" and queue.oldest_age_seconds is not None \
                and queue.oldest_age_seconds > rules.max_age_seconds:
            alerts.append(Alert("oldest_age", queue.name, "warning",
                                f"The oldest message in {queue.name} has waited {queue.oldest_age_seconds:.0f} s "
                                f"(limit {rules.max_age_seconds:.0f} s)."))
        if queue.kind == "dead" and depth > rules.max_dead_letters:
            alerts.append(Alert("dead_letters", queue.name, "critical",
                                f"{queue.name} holds {depth} dead message(s): inspect and replay or purge them."))
    if circuits is None:
        alerts.append(Alert("circuit_unknown", "notifier", "warning",
                            "The notifier's /metrics could not be read: provider circuits are unknown."))
    else:
        for provider, until in sorted(circuits.items()):
            if until > now:
                alerts.append(Alert("circuit_open", provider, "critical",
                                    f"The {provider} circuit is open for {until - now:.0f} s more: its sends are "
                                    "deferred, not lost."))
    return alerts


def watch(broker_url: str, namespace: str = "", *, rules: HealthRules | None = None,
          management: str | None = None,
          circuits: Callable[[], dict[str, float] | None] | None = None,
          clock: Callable[[], float] = time.time) -> dict:
    """The ops report: every queue's numbers, where they came from, and the alerts they raise."""
    rules = rules or load_health_rules()
    stats = system_queues(Topology(namespace))
    now = clock()
    if is_embedded(broker_url):
        source = "embedded"
        _from_embedded(broker_url, stats, now)
    else:
        base, vhost = management_url(broker_url, management or os.environ.get("RABBITMQ_MANAGEMENT_URL"))
        try:
            _from_management(ManagementApi(base, vhost), stats, rules, now)
            source = "management"
        except (OSError, ValueError, KeyError) as exc:  # URLError and HTTPError are OSErrors
            log.warning("management API unavailable; using passive declares", extra={"error": str(exc)[:200]})
            stats = system_queues(Topology(namespace))
            try:
                _from_amqp(broker_url, stats)
            except broker_errors() as amqp_exc:
                raise BrokerUnreachable(f"the broker is unreachable: {type(amqp_exc).__name__}") from amqp_exc
            source = "amqp"
    found = (circuits or notifier_circuits)()
    return {"source": source,
            "queues": [asdict(q) for q in stats],
            "alerts": [asdict(a) for a in evaluate(stats, found, rules, now)]}


class QueueHealthCollector:
    """The same report as Prometheus gauges, read when /metrics is scraped (cases serves it)."""

    def __init__(self, report: Callable[[], dict]):
        self.report = report

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        up = GaugeMetricFamily("ops_queue_watch_up", "1 if the broker's queues could be read.")
        try:
            report = self.report()
        except Exception:
            log.warning("queue health not read for /metrics", exc_info=True)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        labels = ["queue", "service", "kind"]
        messages = GaugeMetricFamily("ops_queue_messages", "Messages in a queue (ready or unacked).",
                                     labels=[*labels, "state"])
        consumers = GaugeMetricFamily("ops_queue_consumers", "Consumers of a queue.", labels=labels)
        age = GaugeMetricFamily("ops_queue_oldest_age_seconds", "Age of a queue's oldest message.", labels=labels)
        for queue in report["queues"]:
            key = [queue["name"], queue["service"], queue["kind"]]
            for state in ("ready", "unacked"):
                if queue[state] is not None:
                    messages.add_metric([*key, state], queue[state])
            if queue["consumers"] is not None:
                consumers.add_metric(key, queue["consumers"])
            if queue["oldest_age_seconds"] is not None:
                age.add_metric(key, queue["oldest_age_seconds"])
        alerts = GaugeMetricFamily("ops_alert", "1 for each alert a health rule raises now.",
                                   labels=["rule", "subject", "severity"])
        for alert in report["alerts"]:
            alerts.add_metric([alert["rule"], alert["subject"], alert["severity"]], 1)
        yield from (messages, consumers, age, alerts)
