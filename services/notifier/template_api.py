"""A community's own wording: read it, and save it only once it renders and fits.

`PUT /api/v1/templates/<community>/<template>/<channel>/<locale>` (manager) with `{"body": ...}`
for an SMS or `{"subject": ..., "body": ...}` for an email; `GET` shows what is in force.
"""
from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, current_app, g, jsonify, request
from marshmallow import fields, validate

from services.notifier import templates
from services.notifier.segments import measure
from services.notifier.templates.overrides import find, save
from shared.auth import require_staff
from shared.schemas import StrictSchema
from shared.web import error_response

template_overrides_api = Blueprint("template_overrides", __name__, url_prefix="/api/v1/templates")
PATH = "/<community>/<template>/<channel>/<locale>"
COMMUNITY_ID_LENGTH = 64


class WordingBody(StrictSchema):
    subject = fields.Str(load_default=None, allow_none=True, validate=validate.Length(max=200))
    body = fields.Str(required=True, validate=validate.Length(min=1, max=5000))


def _refused(community: str, template: str, channel: str, locale: str):
    """The error response for a path we do not serve, or None."""
    if len(community) > COMMUNITY_ID_LENGTH:  # no community has such an id (and it would not fit its column)
        return error_response(404, f"No community has an id longer than {COMMUNITY_ID_LENGTH} characters.")
    if template not in templates.TEMPLATES or channel not in templates.CHANNELS or locale not in templates.LOCALES:
        return error_response(404, "No such template, channel or language.", {
            "template": list(templates.TEMPLATES), "channel": list(templates.CHANNELS),
            "locale": list(templates.LOCALES)})
    if not g.staff.can_see(community):
        return error_response(403, "You do not look after this community.")
    return None


def _shown(community: str, template: str, channel: str, locale: str, wording: templates.Wording, source: str):
    shown = {"community": community, "template": template, "channel": channel, "locale": locale,
             "source": source, "subject": wording.subject, "body": wording.body}
    if channel == "sms":
        length = measure(templates.with_opt_out_hint(templates.render_text(
            wording.body, templates.rendering.SAMPLE[locale]), locale))
        shown["sample_length"] = {"encoding": length.encoding, "units": length.units, "segments": length.segments}
    return jsonify(shown)


@template_overrides_api.get(PATH)
@require_staff()
def show_wording(community: str, template: str, channel: str, locale: str):
    """The wording in force for this community: its own, or the default."""
    refused = _refused(community, template, channel, locale)
    if refused:
        return refused
    with current_app.extensions["notifier.db"].connect() as connection:
        own = find(connection, community, template, channel, locale)
    wording = own or templates.default_wording(template, channel, locale)
    return _shown(community, template, channel, locale, wording, "community" if own else "default")


@template_overrides_api.put(PATH)
@require_staff("manager")
def save_wording(community: str, template: str, channel: str, locale: str):
    refused = _refused(community, template, channel, locale)
    if refused:
        return refused
    loaded = WordingBody().load(request.get_json(silent=True) or {})
    wording = templates.Wording(loaded["body"], loaded["subject"])
    limit = current_app.config.get("SMS_MAX_SEGMENTS") or templates.sms_segment_limit()
    errors = templates.check_wording(channel, locale, wording, int(limit))
    if errors:
        return error_response(422, "The wording cannot be sent as it is.", errors)
    with current_app.extensions["notifier.db"].begin() as connection:
        save(connection, community, template, channel, locale, wording, g.staff.sub, datetime.now(UTC))
    return _shown(community, template, channel, locale, wording, "community")
