"""What every cases endpoint needs: the database, the staff member's scope, local dates, pages."""
from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from flask import current_app, g
from flask_smorest import abort
from marshmallow import fields, validate
from sqlalchemy import Engine, select

from services.cases.tables import communities
from shared.schemas import StrictSchema, page_field


def engine() -> Engine:
    return current_app.extensions["cases.db"]


def now() -> datetime:
    """The current time; tests may pin it with app.config['CASES_NOW']."""
    pinned = current_app.config.get("CASES_NOW")
    return pinned() if callable(pinned) else datetime.now(UTC)


def community_today(connection, community: str) -> date:
    timezone = connection.execute(select(communities.c.timezone).where(communities.c.id == community)).scalar()
    return now().astimezone(ZoneInfo(timezone or "Asia/Shanghai")).date()


def visible_communities() -> tuple[str, ...] | None:
    """None for an admin (everything), else the staff member's communities."""
    return None if g.staff.role == "admin" else g.staff.communities


def require_community(community: str, missing_status: int = 404, message: str = "Not found.") -> None:
    """Stop unless the staff member works in `community`; another's data looks just like missing data."""
    if not g.staff.can_see(community):
        abort(missing_status, message=message if missing_status == 404 else "Not your community.")


class PageArgs(StrictSchema):
    page = page_field()
    per_page = fields.Int(load_default=50, validate=validate.Range(min=1, max=500))


def page_of(items: list, total: int, args: dict) -> dict:
    return {"items": items, "page": args["page"], "per_page": args["per_page"], "total": total}
