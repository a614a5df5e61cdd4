"""Campaigns: a higher cadence over chosen communities for a while, with progress against a target."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime

from flask import g
from flask_smorest import Blueprint, abort
from marshmallow import Schema, ValidationError, fields, validate, validates, validates_schema
from sqlalchemy import insert, select

from services.cases.api.common import engine, now
from services.cases.campaign import progress
from services.cases.tables import campaigns
from services.cases.tables import communities as community_table
from shared.auth import require_staff
from shared.schemas import IN_CALENDAR, StrictSchema

blp = Blueprint("campaigns", __name__, url_prefix="/api/v1/campaigns", description="Collection campaigns")


class CampaignIn(StrictSchema):
    name = fields.Str(required=True, validate=validate.Length(min=1, max=200))
    starts_on = fields.Date(required=True, validate=IN_CALENDAR)
    ends_on = fields.Date(required=True, validate=IN_CALENDAR)
    sends_per_day = fields.Int(required=True, validate=validate.Range(min=1, max=3))
    target_recovery_rate = fields.Decimal(required=True, places=4, validate=validate.Range(min=0, max=1))
    communities = fields.List(fields.Str(validate=validate.Length(min=1, max=64)), required=True,
                              validate=validate.Length(min=1, max=1000))

    @validates_schema
    def _period(self, data, **_):
        if data["ends_on"] < data["starts_on"]:
            raise ValidationError("ends before it starts", field_name="ends_on")
        if (data["ends_on"] - data["starts_on"]).days > 366:
            raise ValidationError("a campaign lasts at most a year", field_name="ends_on")

    @validates("communities")
    def _once_each(self, value, **_):
        if len(set(value)) != len(value):
            raise ValidationError("Name each community once.")


class CampaignProgressOut(Schema):
    recovered = fields.Decimal(as_string=True)
    outstanding = fields.Decimal(as_string=True)
    recovery_rate = fields.Decimal(as_string=True)
    target_recovery_rate = fields.Decimal(as_string=True)
    on_track = fields.Bool()
    days_elapsed = fields.Int()
    days_total = fields.Int()
    running = fields.Bool()


class CampaignOut(Schema):
    id = fields.Str()
    name = fields.Str()
    starts_on = fields.Date()
    ends_on = fields.Date()
    sends_per_day = fields.Int()
    target_recovery_rate = fields.Decimal(as_string=True)
    communities = fields.List(fields.Str())
    progress = fields.Nested(CampaignProgressOut)


def _visible(row) -> bool:
    return all(g.staff.can_see(c) for c in row.communities)


def _out(connection, row) -> dict:
    return {**row._asdict(), "progress": progress(connection, row, now().date())}


@blp.post("")
@require_staff("manager")
@blp.arguments(CampaignIn)
@blp.response(201, CampaignOut)
def start_campaign(body):
    """Plan a push: during it, open cases in these communities get reminders daily, several a day."""
    if not all(g.staff.can_see(c) for c in body["communities"]):
        abort(403, message="Not your community.")
    campaign_id = str(uuid.uuid4())
    with engine().begin() as connection:
        known = set(connection.execute(select(community_table.c.id)
                                       .where(community_table.c.id.in_(body["communities"]))).scalars())
        unknown = [c for c in body["communities"] if c not in known]
        if unknown:
            abort(422, message="Unknown community.", errors={"json": {"communities": [f"Unknown: {c}" for c in unknown]}})
        connection.execute(insert(campaigns).values(id=campaign_id, created_at=datetime.now(UTC), **body))
        return _out(connection, connection.execute(select(campaigns).where(campaigns.c.id == campaign_id)).one())


@blp.get("")
@require_staff()
@blp.response(200, CampaignOut(many=True))
def list_campaigns():
    with engine().connect() as connection:
        rows = connection.execute(select(campaigns).order_by(campaigns.c.starts_on.desc())).all()
        return [_out(connection, r) for r in rows if _visible(r)]


@blp.get("/<campaign_id>")
@require_staff()
@blp.response(200, CampaignOut)
def show_campaign(campaign_id: str):
    with engine().connect() as connection:
        row = connection.execute(select(campaigns).where(campaigns.c.id == campaign_id)).first()
        if row is None or not _visible(row):
            abort(404, message="No such campaign.")
        return _out(connection, row)
