"""The notifier Flask application: health, and what was sent to an owner."""
from __future__ import annotations

from flask import Blueprint, Flask, current_app, g, jsonify
from sqlalchemy import and_, select

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
    if g.staff.role != "admin":
        query = query.where(pending_sends.c.community.in_(g.staff.communities))
    with current_app.extensions["notifier.db"].connect() as connection:
        rows = connection.execute(query).mappings().all()
    items = [{k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in r.items()} for r in rows]
    counts: dict[str, int] = {}
    for item in items:
        counts[item["status"]] = counts.get(item["status"], 0) + 1
    return jsonify(owner_id=owner_id, counts=counts, items=items)


def create_app(config: dict | None = None) -> Flask:
    settings = load_settings()
    app = service_app(__name__, "notifier", settings, settings.notifier_database_url, config)
    app.register_blueprint(sends)
    app.register_blueprint(template_overrides_api)
    return app
