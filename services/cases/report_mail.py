"""Emailing the 3-day report and the daily progress summary to a community's managers.

Who gets it: the community's active managers who have an email on their staff record (admins are
not included: they reach every community, and get reports through '*' if they want them), then
CASES_REPORT_RECIPIENTS for that community and for '*'; each address once, compared without regard
to case, at most MAX_RECIPIENTS (what one event carries). Recipients are read when the report is
published, so a manager added, deactivated or moved today gets (or stops getting) tonight's report.

cases renders each report (services.cases.dashboard.report_email) and publishes it as
`staff_report.requested` through its outbox; the notifier sends it on the staff channel, outside
the owners' governor. The worker's clock sends the daily summary once a day at
CASES_DAILY_REPORT_AT (the community's local time) and the 3-day report on the last day of each
3-day period. Each scheduled report's event id is derived from (kind, community, period), so a
tick after a restart, or a second worker, finds it already in the outbox and sends nothing more;
a copy relayed twice is absorbed by the notifier's inbox, which keys on the same id.
"""
from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Connection, Engine, select
from sqlalchemy.exc import IntegrityError

from services.cases import reports
from services.cases.config import MAX_RECIPIENTS, ReportMail, deduplicated
from services.cases.dashboard import report_email
from services.cases.dashboard.overview import gather
from services.cases.people.staff_accounts import manager_emails
from services.cases.tables import communities, outbox
from shared.auth import Staff
from shared.envelope import Envelope, new_event
from shared.outbox import add_to_outbox

log = logging.getLogger(__name__)
KINDS = ("three_day", "daily_progress")
THREE_DAYS = 3
# Fixed, so the same (kind, community, period) always names the same event.
REPORT_NAMESPACE = uuid.UUID("6f3f1c52-6b8e-4d0e-9a51-3d2b7c0e8a11")
# 3-day periods are counted from this Monday, so every community's periods line up.
PERIODS_FROM = date(2024, 1, 1)


class NobodyToTell(LookupError):
    """Nobody is set to receive this community's reports: no manager with an email, no setting."""


@dataclass(frozen=True)
class SentReport:
    report_id: str
    kind: str
    subject: str
    recipients: int


def period_of(kind: str, day: date) -> reports.Period:
    """The period a report sent on `day` covers: that day, or the three days ending with it."""
    return reports.period_ending(day, THREE_DAYS if kind == "three_day" else 1)


def three_day_period_ends(day: date) -> bool:
    return (day - PERIODS_FROM).days % THREE_DAYS == THREE_DAYS - 1


def scheduled_id(kind: str, community: str, period: reports.Period) -> str:
    return str(uuid.uuid5(REPORT_NAMESPACE, f"{kind}/{community}/{period.first}/{period.last}"))


def compose(connection: Connection, kind: str, community: reports.Community, day: date,
            now: datetime) -> report_email.Email:
    if kind == "three_day":
        return report_email.three_day(community, reports.periodic_report(
            connection, community, period_of(kind, day), day, now))
    # What a manager of this community sees on the dashboard.
    manager = Staff(f"reports:{community.id}", "manager", (community.id,))
    return report_email.daily_progress(gather(connection, community, day, now, manager))


def recipients_of(connection: Connection, community: str, settings: ReportMail) -> tuple[str, ...]:
    """The community's active managers' emails, then the setting's addresses for it and for '*'."""
    everyone = deduplicated(manager_emails(connection, community) + settings.recipients_for(community))
    if len(everyone) > MAX_RECIPIENTS:
        log.warning("more report recipients than one email carries; the first ones kept",
                    extra={"community": community, "recipients": len(everyone), "kept": MAX_RECIPIENTS})
    return everyone[:MAX_RECIPIENTS]


def report_event(report_id: str, kind: str, community: str, recipients: tuple[str, ...],
                 email: report_email.Email) -> Envelope:
    event = new_event("staff_report.requested", {
        "report_id": report_id, "kind": kind, "community": community, "recipients": list(recipients),
        "subject": email.subject, "html": email.html, "text": email.text,
    })
    return Envelope(type=event.type, payload=event.payload, id=report_id, version=event.version,
                    occurred_at=event.occurred_at, correlation_id=event.correlation_id)


def send_now(connection: Connection, kind: str, community: reports.Community, day: date, now: datetime,
             settings: ReportMail) -> SentReport:
    """Publish the report for `day` at once (a manager asked for it); each request is its own email."""
    recipients = recipients_of(connection, community.id, settings)
    if not recipients:
        raise NobodyToTell(community.id)
    email = compose(connection, kind, community, day, now)
    report_id = str(uuid.uuid4())
    add_to_outbox(connection, outbox, report_event(report_id, kind, community.id, recipients, email))
    log.info("report emailed", extra={"kind": kind, "community": community.id, "recipients": len(recipients)})
    return SentReport(report_id, kind, email.subject, len(recipients))


def due(settings: ReportMail, local_now: datetime) -> list[str]:
    """The kinds of report due by `local_now` (a community's local time) today."""
    if local_now.time().replace(second=0, microsecond=0) < settings.send_at:
        return []
    return [k for k in KINDS if k == "daily_progress" or three_day_period_ends(local_now.date())]


def send_due(engine: Engine, now: datetime, settings: ReportMail) -> int:
    """Publish every scheduled report now due and not yet sent; return how many were published."""
    with engine.connect() as connection:
        ids = connection.execute(select(communities.c.id).order_by(communities.c.id)).scalars().all()
    published = 0
    for community_id in ids:
        try:
            published += _send_due_for(engine, community_id, now, settings)
        except Exception:  # one community's trouble must not hold back the others' reports
            log.exception("scheduled report failed; will try again", extra={"community": community_id})
    return published


def _send_due_for(engine: Engine, community_id: str, now: datetime, settings: ReportMail) -> int:
    published = 0
    with engine.connect() as connection:
        community = reports.find_community(connection, community_id)
        if community is None:
            return 0
        local_now = now.astimezone(community.timezone)
        kinds = due(settings, local_now)
        recipients = recipients_of(connection, community.id, settings) if kinds else ()
    if not recipients:
        return 0
    for kind in kinds:
        report_id = scheduled_id(kind, community.id, period_of(kind, local_now.date()))
        try:
            with engine.begin() as connection:
                if connection.execute(select(outbox.c.seq).where(outbox.c.message_id == report_id)).first():
                    continue
                email = compose(connection, kind, community, local_now.date(), now)
                add_to_outbox(connection, outbox, report_event(report_id, kind, community.id, recipients, email))
        except IntegrityError:  # another worker published it a moment ago
            continue
        published += 1
        log.info("scheduled report emailed", extra={"kind": kind, "community": community.id,
                                                    "recipients": len(recipients)})
    return published
