"""Communities: their timezone, language, send windows, quiet hours, holidays and ladder."""
from __future__ import annotations

from datetime import UTC, datetime
from functools import cache

from flask_smorest import Blueprint, abort
from marshmallow import Schema, ValidationError, fields, validate, validates_schema
from sqlalchemy import insert, select, update

from services.cases.api.common import engine, require_community, visible_communities
from services.cases.ladder import ANCHORS, CHANNELS, STAGES, LadderError, ladder_for
from services.cases.tables import communities, outbox
from shared.auth import require_staff
from shared.envelope import new_event
from shared.events import LOCALES
from shared.outbox import add_to_outbox
from shared.schemas import JsonBool, StrictSchema, known_timezone

blp = Blueprint("communities", __name__, url_prefix="/api/v1/communities", description="Communities")
CALENDAR = ("timezone", "locale", "send_windows", "quiet_start", "quiet_end", "holiday_calendar", "skip_weekends")
CLOCK = validate.Regexp(r"^([01]\d|2[0-3]):[0-5]\d$", error="Use HH:MM, 24-hour.")


class StageIn(StrictSchema):
    """A community's change to one stage of the default ladder; what it leaves out stays as it is."""
    offset_days = fields.Int(strict=True, validate=validate.Range(min=0, max=3650))
    anchor = fields.Str(validate=validate.OneOf(ANCHORS))
    channels = fields.List(fields.Str(validate=validate.OneOf(CHANNELS)), validate=validate.Length(max=len(CHANNELS)))
    template = fields.Str(validate=validate.Length(min=1, max=64))
    repeat_every_days = fields.Int(strict=True, validate=validate.Range(min=0, max=365))
    sends_per_day = fields.Int(strict=True, validate=validate.Range(min=0, max=6))
    needs_approval = JsonBool()


@cache
def _holiday_calendars() -> frozenset[str]:
    import holidays  # the notifier's calendar source; imported on first use (it is large)

    return frozenset(holidays.list_supported_countries())


def _holiday_calendar(value: str | None) -> None:
    if value is not None and value not in _holiday_calendars():
        raise ValidationError("Not a country whose public holidays are known (ISO 3166 code, e.g. CN).")


class CommunityIn(StrictSchema):
    name = fields.Str(required=True, validate=validate.Length(min=1, max=200))
    timezone = fields.Str(load_default="Asia/Shanghai", validate=known_timezone)
    locale = fields.Str(load_default="zh-CN", validate=validate.OneOf(LOCALES))
    send_windows = fields.List(fields.Str(validate=CLOCK), load_default=lambda: ["09:30", "14:00", "19:30"],
                               validate=validate.Length(min=1, max=6))
    quiet_start = fields.Str(load_default="21:00", validate=CLOCK)
    quiet_end = fields.Str(load_default="08:00", validate=CLOCK)
    holiday_calendar = fields.Str(load_default="CN", allow_none=True,
                                  validate=[validate.Length(equal=2), _holiday_calendar])
    skip_weekends = JsonBool(load_default=False)
    ladder = fields.Dict(keys=fields.Str(validate=validate.OneOf(STAGES)), values=fields.Nested(StageIn),
                         load_default=None, allow_none=True)

    @validates_schema
    def _ladder(self, data, **_):
        try:
            ladder_for(data.get("ladder"))
        except LadderError as exc:
            raise ValidationError(str(exc), field_name="ladder") from exc


class CommunityOut(Schema):
    id = fields.Str()
    name = fields.Str()
    timezone = fields.Str()
    locale = fields.Str()
    send_windows = fields.List(fields.Str())
    quiet_start = fields.Str()
    quiet_end = fields.Str()
    holiday_calendar = fields.Str(allow_none=True)
    skip_weekends = fields.Bool()
    ladder = fields.Dict(allow_none=True)


@blp.put("/<community_id>")
@require_staff("manager")
@blp.arguments(CommunityIn)
@blp.response(200, CommunityOut)
def put_community(body, community_id: str):
    """Create or replace a community's settings."""
    if len(community_id) > 64 or not community_id.replace("-", "").replace("_", "").isalnum():
        abort(422, message="Community ids are letters, digits, - and _ (at most 64).")
    require_community(community_id, missing_status=403)
    now = datetime.now(UTC)
    with engine().begin() as connection:
        exists = connection.execute(select(communities.c.id).where(communities.c.id == community_id)).first()
        if exists:
            connection.execute(update(communities).where(communities.c.id == community_id)
                               .values(**body, updated_at=now))
        else:
            connection.execute(insert(communities).values(id=community_id, **body, created_at=now, updated_at=now))
        # The notifier keeps its own copy of the calendar it must respect when sending.
        add_to_outbox(connection, outbox, new_event("community.configured", {
            "community": community_id, **{k: body[k] for k in CALENDAR}}))
        return connection.execute(select(communities).where(communities.c.id == community_id)).mappings().one()


@blp.get("")
@require_staff()
@blp.response(200, CommunityOut(many=True))
def list_communities():
    visible = visible_communities()
    query = select(communities).order_by(communities.c.id)
    if visible is not None:
        query = query.where(communities.c.id.in_(visible))
    with engine().connect() as connection:
        return connection.execute(query).mappings().all()


@blp.get("/<community_id>")
@require_staff()
@blp.response(200, CommunityOut)
def show_community(community_id: str):
    require_community(community_id)
    with engine().connect() as connection:
        row = connection.execute(select(communities).where(communities.c.id == community_id)).mappings().first()
    if row is None:
        abort(404, message="No such community.")
    return row
