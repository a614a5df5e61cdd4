"""Ops: queue health with its alerts, and the dead-letter tools (list, inspect, replay, purge).

Queue health is read-only and holds no personal data: managers see it (the dashboard's queue
panel) as well as admins. The dead-letter tools show masked message contents and change the
broker, so they are for admins, and every use is written to ops_audit with the staff member.
"""
from __future__ import annotations

from flask import current_app, g
from flask_smorest import Blueprint, abort
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from services.cases.api.common import engine
from services.cases.dead_letters import DeadLetterBox, UnknownService, audit
from shared.auth import require_staff
from shared.config import ConfigError
from shared.queue_watch import (
    BrokerUnreachable,
    QueueHealthCollector,
    broker_errors,
    load_health_rules,
    watch,
)
from shared.schemas import JsonBool, StrictSchema
from shared.web import METRICS_COLLECTORS

blp = Blueprint("ops", __name__, url_prefix="/api/v1/ops", description="Queues, alerts and dead letters (ops)")


class QueueOut(Schema):
    name = fields.Str()
    service = fields.Str()
    kind = fields.Str(metadata={"description": "work | retry | dead"})
    ready = fields.Int(allow_none=True)
    unacked = fields.Int(allow_none=True)
    consumers = fields.Int(allow_none=True)
    publish_rate = fields.Float(allow_none=True)
    deliver_rate = fields.Float(allow_none=True)
    oldest_age_seconds = fields.Float(allow_none=True)


class AlertOut(Schema):
    rule = fields.Str(metadata={"description": "no_consumers | depth | oldest_age | dead_letters | circuit_open "
                                              "| circuit_unknown"})
    subject = fields.Str()
    severity = fields.Str(metadata={"description": "critical | warning"})
    message = fields.Str()


class QueuesOut(Schema):
    source = fields.Str(metadata={"description": "management | amqp | embedded"})
    queues = fields.List(fields.Nested(QueueOut))
    alerts = fields.List(fields.Nested(AlertOut))


class DeathOut(Schema):
    reason = fields.Str(allow_none=True)
    queue = fields.Str(allow_none=True)
    count = fields.Int(allow_none=True)
    time = fields.Str(allow_none=True)


class DeadLetterOut(Schema):
    message_id = fields.Str(allow_none=True)
    type = fields.Str(allow_none=True)
    correlation_id = fields.Str(allow_none=True)
    queue = fields.Str()
    origin = fields.Str(metadata={"description": "the work queue a replay sends it to"})
    deaths = fields.List(fields.Nested(DeathOut), metadata={"description": "RabbitMQ's x-death"})
    death_reason = fields.Str(allow_none=True, metadata={"description": "x-death-reason (embedded transport)"})
    retries = fields.Int(allow_none=True)
    published_at = fields.Str(allow_none=True)
    payload = fields.Raw(metadata={"description": "the event payload, personal data masked"})


class DeadLettersOut(Schema):
    queue = fields.Str()
    items = fields.List(fields.Nested(DeadLetterOut))


class ListArgs(StrictSchema):
    limit = fields.Int(load_default=100, validate=validate.Range(min=1, max=1000))


class ReplayIn(StrictSchema):
    message_id = fields.Str(validate=validate.Length(min=1, max=64))
    all = JsonBool()

    @validates_schema
    def _one_or_all(self, data, **_):
        if bool(data.get("message_id")) == bool(data.get("all")):
            raise ValidationError("give either message_id or all: true", field_name="message_id")


class ReplayOut(Schema):
    queue = fields.Str()
    replayed = fields.List(fields.Str())


class PurgeIn(StrictSchema):
    confirm = fields.Str(required=True, metadata={"description": "the dead-letter queue's name, to confirm"})


class PurgeOut(Schema):
    queue = fields.Str()
    purged = fields.Int()


@blp.record_once
def _queue_gauges(state) -> None:
    """cases' /metrics carries the queue health report as gauges too."""
    app = state.app

    def report() -> dict:
        settings = app.config["SETTINGS"]
        return watch(settings.broker_url, settings.broker_namespace, circuits=app.config.get("OPS_CIRCUITS"))

    app.extensions.setdefault(METRICS_COLLECTORS, []).append(QueueHealthCollector(report))


def _settings():
    return current_app.config["SETTINGS"]


def _box() -> DeadLetterBox:
    settings = _settings()
    return DeadLetterBox(settings.broker_url, settings.broker_namespace)


def _dead_queue(box: DeadLetterBox, service: str) -> str:
    try:
        return box.queues_of(service).dead.name
    except UnknownService:
        abort(404, message=f"No service {service!r} has a dead-letter queue.")


def _on_broker(call, *args):
    """Run a dead-letter tool; a broker that is down is a 503, not a crash."""
    try:
        return call(*args)
    except broker_errors() as exc:
        abort(503, message=f"The broker is unreachable ({type(exc).__name__}); nothing was changed.")


def _audit(action: str, queue: str, message_id: str | None = None, affected: int = 0) -> None:
    audit(engine(), actor=g.staff.sub, actor_kind="staff", action=action, queue=queue,
          message_id=message_id, affected=affected)


@blp.get("/queues")
@require_staff("manager")
@blp.response(200, QueuesOut)
def queue_health():
    """Every queue's depth, consumers, rates and oldest message age, and the alerts they raise."""
    settings = _settings()
    try:
        rules = load_health_rules()
    except ConfigError as exc:
        abort(500, message=str(exc))
    try:
        return watch(settings.broker_url, settings.broker_namespace, rules=rules,
                     circuits=current_app.config.get("OPS_CIRCUITS"))
    except BrokerUnreachable as exc:
        abort(503, message=f"{exc}; the queues cannot be read now.")


@blp.get("/dead-letters/<service>")
@require_staff("admin")
@blp.arguments(ListArgs, location="query")
@blp.response(200, DeadLettersOut)
def list_dead_letters(args, service):
    """The messages in a service's dead-letter queue (oldest first), masked, with why each died."""
    box = _box()
    queue = _dead_queue(box, service)
    items = _on_broker(box.list, service, args["limit"])
    _audit("list", queue, affected=len(items))
    return {"queue": queue, "items": [item.as_dict() for item in items]}


@blp.get("/dead-letters/<service>/<message_id>")
@require_staff("admin")
@blp.response(200, DeadLetterOut)
def show_dead_letter(service, message_id):
    """One dead message by its message id."""
    box = _box()
    queue = _dead_queue(box, service)
    item = _on_broker(box.show, service, message_id)
    if item is None:
        abort(404, message="No such message in the dead-letter queue.")
    _audit("show", queue, message_id, 1)
    return item.as_dict()


@blp.post("/dead-letters/<service>/replay")
@require_staff("admin")
@blp.arguments(ReplayIn)
@blp.response(200, ReplayOut)
def replay_dead_letters(body, service):
    """Send one dead message (`message_id`) or all (`all: true`) back to the work queue they died in."""
    box = _box()
    queue = _dead_queue(box, service)
    replayed = _on_broker(box.replay, service, body.get("message_id"))
    if body.get("message_id") and not replayed:
        abort(404, message="No such message in the dead-letter queue.")
    _audit("replay" if body.get("message_id") else "replay_all", queue, body.get("message_id"), len(replayed))
    return {"queue": queue, "replayed": replayed}


@blp.post("/dead-letters/<service>/purge")
@require_staff("admin")
@blp.arguments(PurgeIn)
@blp.response(200, PurgeOut)
def purge_dead_letters(body, service):
    """Delete every message of a dead-letter queue; `confirm` must be the queue's name."""
    box = _box()
    queue = _dead_queue(box, service)
    if body["confirm"] != queue:
        abort(422, message="Confirm with the dead-letter queue's name.",
              errors={"confirm": [f"must be {queue!r}"]})
    purged = _on_broker(box.purge, service)
    _audit("purge", queue, affected=purged)
    return {"queue": queue, "purged": purged}
