"""The daily sweep: move every open case to the stage it is due for, and ask for today's reminders.

Runs per community, on the community's own calendar day. Each batch of cases is decided in
Python (services/cases/ladder.py) and written in one transaction with its events, so a crash
loses nothing and a second run on the same day finds nothing left to do.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Connection,
    Engine,
    func,
    or_,
    select,
    update,
)

from services.cases import bulk, ladder
from services.cases.reminders import reminder_requests
from services.cases.tables import (
    campaigns,
    cases,
    communities,
    outbox,
    owner_contacts,
    owner_issues,
    owners,
    promises,
)
from shared.envelope import Envelope, trusted_event
from shared.logs import bind_correlation_id, reset_correlation_id
from shared.outbox import add_to_outbox

log = logging.getLogger(__name__)
BATCH = 1000


@dataclass
class SweepReport:
    cases_seen: int = 0
    moved: int = 0
    approvals_requested: int = 0
    promises_broken: int = 0
    reminders: int = 0
    communities: list[str] = field(default_factory=list)


def community_today(timezone: str, now: datetime) -> date:
    return now.astimezone(ZoneInfo(timezone)).date()


def sweep(engine: Engine, now: datetime | None = None, only: list[str] | None = None) -> SweepReport:
    """Sweep every community (or `only` these) as of `now`."""
    now = now or datetime.now(UTC)
    report = SweepReport()
    with engine.connect() as connection:
        rows = connection.execute(select(communities.c.id, communities.c.timezone, communities.c.ladder)).all()
    for community in rows:
        if only is not None and community.id not in only:
            continue
        today = community_today(community.timezone, now)
        steps = ladder.ladder_for(community.ladder)
        boost = _campaign_sends(engine, community.id, today)
        # Every event of one community's sweep shares a correlation id naming the run.
        token = bind_correlation_id(f"sweep:{community.id}:{today.isoformat()}")
        try:
            _sweep_community(engine, community.id, steps, today, boost, report)
        finally:
            reset_correlation_id(token)
        report.communities.append(community.id)
    log.info("sweep finished", extra={k: v for k, v in report.__dict__.items() if k != "communities"})
    return report


def _campaign_sends(engine: Engine, community: str, today: date) -> int:
    with engine.connect() as connection:
        running = connection.execute(
            select(campaigns.c.sends_per_day, campaigns.c.communities)
            .where(campaigns.c.starts_on <= today, campaigns.c.ends_on >= today)
        ).all()
    return max((r.sends_per_day for r in running if community in r.communities), default=0)


def _sweep_community(engine, community: str, steps, today: date, boost: int, report: SweepReport) -> None:
    after = ""
    while True:
        with engine.begin() as connection:
            batch = _pending(connection, community, today, after)
            if not batch:
                return
            _apply(connection, community, steps, today, boost, batch, report)
        after = batch[-1].id


def _pending(connection: Connection, community: str, today: date, after: str) -> list:
    # At most one promise per case is open: a new promise replaces the one before it.
    open_promise = (
        select(promises.c.case_id, promises.c.id.label("promise_id"),
               promises.c.promised_date.label("promise_date"))
        .where(promises.c.status == "open").subquery()
    )
    open_issue = (
        select(owner_issues.c.case_id, func.count().label("issues"))
        .where(owner_issues.c.status != "resolved").group_by(owner_issues.c.case_id).subquery()
    )
    return connection.execute(
        select(
            _first_contact("sms").label("phone"), _first_contact("email").label("email"),
            cases.c.id, cases.c.owner_id, cases.c.stage, cases.c.stage_entered_on, cases.c.due_date,
            cases.c.paused_until, cases.c.awaiting_approval, cases.c.approved_stage, cases.c.amount_owed,
            owners.c.key_owner, owners.c.name, owners.c.locale,
            open_promise.c.promise_id, open_promise.c.promise_date, open_issue.c.issues,
        )
        .join(owners, owners.c.id == cases.c.owner_id)
        .outerjoin(open_promise, open_promise.c.case_id == cases.c.id)
        .outerjoin(open_issue, open_issue.c.case_id == cases.c.id)
        .where(
            cases.c.community == community, cases.c.status == "open", cases.c.id > after,
            or_(cases.c.last_swept_on.is_(None), cases.c.last_swept_on < today),
        )
        .order_by(cases.c.id).limit(BATCH)
    ).all()


def _first_contact(channel: str):
    """The owner's first working phone or email, looked up by primary key per row."""
    return (
        select(owner_contacts.c.address)
        .where(owner_contacts.c.owner_id == cases.c.owner_id, owner_contacts.c.channel == channel,
               owner_contacts.c.status == "ok")
        .order_by(owner_contacts.c.address).limit(1).scalar_subquery()
    )


def _contacts(row) -> dict[str, str]:
    return {channel: address for channel, address in (("sms", row.phone), ("email", row.email)) if address}


def _apply(connection, community, steps, today, boost, batch, report: SweepReport) -> None:
    case_updates, moves, broken, events, owner_penalties = [], [], [], [], []
    for row in batch:
        state = ladder.CaseState(
            stage=row.stage, stage_entered_on=row.stage_entered_on, due_date=row.due_date,
            key_owner=row.key_owner, open_promise_date=row.promise_date,
            has_open_issue=bool(row.issues), paused_until=row.paused_until,
            awaiting_approval=row.awaiting_approval, approved_stage=row.approved_stage,
        )
        decision = ladder.decide(state, steps, today, boost)
        change = {"b_id": row.id, "b_stage": row.stage, "b_entered": row.stage_entered_on,
                  "b_awaiting": row.awaiting_approval}
        if decision.promise_broken:
            broken.append(row.promise_id)
            events.append(_promise_event("promise.broken", row))
        reminders = reminder_requests(
            case_id=row.id, community=community, owner_id=row.owner_id, name=row.name,
            locale=row.locale, contacts=_contacts(row),
            stage=decision.move_to or row.stage, template=decision.template or row.stage,
            channels=decision.channels, sends=decision.sends, amount_owed=row.amount_owed, today=today,
        )
        report.reminders += len(reminders)
        if decision.move_to:
            change.update(b_stage=decision.move_to, b_entered=today, b_awaiting=None, changed=True)
            moves.append({"case_id": row.id, "stage": decision.move_to, "entered_on": today,
                          "reason": decision.reason})
            notice = reminders.pop(0).payload if reminders else None
            events.append(trusted_event("case.escalated", {
                "case_id": row.id, "owner_id": row.owner_id, "community": community,
                "from_stage": row.stage, "to_stage": decision.move_to, "reason": decision.reason,
                "entered_on": today, "notice": notice,
            }))
        if decision.request_approval:
            change.update(b_awaiting=decision.request_approval, changed=True)
            events.append(trusted_event("approval.requested", {
                "case_id": row.id, "community": community, "stage": decision.request_approval,
                "key_owner": row.key_owner,
            }))
            report.approvals_requested += 1
        events.extend(reminders)
        case_updates.append(change)
        if decision.promise_broken:
            owner_penalties.append(row.owner_id)
    _write(connection, today, case_updates, moves, broken, events)
    for owner_id in owner_penalties:  # counted against the owner, as the seed asks
        connection.execute(update(owners).where(owners.c.id == owner_id)
                           .values(broken_promises=owners.c.broken_promises + 1))
    report.cases_seen += len(batch)
    report.moved += len(moves)
    report.promises_broken += len(broken)


def _promise_event(type_: str, row) -> Envelope:
    return trusted_event(type_, {"promise_id": row.promise_id, "case_id": row.id, "owner_id": row.owner_id,
                             "promised_date": row.promise_date})


def _write(connection: Connection, today: date, case_updates, moves, broken, events) -> None:
    # One new row version per case: changed cases get everything in one UPDATE each,
    # the rest only their sweep date in one statement.
    changed = [c for c in case_updates if c.get("changed")]
    untouched = [c["b_id"] for c in case_updates if not c.get("changed")]
    if untouched:
        connection.execute(update(cases).where(cases.c.id.in_(untouched)).values(last_swept_on=today))
    bulk.update_stages(connection, changed, today)
    bulk.insert_stage_moves(connection, moves)
    if broken:
        connection.execute(
            update(promises).where(promises.c.id.in_(broken)).values(status="broken", resolved_on=today)
        )
    add_to_outbox(connection, outbox, *events)
