"""Staff, sign-in tokens, collection groups and case assignment."""
from __future__ import annotations

from flask_smorest import Blueprint

blp = Blueprint("staff", __name__, url_prefix="/api/v1", description="Staff, groups and assignment")
