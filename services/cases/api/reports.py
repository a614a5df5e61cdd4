"""Collection progress, rankings, the stage funnel, the 3-day report and case timelines."""
from __future__ import annotations

from flask_smorest import Blueprint

blp = Blueprint("reports", __name__, url_prefix="/api/v1", description="Reports")
