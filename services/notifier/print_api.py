"""The print queue for staff: list a community's letters, download them, mark them printed and posted.

Every mark is an idempotent state change (the same mark again answers 200 and changes nothing);
a mark the letter's state cannot follow answers 409 (posting a cancelled letter, posting one
already posted under another tracking number); an unknown letter, or another community's, 404.
"""
from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta

from flask import current_app, g, send_file
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate, validates

from services.notifier import print_queue
from services.notifier.letters import LetterShelf
from shared.auth import require_staff
from shared.schemas import IN_CALENDAR, StrictSchema
from shared.web import error_response

blp = Blueprint("print_queue", __name__, url_prefix="/api/v1", description="Letters to print and post")
NOT_FOUND = "No such letter."


class QueueFilter(StrictSchema):
    status = fields.Str(load_default=None, validate=validate.OneOf(print_queue.STATES))
    limit = fields.Int(load_default=200, validate=validate.Range(min=1, max=500))


class BatchFilter(StrictSchema):
    status = fields.Str(load_default="waiting", validate=validate.OneOf(("waiting", "printed")))
    limit = fields.Int(load_default=100, validate=validate.Range(min=1, max=200))
    ids = fields.List(fields.Str(validate=validate.Length(max=36)), load_default=list,
                      validate=validate.Length(max=200))


class Posting(StrictSchema):
    tracking_number = fields.Str(required=True, validate=[
        validate.Length(min=4, max=64), validate.Regexp(r"^[A-Za-z0-9-]+$", error="Letters, digits and '-' only.")])
    posted_on = fields.Date(required=True, validate=IN_CALENDAR)

    @validates("posted_on")
    def not_in_the_future(self, value: date, **_kwargs) -> None:
        if value > datetime.now(UTC).date() + timedelta(days=1):  # a day's slack for timezones
            raise ValidationError("A letter cannot be posted in the future.")


class PrintRun(StrictSchema):
    letters = fields.List(fields.Str(validate=validate.Length(min=1, max=36)), required=True,
                          validate=validate.Length(min=1, max=200))


class PrintRunOut(Schema):
    community = fields.Str()
    marked = fields.Int()  # changed now; the others were printed already


class LetterOut(Schema):
    notification_id = fields.Str()
    community = fields.Str(allow_none=True)
    case_id = fields.Str()
    owner_id = fields.Str()
    template = fields.Str()
    locale = fields.Str()
    file_name = fields.Str()
    status = fields.Str()
    reason = fields.Str(allow_none=True)
    requested_at = fields.DateTime()
    printed_at = fields.DateTime(allow_none=True)
    printed_by = fields.Str(allow_none=True)
    posted_at = fields.DateTime(allow_none=True)
    posted_on = fields.Date(allow_none=True)
    tracking_number = fields.Str(allow_none=True)
    posted_by = fields.Str(allow_none=True)


class QueueOut(Schema):
    community = fields.Str()
    counts = fields.Dict(keys=fields.Str(), values=fields.Int())
    items = fields.List(fields.Nested(LetterOut))


def _engine():
    return current_app.extensions["notifier.db"]


def _shelf() -> LetterShelf:
    return LetterShelf(current_app.config["SETTINGS"].data_dir)


def _visible(row) -> bool:
    return row is not None and g.staff.can_see(row.community or "")


@blp.get("/print-queue/<community>")
@require_staff()
@blp.arguments(QueueFilter, location="query")
@blp.response(200, QueueOut)
def list_letters(args, community: str):
    """The community's letters, oldest first: waiting, printed, posted (and cancelled)."""
    if not g.staff.can_see(community):
        return error_response(404, "No such community.")
    with _engine().connect() as connection:
        rows = print_queue.listing(connection, community, args["status"], args["limit"])
        counts = print_queue.counts(connection, community)
    return {"community": community, "counts": counts, "items": [dict(r._mapping) for r in rows]}


@blp.get("/print-queue/<community>/batch")
@require_staff()
@blp.arguments(BatchFilter, location="query")
@blp.doc(responses={"200": {"description": "The letters' PDFs, numbered in queue order.",
                            "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}}}})
def download_batch(args, community: str):
    """The letters to print as one zip of PDFs (by default the oldest waiting ones), in queue order."""
    if not g.staff.can_see(community):
        return error_response(404, "No such community.")
    with _engine().connect() as connection:
        rows = print_queue.listing(connection, community, args["status"], args["limit"], args["ids"] or None)
    if not rows:
        return error_response(404, "No letters to print.")
    archive = print_queue.bundle(_shelf(), rows)
    name = f"letters-{community}-{datetime.now(UTC):%Y%m%d-%H%M%S}.zip"
    return send_file(io.BytesIO(archive), mimetype="application/zip", as_attachment=True, download_name=name)


@blp.get("/letters/<notification_id>/pdf")
@require_staff()
@blp.doc(responses={"200": {"description": "The letter as printed.",
                            "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}}})
def download_letter(notification_id: str):
    """One letter as it will be printed."""
    with _engine().connect() as connection:
        row = print_queue.find(connection, notification_id)
    if not _visible(row):
        return error_response(404, NOT_FOUND)
    path = print_queue.pdf_path(_shelf(), row)
    if not path.exists():
        return error_response(404, "The letter's file is missing.")
    # Read whole (a letter is a few tens of kB): no file handle outlives the request.
    return send_file(io.BytesIO(path.read_bytes()), mimetype="application/pdf", as_attachment=True,
                     download_name=row.file_name)


@blp.post("/letters/<notification_id>/printed")
@require_staff()
@blp.response(200, LetterOut)
def mark_printed(notification_id: str):
    """waiting -> printed (again: no change)."""
    return _mark(notification_id, lambda connection, now: print_queue.mark_printed(
        connection, notification_id, g.staff.sub, now))


@blp.post("/print-queue/<community>/printed")
@require_staff()
@blp.arguments(PrintRun)
@blp.response(200, PrintRunOut)
def mark_run_printed(run, community: str):
    """Mark a print run's letters printed at once: all of them, or none (409 if one is cancelled or posted)."""
    if not g.staff.can_see(community):
        return error_response(404, "No such community.")
    with _engine().begin() as connection:
        try:
            marked = print_queue.mark_all_printed(connection, community, run["letters"], g.staff.sub,
                                                  datetime.now(UTC))
        except print_queue.UnknownLetter as exc:
            return error_response(422, "Not a letter of this community's queue.", {"letters": [str(exc)]})
        except print_queue.IllegalTransition as exc:
            return error_response(409, str(exc))
    return {"community": community, "marked": marked}


@blp.post("/letters/<notification_id>/posted")
@require_staff()
@blp.arguments(Posting)
@blp.response(200, LetterOut)
def mark_posted(posting, notification_id: str):
    """waiting | printed -> posted with the evidence; cases hears of it once (message.sent, channel letter)."""
    return _mark(notification_id, lambda connection, now: print_queue.mark_posted(
        connection, notification_id, posting["tracking_number"], posting["posted_on"], g.staff.sub, now))


def _mark(notification_id: str, change):
    with _engine().begin() as connection:
        if not _visible(print_queue.find(connection, notification_id)):
            return error_response(404, NOT_FOUND)
        try:
            change(connection, datetime.now(UTC))
        except print_queue.UnknownLetter:
            return error_response(404, NOT_FOUND)
        except print_queue.IllegalTransition as exc:
            return error_response(409, str(exc))  # nothing was written
        return dict(print_queue.find(connection, notification_id)._mapping)
