"""CSV and JSON imports of owners, units, the fee ledger and payments."""
from __future__ import annotations

from flask_smorest import Blueprint

blp = Blueprint("imports", __name__, url_prefix="/api/v1/imports", description="Imports")
