"""The cases worker's clock: the daily sweep in each community's morning, deadline checks, emailed reports."""
from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, select

from services.cases import owner_issue
from services.cases.config import ReportMail, load_report_mail
from services.cases.report_mail import send_due
from services.cases.sweep import sweep
from services.cases.tables import collection_groups, communities, staff, staff_communities

log = logging.getLogger(__name__)
SWEEP_FROM_HOUR = 6  # local time; the sweep is idempotent, so later ticks the same day do nothing
TICK_SECONDS = 60


def communities_awake(engine: Engine, now: datetime) -> list[str]:
    with engine.connect() as connection:
        rows = connection.execute(select(communities.c.id, communities.c.timezone)).all()
    return [r.id for r in rows if now.astimezone(ZoneInfo(r.timezone)).hour >= SWEEP_FROM_HOUR]


def supervisor_for(connection: Connection, community: str) -> str | None:
    """Who a breached deadline goes to: the community's supervisor-led group leader, else any supervisor."""
    leader = connection.execute(
        select(collection_groups.c.leader_id).where(collection_groups.c.community == community,
                                                    collection_groups.c.kind == "supervisor_led",
                                                    collection_groups.c.leader_id.isnot(None)).limit(1)
    ).scalar()
    if leader:
        return leader
    return connection.execute(
        select(staff.c.id).join(staff_communities, staff_communities.c.staff_id == staff.c.id)
        .where(staff_communities.c.community == community, staff.c.role == "supervisor",
               staff.c.active.is_(True)).order_by(staff.c.username).limit(1)
    ).scalar()


def tick(engine: Engine, now: datetime, report_mail: ReportMail | None = None) -> None:
    awake = communities_awake(engine, now)
    if awake:
        sweep(engine, now, only=awake)
    with engine.begin() as connection:
        breached = owner_issue.mark_breaches(connection, now, supervisor_for)
    if breached:
        log.info("issue deadlines breached", extra={"count": breached})
    if report_mail is not None:
        # After the breaches are marked, so the evening's reports count them.
        send_due(engine, now, report_mail)


def run_clock(engine: Engine, report_mail: ReportMail | None = None):
    report_mail = report_mail or load_report_mail()

    def clock(stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                tick(engine, datetime.now(UTC), report_mail)
            except Exception:
                log.exception("scheduled work failed; will try again")
            stop.wait(TICK_SECONDS)

    return clock
