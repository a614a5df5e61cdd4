"""What the managers' dashboard shows for one community, gathered from the reports in one pass."""
from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import Connection, func, select

from services.cases import reports
from services.cases.campaign import progress as campaign_progress
from services.cases.reports.figures import total
from services.cases.tables import campaigns, cases, owner_issues, owners, promises
from shared.auth import Staff

RANK_BOTTOM = 3  # the bottom N of the ranking ...
RANK_DAYS = 3  # ... this many days running is flagged
FUNNEL_DAYS = 30
BROKEN_PROMISE_DAYS = 7  # broken promises shown: those broken in the last week
LIST_LIMIT = 50  # rows of each list (breaches, promises, unreachable owners); totals are exact


def gather(connection: Connection, community: reports.Community, today: date, now: datetime,
           staff: Staff) -> dict:
    """Everything on the dashboard for `community` on its `today`, as `staff` may see it."""
    month_start = today.replace(day=1)
    book = reports.load_book(connection, community, min(month_start, today - timedelta(days=RANK_DAYS - 1)),
                             today)
    days = [month_start + timedelta(days=n) for n in range((today - month_start).days + 1)]
    month = [{"date": day, "recovered": reports.community_progress(book, day).recovered} for day in days]
    since = today - timedelta(days=FUNNEL_DAYS - 1)
    return {
        "community": {"id": community.id, "name": community.name, "locale": community.locale,
                      "timezone": community.timezone.key},
        "date": today,
        "today": reports.community_progress(book, today),
        "month": {"first": month_start, "recovered": total(d["recovered"] for d in month), "days": month},
        "campaigns": _campaigns(connection, community.id, today, staff),
        "ranking": {"bottom": RANK_BOTTOM, "days": RANK_DAYS, "collectors": _standings(book, today, staff)},
        "funnel": {"since": since, "until": today, "conversion_days": reports.CONVERSION_DAYS,
                   "stages": reports.funnel(connection, community, since, today, today)},
        "issues": _issues(connection, community, today, now),
        "promises": _promises(connection, community, today),
        "unreachable": _unreachable(connection, community.id),
    }


def _standings(book: reports.CollectionBook, today: date, staff: Staff) -> list[dict]:
    """The day's ranking; a collector sees their own row only, as in the ranking report."""
    rows = reports.ranking(book, today, RANK_BOTTOM, RANK_DAYS)
    if staff.role == "collector":
        rows = [s for s in rows if staff.sub in (s.collector.id, s.collector.username)]
    return [{"staff_id": s.collector.id, "name": s.collector.name, "rank": s.rank, "flagged": s.flagged,
             "days_at_bottom": s.days_at_bottom, **s.progress.__dict__} for s in rows]


def _campaigns(connection: Connection, community: str, today: date, staff: Staff) -> list[dict]:
    """Running campaigns over this community whose every community the caller works in."""
    rows = connection.execute(select(campaigns).where(campaigns.c.starts_on <= today, campaigns.c.ends_on >= today)
                              .order_by(campaigns.c.starts_on, campaigns.c.id)).all()
    return [{"id": r.id, "name": r.name, "starts_on": r.starts_on, "ends_on": r.ends_on,
             "progress": campaign_progress(connection, r, today)}
            for r in rows if community in r.communities and all(staff.can_see(c) for c in r.communities)]


def _issues(connection: Connection, community: reports.Community, today: date, now: datetime) -> dict:
    """Open issues by category (as the periodic report counts them), and the open ones past their deadline."""
    counts = reports.issues_by_category(connection, community, reports.Period(today, today))
    issue = owner_issues.c
    late = (issue.community == community.id, issue.status != "resolved", issue.deadline_at < now)
    breached_by_category = dict(connection.execute(
        select(issue.category, func.count()).where(*late).group_by(issue.category)).all())
    breached = connection.execute(
        select(issue.id, issue.case_id, issue.category, issue.assignee_id, issue.deadline_at, issue.status)
        .where(*late).order_by(issue.deadline_at, issue.id).limit(LIST_LIMIT)).mappings().all()
    return {
        "by_category": [{"category": c.category, "open": c.open_at_end,
                         "breached": breached_by_category.get(c.category, 0)} for c in counts],
        "open": sum(c.open_at_end for c in counts),
        "breached_total": sum(breached_by_category.values()),
        "breached": [dict(row) for row in breached],
    }


def _promises(connection: Connection, community: reports.Community, today: date) -> dict:
    due = (cases.c.community == community.id, promises.c.status == "open", promises.c.promised_date == today)
    rows = connection.execute(
        select(promises.c.id.label("promise_id"), promises.c.case_id, promises.c.promised_date,
               func.coalesce(promises.c.amount, promises.c.owed_when_made).label("amount"))
        .join(cases, cases.c.id == promises.c.case_id).where(*due)
        .order_by(promises.c.case_id).limit(LIST_LIMIT)).mappings().all()
    broken = reports.broken_promises(connection, community,
                                     reports.period_ending(today, BROKEN_PROMISE_DAYS))
    return {"due_today": [dict(r) for r in rows],
            "due_today_total": connection.execute(
                select(func.count()).select_from(promises.join(cases, cases.c.id == promises.c.case_id))
                .where(*due)).scalar_one(),
            "broken_days": BROKEN_PROMISE_DAYS, "broken": broken[:LIST_LIMIT], "broken_total": len(broken)}


def _unreachable(connection: Connection, community: str) -> dict:
    """Owners no contact reaches any more, with what their open case owes."""
    where = (owners.c.community == community, owners.c.contact_status == "unreachable")
    rows = connection.execute(
        select(owners.c.id.label("owner_id"), owners.c.name, cases.c.id.label("case_id"), cases.c.amount_owed)
        .outerjoin(cases, (cases.c.owner_id == owners.c.id) & (cases.c.status == "open"))
        .where(*where).order_by(owners.c.name, owners.c.id).limit(LIST_LIMIT)).mappings().all()
    count = connection.execute(select(func.count()).select_from(owners).where(*where)).scalar_one()
    return {"total": count, "owners": [dict(r) for r in rows]}
