"""The community or case a path names, or 404."""
from __future__ import annotations

from flask_smorest import abort
from sqlalchemy import select

from services.cases.api.common import require_community
from services.cases.tables import cases, communities


def community_or_404(connection, community: str) -> None:
    """Stop with 404 unless the community exists; whether the caller may see it is checked before."""
    if connection.execute(select(communities.c.id).where(communities.c.id == community)).first() is None:
        abort(404, message="No such community.")


def case_or_404(connection, case_id: str):
    """The case's id and community; 404 when it is missing or in a community the caller does not work in."""
    row = connection.execute(select(cases.c.id, cases.c.community).where(cases.c.id == case_id)).first()
    if row is None:
        abort(404, message="No such case.")
    require_community(row.community, message="No such case.")
    return row
