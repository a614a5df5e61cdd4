"""A case's timeline, as JSON and as a printable HTML export.

A case of another community answers 404, just like a missing one.
"""
from __future__ import annotations

from flask import Response, g
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from services.cases import timeline
from services.cases.api.common import engine, now
from services.cases.api.lookups import case_or_404
from services.cases.tables import case_notes
from shared.auth import require_staff

blp = Blueprint("timeline", __name__, url_prefix="/api/v1", description="Case timelines")


class EntryOut(Schema):
    on = fields.Date()
    at = fields.DateTime(allow_none=True)
    kind = fields.Str()
    detail = fields.Dict()


class TimelineOut(Schema):
    case = fields.Dict()
    owner = fields.Dict()
    contacts = fields.List(fields.Dict())
    units = fields.List(fields.Dict())
    community = fields.Dict()
    entries = fields.List(fields.Nested(EntryOut))


@blp.get("/cases/<case_id>/timeline")
@require_staff()
@blp.response(200, TimelineOut)
def case_timeline(case_id: str):
    """Everything that happened to the case, oldest first: the evidence a court would ask for."""
    with engine().connect() as connection:
        case_or_404(connection, case_id)
        return timeline.case_timeline(connection, case_id)


@blp.get("/cases/<case_id>/timeline/export")
@require_staff()
@blp.response(200, content_type="text/html")
def export_timeline(case_id: str):
    """The timeline as one printable HTML document, personal data included; the export is itself noted."""
    exported_at = now()
    with engine().begin() as connection:
        case_or_404(connection, case_id)
        connection.execute(case_notes.insert().values(case_id=case_id, kind="timeline_exported", detail={},
                                                      actor=g.staff.sub, at=exported_at))
        record = timeline.case_timeline(connection, case_id)
        actors = {str(e.detail[k]) for e in record.entries for k in ("actor", "opened_by", "assigned_by")
                  if e.detail.get(k)}
        names = timeline.staff_names(connection, actors | {g.staff.sub})
    document = timeline.render_html(record, exported_at, g.staff.sub, names)
    return Response(document, mimetype="text/html", headers={
        "Content-Disposition": f'attachment; filename="case-{case_id}-timeline.html"',
        "Cache-Control": "no-store"})
