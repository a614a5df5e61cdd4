"""The notifier Flask application: health, and what was sent to an owner."""
from __future__ import annotations

from flask import Blueprint, Flask, current_app, g, jsonify
from flask_smorest import Api
from sqlalchemy import and_, select

from services.notifier import autoreplies, print_api, print_queue
from services.notifier.config import load_settings
from services.notifier.tables import pending_sends, send_ledger
from services.notifier.template_api import template_overrides_api
from shared.auth import require_staff
from shared.web import service_app

sends = Blueprint("sends", __name__, url_prefix="/api/v1")


@sends.get("/owners/<owner_id>/sends")
@require_staff()
def owner_sends(owner_id: str):
    """Every send for an owner with its ledger status (sent, failed, unknown, ...)."""
    columns = [c for c in send_ledger.c if c.name != "owner_id"]
    with current_app.extensions["notifier.db"].connect() as connection:
        rows = connection.execute(
            select(*columns).where(send_ledger.c.owner_id == owner_id)
            .order_by(send_ledger.c.claimed_at.desc()).limit(500)
        ).mappings().all()
    return jsonify(items=[{k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in r.items()}
                          for r in rows])


OUTBOX_COLUMNS = ("notification_id", "channel", "case_id", "community", "slot", "template", "status", "reason",
                  "requested_at", "due_at", "sent_at", "expires_at", "attempts", "updated_at")


@sends.get("/owners/<owner_id>/outbox")
@require_staff()
def owner_outbox(owner_id: str):
    """What was asked for an owner and what became of it: pending, deferred (and why), cancelled,
    skipped, sent or failed, with the provider's delivery report when there is one."""
    ledger_key = and_(send_ledger.c.notification_id == pending_sends.c.notification_id,
                      send_ledger.c.channel == pending_sends.c.channel)
    query = (
        select(*(pending_sends.c[name] for name in OUTBOX_COLUMNS), send_ledger.c.provider,
               send_ledger.c.provider_message_id, send_ledger.c.delivery_status, send_ledger.c.error_code)
        .outerjoin(send_ledger, ledger_key)
        .where(pending_sends.c.owner_id == owner_id)
        .order_by(pending_sends.c.due_at.desc(), pending_sends.c.notification_id, pending_sends.c.channel)
        .limit(500)
    )
    communities = None if g.staff.role == "admin" else tuple(g.staff.communities)
    if communities is not None:
        query = query.where(pending_sends.c.community.in_(communities))
    with current_app.extensions["notifier.db"].connect() as connection:
        rows = [dict(r) for r in connection.execute(query).mappings().all()]
        # Letters (print queue) and auto-replies not sent (yet): sent ones are in pending_sends already.
        rows += print_queue.owner_rows(connection, owner_id, communities)
        rows += autoreplies.outbox_rows(connection, owner_id, communities)
    items = [{k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in r.items()} for r in rows]
    counts: dict[str, int] = {}
    for item in items:
        counts[item["status"]] = counts.get(item["status"], 0) + 1
    return jsonify(owner_id=owner_id, counts=counts, items=items)


API_SPEC = {
    "API_TITLE": "notifier: reminders, letters and auto-replies",
    "API_VERSION": "v1",
    "OPENAPI_VERSION": "3.0.3",
    "OPENAPI_URL_PREFIX": "/api/v1",
    "OPENAPI_JSON_PATH": "openapi.json",
}


def register_api(app: Flask) -> Api:
    """The documented (flask-smorest) part of the staff API, at /api/v1/openapi.json."""
    for key, value in API_SPEC.items():
        app.config.setdefault(key, value)
    api = Api(app, spec_kwargs={"components": {"securitySchemes": {
        "staffToken": {"type": "http", "scheme": "bearer"}}}})
    api.register_blueprint(print_api.blp)
    return api


def create_app(config: dict | None = None) -> Flask:
    settings = load_settings()
    app = service_app(__name__, "notifier", settings, settings.notifier_database_url, config,
                      before_handlers=register_api)
    app.register_blueprint(sends)
    app.register_blueprint(template_overrides_api)
    return app
