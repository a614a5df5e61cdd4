"""Owner issues (complaints): fix what the owner raised, fast, with a deadline per category.

An open issue pauses its case; a missed deadline goes to the supervisor; resolving it tells the
owner and resumes the ladder after a few days' grace (物业解决问题不要拖).
"""
from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Connection, insert, select, update

from services.cases.contacts import usable_contacts
from services.cases.ladder import RESUME_GRACE_DAYS
from services.cases.reminders import reminder_requests
from services.cases.tables import cases, issue_history, outbox, owner_issues, owners
from shared.envelope import new_event
from shared.events import ISSUE_CATEGORIES
from shared.outbox import add_to_outbox

# Hours to resolve, per category: leaks, lifts and security cannot wait; greenery can.
RESOLUTION_HOURS = {
    "leaks": 24, "lifts": 24, "security": 24, "cleaning": 48, "noise": 48, "service_attitude": 48,
    "repairs": 72, "parking": 72, "other": 72, "billing_dispute": 120, "greenery": 168,
}
assert set(RESOLUTION_HOURS) == set(ISSUE_CATEGORIES)
STATUSES = ("open", "in_progress", "resolved")


class IssueRefused(ValueError):
    pass


def _event(type_: str, issue) -> object:
    return new_event(type_, {
        "issue_id": issue.id, "case_id": issue.case_id, "owner_id": issue.owner_id,
        "community": issue.community, "category": issue.category, "deadline_at": issue.deadline_at,
        "assignee_id": issue.assignee_id,
    })


def open_issue(connection: Connection, *, owner_id: str, community: str, case_id: str | None,
               category: str, description: str, source: str, actor: str,
               assignee_id: str | None = None, now: datetime | None = None) -> str:
    if category not in RESOLUTION_HOURS:
        raise IssueRefused(f"unknown category {category!r}")
    now = now or datetime.now(UTC)
    issue_id = str(uuid.uuid4())
    values = dict(
        id=issue_id, case_id=case_id, owner_id=owner_id, community=community, category=category,
        description=description, source=source, assignee_id=assignee_id, status="open",
        deadline_at=now + timedelta(hours=RESOLUTION_HOURS[category]), created_at=now,
    )
    connection.execute(insert(owner_issues).values(**values))
    _history(connection, issue_id, "open", actor, None, now)
    add_to_outbox(connection, outbox, _event("issue.opened", _row(connection, issue_id)))
    return issue_id


def change_status(connection: Connection, issue_id: str, status: str, actor: str, note: str | None,
                  today: date, now: datetime | None = None) -> None:
    if status not in STATUSES:
        raise IssueRefused(f"status must be one of {STATUSES}")
    issue = _row(connection, issue_id)
    if issue.status == "resolved":
        raise IssueRefused("the issue is already resolved")
    now = now or datetime.now(UTC)
    values = {"status": status}
    if status == "resolved":
        values.update(resolved_at=now, resolution=note)
    connection.execute(update(owner_issues).where(owner_issues.c.id == issue_id).values(**values))
    _history(connection, issue_id, status, actor, note, now)
    if status == "resolved":
        if issue.case_id is not None:
            # Give the owner a few days after the fix before reminders resume.
            connection.execute(update(cases).where(cases.c.id == issue.case_id)
                               .values(paused_until=today + timedelta(days=RESUME_GRACE_DAYS)))
        add_to_outbox(connection, outbox, _event("issue.resolved", _row(connection, issue_id)),
                      *_tell_owner(connection, issue, today))


def _tell_owner(connection: Connection, issue, today: date) -> list:
    """Ask the notifier to tell the owner their problem is fixed (by text and email)."""
    owner = connection.execute(select(owners.c.name, owners.c.locale).where(owners.c.id == issue.owner_id)).one()
    case = connection.execute(select(cases.c.id, cases.c.stage, cases.c.amount_owed)
                              .where(cases.c.id == issue.case_id)).first() if issue.case_id else None
    if case is None:
        return []
    return reminder_requests(
        case_id=case.id, community=issue.community, owner_id=issue.owner_id, name=owner.name,
        locale=owner.locale, contacts=usable_contacts(connection, [issue.owner_id]).get(issue.owner_id, {}),
        stage=case.stage, template="issue_resolved", channels=("sms", "email"), sends=1,
        amount_owed=case.amount_owed, today=today,
    )


def mark_breaches(connection: Connection, now: datetime, supervisor_for) -> int:
    """Escalate every unresolved issue past its deadline to the supervisor; return how many."""
    late = connection.execute(
        select(owner_issues).where(owner_issues.c.status != "resolved",
                                   owner_issues.c.breached_at.is_(None),
                                   owner_issues.c.deadline_at < now)
    ).all()
    for issue in late:
        supervisor = supervisor_for(connection, issue.community)
        connection.execute(update(owner_issues).where(owner_issues.c.id == issue.id)
                           .values(breached_at=now, assignee_id=supervisor or issue.assignee_id))
        _history(connection, issue.id, issue.status, "system", "deadline breached: escalated", now)
        add_to_outbox(connection, outbox, _event("issue.breached", _row(connection, issue.id)))
    return len(late)


def _row(connection: Connection, issue_id: str):
    row = connection.execute(select(owner_issues).where(owner_issues.c.id == issue_id)).first()
    if row is None:
        raise IssueRefused("no such issue")
    return row


def _history(connection, issue_id, status, actor, note, now) -> None:
    connection.execute(insert(issue_history).values(issue_id=issue_id, status=status, actor=actor,
                                                    note=note, at=now))
