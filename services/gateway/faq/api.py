"""Staff keep the FAQ (收费答客问) and try it out: /api/v1/faq."""
from __future__ import annotations

from flask import current_app, g, request
from flask_smorest import Blueprint, abort
from marshmallow import Schema, ValidationError, fields, pre_load, validate, validates_schema
from sqlalchemy import select

from services.gateway.faq import entries
from services.gateway.faq.matching import best_match
from services.gateway.faq.similarity import features
from services.gateway.intent.language import language_of, normalise
from services.gateway.tables import faq_entries
from shared.auth import require_staff
from shared.schemas import StrictSchema
from shared.web import error_response

blp = Blueprint("faq", __name__, url_prefix="/api/v1/faq", description="FAQ (收费答客问)")
EDITORS = ("manager",)  # the service centre's manager keeps the one FAQ (admins may too)
MAX_VARIANTS = 20


def _matchable(question: str) -> None:
    if not features(question):
        raise ValidationError("Say something a question can be matched by (not only punctuation or greetings).")


def _questions() -> fields.List:
    return fields.List(fields.Str(validate=[validate.Length(min=2, max=200), _matchable]), load_default=list,
                       validate=validate.Length(max=MAX_VARIANTS))


def _answer() -> fields.Str:
    return fields.Str(load_default=None, allow_none=True, validate=validate.Length(min=1, max=1000))


class FaqIn(StrictSchema):
    questions_zh = _questions()
    questions_en = _questions()
    answer_zh = _answer()
    answer_en = _answer()

    @pre_load
    def strip(self, data, **_kwargs):
        if not isinstance(data, dict):
            return data
        cleaned = dict(data)
        for name in ("questions_zh", "questions_en"):
            if isinstance(cleaned.get(name), list):
                cleaned[name] = [q.strip() if isinstance(q, str) else q for q in cleaned[name]]
        for name in ("answer_zh", "answer_en"):
            if isinstance(cleaned.get(name), str):
                cleaned[name] = cleaned[name].strip() or None
        return cleaned

    @validates_schema
    def complete(self, data, **_kwargs):
        if not data.get("questions_zh") and not data.get("questions_en"):
            raise ValidationError("Give at least one question variant.", "questions_zh")
        if not data.get("answer_zh") and not data.get("answer_en"):
            raise ValidationError("Give an answer in zh-CN or en (the other language falls back to it).",
                                  "answer_zh")


class FaqOut(Schema):
    id = fields.Str()
    questions_zh = fields.List(fields.Str())
    questions_en = fields.List(fields.Str())
    answer_zh = fields.Str(allow_none=True)
    answer_en = fields.Str(allow_none=True)
    updated_by = fields.Str()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class MatchIn(StrictSchema):
    text = fields.Str(required=True, validate=validate.Length(min=1, max=2000))


class MatchOut(Schema):
    entry = fields.Nested(FaqOut, allow_none=True)
    score = fields.Float()
    question = fields.Str(allow_none=True, metadata={"description": "the variant that matched best"})
    threshold = fields.Float()
    answered = fields.Bool(metadata={"description": "whether an owner sending this text gets the answer"})
    answer = fields.Str(allow_none=True, metadata={"description": "what would be sent, in the text's language"})
    locale = fields.Str(allow_none=True)


@blp.before_request
def bodies_are_json():
    if request.method in ("POST", "PUT") and request.content_length and not request.is_json:
        return error_response(415, "Send the body as application/json.")
    return None


def _engine():
    return current_app.extensions["gateway.db"]


def _changed() -> None:
    """This worker answers from the new FAQ at once; the others within FAQ_CACHE_SECONDS."""
    current_app.extensions["gateway.faq"].forget()


def _row_or_404(connection, entry_id: str):
    row = connection.execute(select(faq_entries).where(faq_entries.c.id == entry_id)).mappings().first()
    if row is None:
        abort(404, message="No such FAQ entry.")
    return row


@blp.get("")
@require_staff()
@blp.response(200, FaqOut(many=True))
def list_entries():
    """Every entry, oldest first."""
    with _engine().connect() as connection:
        return connection.execute(select(faq_entries).order_by(faq_entries.c.created_at, faq_entries.c.id)) \
            .mappings().all()


@blp.post("")
@require_staff(*EDITORS)
@blp.arguments(FaqIn)
@blp.response(201, FaqOut)
def add_entry(body):
    with _engine().begin() as connection:
        row = _row_or_404(connection, entries.add_entry(connection, body, g.staff.sub))
    _changed()
    return row


@blp.get("/<entry_id>")
@require_staff()
@blp.response(200, FaqOut)
def read_entry(entry_id: str):
    with _engine().connect() as connection:
        return _row_or_404(connection, entry_id)


@blp.put("/<entry_id>")
@require_staff(*EDITORS)
@blp.arguments(FaqIn)
@blp.response(200, FaqOut)
def replace_entry(body, entry_id: str):
    """Replace an entry's questions and answers."""
    with _engine().begin() as connection:
        if not entries.change_entry(connection, entry_id, body, g.staff.sub):
            abort(404, message="No such FAQ entry.")
        row = _row_or_404(connection, entry_id)
    _changed()
    return row


@blp.delete("/<entry_id>")
@require_staff(*EDITORS)
@blp.response(204)
def delete_entry(entry_id: str):
    with _engine().begin() as connection:
        if not entries.remove_entry(connection, entry_id):
            abort(404, message="No such FAQ entry.")
    _changed()


@blp.post("/match")
@require_staff()
@blp.arguments(MatchIn)
@blp.response(200, MatchOut)
def try_match(body):
    """How an owner's text would be matched: the best entry, its score and whether it is sent."""
    threshold = current_app.config["FAQ_MATCH_THRESHOLD"]
    with _engine().connect() as connection:
        match = best_match(body["text"], entries.all_entries(connection))
        row = _row_or_404(connection, match.entry.id) if match else None
    locale = language_of(normalise(body["text"]))
    answered = match is not None and match.score >= threshold
    answer, answer_locale = match.entry.answer_in(locale) if answered else (None, None)
    return {"entry": row, "score": match.score if match else 0.0, "question": match.question if match else None,
            "threshold": threshold, "answered": answered, "answer": answer, "locale": answer_locale}
