"""Run the daily sweep on demand (it also runs on schedule in the worker)."""
from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import Schema, fields

from services.cases.api.common import engine, now, visible_communities
from services.cases.sweep import sweep
from shared.auth import require_staff

blp = Blueprint("sweep", __name__, url_prefix="/api/v1/sweep", description="The daily escalation sweep")


class SweepOut(Schema):
    cases_seen = fields.Int()
    moved = fields.Int()
    approvals_requested = fields.Int()
    promises_broken = fields.Int()
    reminders = fields.Int()
    communities = fields.List(fields.Str())


@blp.post("")
@require_staff("manager")
@blp.response(200, SweepOut)
def run_sweep():
    """Sweep the communities you manage now; a second run on the same day does nothing."""
    return sweep(engine(), now(), only=visible_communities())
