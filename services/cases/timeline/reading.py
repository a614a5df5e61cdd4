"""Reading a case's timeline from the tables that record each kind of event."""
from __future__ import annotations

from sqlalchemy import Connection, or_, select

from services.cases.tables import (
    case_assignments,
    case_message_statuses,
    case_messages,
    case_notes,
    cases,
    collection_groups,
    communities,
    issue_history,
    owner_contacts,
    owner_issues,
    owner_replies,
    owners,
    payments,
    promises,
    staff,
    staff_tasks,
    stage_moves,
    units,
)
from services.cases.timeline.record import CaseRecord, CommunityClock, Entry, plain


def _rows(connection: Connection, query) -> list:
    return connection.execute(query).all()


def _opened_and_closed(clock: CommunityClock, case, first_stage) -> list[Entry]:
    found = [clock.timed(case.opened_at, "case_opened", opened_by=case.opened_by,
                         stage=first_stage.stage if first_stage else None)]
    if case.closed_at is not None:
        found.append(clock.timed(case.closed_at, "case_closed", reason=case.closed_reason))
    return found


def _stage_moves(clock: CommunityClock, moves) -> list[Entry]:
    # Entering the first stage is part of opening the case.
    return [clock.dated(m.entered_on, "stage_entered", stage=m.stage, reason=m.reason)
            for m in moves if m.reason != "opened"]


def _messages(connection: Connection, clock: CommunityClock, case_id: str) -> list[Entry]:
    m, h = case_messages.c, case_message_statuses.c
    history: dict[tuple[str, str], list[dict]] = {}
    for row in _rows(connection, select(h.notification_id, h.channel, h.status, h.error_code, h.occurred_at)
                     .join(case_messages, (m.notification_id == h.notification_id) & (m.channel == h.channel))
                     .where(m.case_id == case_id).order_by(h.occurred_at, h.id)):
        history.setdefault((row.notification_id, row.channel), []).append(
            {"status": row.status, "at": row.occurred_at.astimezone(clock.zone), "error_code": row.error_code})
    return [clock.timed(row.updated_at, "message", channel=row.channel, address=row.address,
                        status=row.status, error_code=row.error_code, provider=row.provider,
                        provider_message_id=row.provider_message_id, notification_id=row.notification_id,
                        history=history.get((row.notification_id, row.channel), []))
            for row in _rows(connection, select(case_messages).where(m.case_id == case_id))]


def _replies(connection: Connection, clock: CommunityClock, case_id: str) -> list[Entry]:
    return [clock.timed(row.received_at, "reply", channel=row.channel, body=row.body, intent=row.intent)
            for row in _rows(connection, select(owner_replies).where(owner_replies.c.case_id == case_id))]


def _promises(connection: Connection, clock: CommunityClock, case_id: str) -> list[Entry]:
    found = []
    for row in _rows(connection, select(promises).where(promises.c.case_id == case_id)):
        found.append(clock.timed(row.created_at, "promise_made", promised_date=row.promised_date,
                                 amount=row.amount, owed=row.owed_when_made, source=row.source))
        if row.resolved_on is not None:
            found.append(clock.dated(row.resolved_on, "promise_resolved", status=row.status,
                                     promised_date=row.promised_date))
    return found


def _issues(connection: Connection, clock: CommunityClock, case_id: str) -> list[Entry]:
    rows = _rows(connection, select(owner_issues, issue_history.c.status.label("step"), issue_history.c.actor,
                                    issue_history.c.note, issue_history.c.at)
                 .join(issue_history, issue_history.c.issue_id == owner_issues.c.id)
                 .where(owner_issues.c.case_id == case_id).order_by(issue_history.c.id))
    seen: set[str] = set()
    found = []
    for row in rows:
        first = row.id not in seen
        seen.add(row.id)
        extra = {"description": row.description, "deadline_at": row.deadline_at, "source": row.source} \
            if first else {}
        found.append(clock.timed(row.at, "issue", issue_id=row.id, category=row.category, status=row.step,
                                 actor=row.actor, note=row.note, **extra))
    return found


def _payments(connection: Connection, clock: CommunityClock, case_id: str) -> list[Entry]:
    rows = _rows(connection, select(payments, units.c.building, units.c.number)
                 .join(units, units.c.id == payments.c.unit_id).where(payments.c.case_id == case_id))
    return [clock.dated(row.paid_on, "payment", amount=row.amount, receipt=row.external_ref, source=row.source,
                        unit=f"{row.building}-{row.number}") for row in rows]


def _assignments(connection: Connection, clock: CommunityClock, case_id: str) -> list[Entry]:
    rows = _rows(connection, select(case_assignments, staff.c.name.label("staff_name"),
                                    collection_groups.c.name.label("group_name"))
                 .outerjoin(staff, staff.c.id == case_assignments.c.staff_id)
                 .outerjoin(collection_groups, collection_groups.c.id == case_assignments.c.group_id)
                 .where(case_assignments.c.case_id == case_id))
    return [clock.timed(row.assigned_at, "assigned", staff=row.staff_name, group=row.group_name,
                        reason=row.reason, owed=row.amount_owed_at_assignment, assigned_by=row.assigned_by,
                        ended_at=row.ended_at) for row in rows]


def _notes(connection: Connection, clock: CommunityClock, case_id: str) -> list[Entry]:
    return [clock.timed(row.at, "note", kind=row.kind, detail=row.detail, actor=row.actor)
            for row in _rows(connection, select(case_notes).where(case_notes.c.case_id == case_id))]


def _tasks(connection: Connection, clock: CommunityClock, case_id: str) -> list[Entry]:
    return [clock.timed(row.created_at, "staff_task", task=row.kind, status=row.status, done_at=row.done_at)
            for row in _rows(connection, select(staff_tasks).where(staff_tasks.c.case_id == case_id))]


def case_timeline(connection: Connection, case_id: str) -> CaseRecord | None:
    """The case, its owner and every event about it, oldest first."""
    case = connection.execute(select(cases).where(cases.c.id == case_id)).first()
    if case is None:
        return None
    community = connection.execute(select(communities.c.id, communities.c.name, communities.c.timezone)
                                   .where(communities.c.id == case.community)).one()
    clock = CommunityClock(community.timezone)
    moves = _rows(connection, select(stage_moves).where(stage_moves.c.case_id == case_id)
                  .order_by(stage_moves.c.entered_on))
    entries = [*_opened_and_closed(clock, case, moves[0] if moves else None), *_stage_moves(clock, moves)]
    for source in (_messages, _replies, _promises, _issues, _payments, _assignments, _notes, _tasks):
        entries.extend(source(connection, clock, case_id))
    owner = connection.execute(select(owners).where(owners.c.id == case.owner_id)).mappings().one()
    return CaseRecord(
        case=plain(dict(case._mapping)), owner=plain(dict(owner)),
        contacts=[plain(dict(r._mapping)) for r in _rows(connection, select(
            owner_contacts.c.channel, owner_contacts.c.address, owner_contacts.c.status)
            .where(owner_contacts.c.owner_id == case.owner_id).order_by(owner_contacts.c.channel))],
        units=[dict(r._mapping) for r in _rows(connection, select(units.c.building, units.c.number).where(
            units.c.owner_id == case.owner_id, units.c.community == case.community)
            .order_by(units.c.building, units.c.number))],
        community=plain(dict(community._mapping)),
        entries=sorted(entries, key=Entry.sort_key),
    )


def staff_names(connection: Connection, actors: set[str]) -> dict[str, str]:
    """Staff names for the ids or usernames that appear as actors."""
    rows = _rows(connection, select(staff.c.id, staff.c.username, staff.c.name)
                 .where(or_(staff.c.id.in_(sorted(actors)), staff.c.username.in_(sorted(actors)))))
    return {key: row.name for row in rows for key in (row.id, row.username)}
