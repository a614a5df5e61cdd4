"""marshmallow building blocks used at every edge: strict by default."""
from __future__ import annotations

from marshmallow import RAISE, Schema


class StrictSchema(Schema):
    """Reject unknown fields; nested schemas must subclass this too (Meta is not inherited by nesting)."""

    class Meta:
        unknown = RAISE
