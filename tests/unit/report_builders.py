"""Small worlds of one community, written straight into the cases tables, and their figures worked out by hand.

The report tests (on SQLite and on PostgreSQL) and the timeline tests build on them.
"""
from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, insert

from services.cases import owner_issue
from services.cases.reports import Period, Progress
from services.cases.tables import (
    case_assignments,
    cases,
    owners,
    payments,
    promises,
    staff,
    staff_communities,
    stage_moves,
    units,
)

COMMUNITY = "lakeside-garden"
SHANGHAI = ZoneInfo("Asia/Shanghai")
D = date(2026, 10, 5)
SEP_1 = date(2026, 9, 1)


def day(month: int, number: int) -> date:
    return date(2026, month, number)


def local(on: date, hour: int = 12, minute: int = 0) -> datetime:
    """A moment on `on` in Shanghai, as the UTC datetime the database stores."""
    return datetime.combine(on, time(hour, minute), SHANGHAI).astimezone(UTC)


def money(text: str) -> Decimal:
    return Decimal(text)


class World:
    """Rows of one community written straight into the cases tables; case ids are readable names."""

    def __init__(self, connection: Connection, community: str = COMMUNITY):
        self.connection, self.community = connection, community

    def staff_member(self, staff_id: str, name: str, role: str = "collector") -> None:
        self.connection.execute(insert(staff).values(
            id=staff_id, username=f"{staff_id}.user", name=name, role=role, password_hash="-", active=True,
            created_at=local(SEP_1)))
        self.connection.execute(insert(staff_communities).values(staff_id=staff_id, community=self.community))

    def case(self, case_id: str, owed: str, opened_on: date = SEP_1, closed_at: datetime | None = None,
             reason: str | None = None, owner_name: str = "业主", locale: str = "zh-CN") -> str:
        self.connection.execute(insert(owners).values(
            id=f"owner-{case_id}", community=self.community, name=owner_name, locale=locale, key_owner=False,
            contact_status="reachable", broken_promises=0, created_at=local(opened_on, 9)))
        self.connection.execute(insert(units).values(
            id=f"unit-{case_id}", community=self.community, building="1", number=case_id,
            owner_id=f"owner-{case_id}"))
        self.connection.execute(insert(cases).values(
            id=case_id, owner_id=f"owner-{case_id}", community=self.community, amount_owed=money(owed),
            amount_recovered=money("0"), status="closed" if closed_at else "open", stage="reminder",
            stage_entered_on=opened_on, due_date=opened_on - timedelta(days=1), opened_by="tester",
            opened_at=local(opened_on, 10), closed_at=closed_at, closed_reason=reason))
        self.stage(case_id, "reminder", opened_on, reason="opened")
        return case_id

    def stage(self, case_id: str, stage: str, entered_on: date, reason: str = "due") -> None:
        self.connection.execute(insert(stage_moves).values(case_id=case_id, stage=stage, entered_on=entered_on,
                                                           reason=reason))

    def pay(self, case_id: str, amount: str, paid_on: date, receipt: str | None = None) -> None:
        receipt = receipt or f"R-{case_id}-{paid_on}-{amount}"
        self.connection.execute(insert(payments).values(
            id=receipt, community=self.community, external_ref=receipt, unit_id=f"unit-{case_id}",
            case_id=case_id, amount=money(amount), paid_on=paid_on, source="staff",
            created_at=local(paid_on, 18)))

    def assign(self, case_id: str, staff_id: str, owed: str, at: datetime, ended_at: datetime | None = None):
        self.connection.execute(insert(case_assignments).values(
            case_id=case_id, staff_id=staff_id, amount_owed_at_assignment=money(owed), assigned_by="manager",
            reason="auto", assigned_at=at, ended_at=ended_at))

    def promise(self, case_id: str, status: str, resolved_on: date, owed: str = "1000.00",
                amount: str | None = None, promise_id: str | None = None, made_at: datetime | None = None) -> None:
        self.connection.execute(insert(promises).values(
            id=promise_id or f"P-{case_id}-{status}-{resolved_on}", case_id=case_id,
            promised_date=resolved_on - timedelta(days=1), amount=money(amount) if amount else None,
            source="staff", status=status, owed_when_made=money(owed), created_at=made_at or local(resolved_on - timedelta(7)),
            resolved_on=resolved_on))


def build_collection_world(connection: Connection) -> None:
    """Four collectors and a supervisor; seven cases opened on 1 Sep (C6 in August).

    C1 owes 600 now: li's since 2 Sep (owed 1000), 400 paid on 5 Oct, a promise kept on 5 Oct.
    C2 paid up: li's (owed 500) until it closed on 3 Oct, when 500 was paid.
    C3 owes 1500: wang's (owed 2000) until 4 Oct 10:00, then zhang's (owed 1700); 300 paid on 3 Oct,
       200 on 5 Oct, a promise broken on 4 Oct.
    C4 owes 800: wang's (owed 800), a promise broken on 5 Oct.
    C5 owes 900: nobody's; 100 paid on 5 Oct.
    C6 paid up in August (li's, 300): closed more than 30 days ago, so in no figure.
    C7 paid up: zhang's (owed 250), 250 paid on 5 Oct, the receipt recorded (and the case closed) on 7 Oct.
    """
    world = World(connection)
    for staff_id, name in (("li", "李娜"), ("wang", "王强"), ("zhang", "张伟"), ("zhao", "赵敏")):
        world.staff_member(staff_id, name)
    world.staff_member("chen", "陈静", role="supervisor")
    sep_2 = local(day(9, 2), 10)
    world.case("C1", "600.00")
    world.assign("C1", "li", "1000.00", sep_2)
    world.pay("C1", "400.00", D)
    world.promise("C1", "kept", D)
    world.case("C2", "0.00", closed_at=local(day(10, 3), 12), reason="paid")
    world.assign("C2", "li", "500.00", sep_2, ended_at=local(day(10, 3), 12))  # ended when the case closed
    world.pay("C2", "500.00", day(10, 3))
    world.case("C3", "1500.00")
    world.assign("C3", "wang", "2000.00", sep_2, ended_at=local(day(10, 4), 10))
    world.assign("C3", "zhang", "1700.00", local(day(10, 4), 10))
    world.pay("C3", "300.00", day(10, 3))
    world.pay("C3", "200.00", D)
    world.promise("C3", "broken", day(10, 4))
    world.case("C4", "800.00")
    world.assign("C4", "wang", "800.00", sep_2)
    world.promise("C4", "broken", D)
    world.case("C5", "900.00")
    world.pay("C5", "100.00", D)
    world.case("C6", "0.00", opened_on=day(8, 1), closed_at=local(day(8, 20)), reason="paid")
    world.assign("C6", "li", "300.00", local(day(8, 2)))
    world.pay("C6", "300.00", day(8, 20))
    world.case("C7", "0.00", closed_at=local(day(10, 7), 9), reason="paid")
    world.assign("C7", "zhang", "250.00", sep_2)
    world.pay("C7", "250.00", D)


def build_funnel_world(connection: Connection) -> None:
    """Cases opened on 1 Aug that reached the notice and the lawyer's letter in September (or not).

    N1 notice 10 Sep, lawyer's letter 25 Sep; paid 200 on 20 Sep and the rest on 10 Oct (closed 12 Oct).
    N2 notice 10 Sep; paid up on 11 Oct: 31 days, too late for the notice.
    N3 notice 10 Sep; closed as paid on 1 Oct without a payment row (the ledger import cleared it).
    N4 notice 10 Sep, lawyer's letter 28 Sep; still open.
    N5 notice 31 Aug (before the period); paid up on 5 Sep.
    N6 notice 12 Sep; closed on 15 Sep for another reason.
    N7 notice 20 Aug, lawyer's letter 20 Sep; still open.
    N8 lawyer's letter 2 Sep; still open.
    X1 another community's notice on 10 Sep, paid at once.
    """
    world = World(connection)
    aug_1 = day(8, 1)
    world.case("N1", "0.00", aug_1, closed_at=local(day(10, 12)), reason="paid")
    world.stage("N1", "notice", day(9, 10))
    world.stage("N1", "lawyer_letter", day(9, 25))
    world.pay("N1", "200.00", day(9, 20))
    world.pay("N1", "800.00", day(10, 10))
    world.case("N2", "0.00", aug_1, closed_at=local(day(10, 11)), reason="paid")
    world.stage("N2", "notice", day(9, 10))
    world.pay("N2", "1000.00", day(10, 11))
    world.case("N3", "0.00", aug_1, closed_at=local(day(10, 1)), reason="paid")
    world.stage("N3", "notice", day(9, 10))
    world.case("N4", "1000.00", aug_1)
    world.stage("N4", "notice", day(9, 10))
    world.stage("N4", "lawyer_letter", day(9, 28))
    world.case("N5", "0.00", aug_1, closed_at=local(day(9, 5)), reason="paid")
    world.stage("N5", "notice", day(8, 31))
    world.pay("N5", "1000.00", day(9, 5))
    world.case("N6", "1000.00", aug_1, closed_at=local(day(9, 15)), reason="withdrawn")
    world.stage("N6", "notice", day(9, 12))
    world.case("N7", "1000.00", aug_1)
    world.stage("N7", "notice", day(8, 20))
    world.stage("N7", "lawyer_letter", day(9, 20))
    world.case("N8", "1000.00", aug_1)
    world.stage("N8", "lawyer_letter", day(9, 2))
    elsewhere = World(connection, "river-view")
    elsewhere.case("X1", "0.00", aug_1, closed_at=local(day(9, 11)), reason="paid")
    elsewhere.stage("X1", "notice", day(9, 10))
    elsewhere.pay("X1", "1000.00", day(9, 11))


# (stage, reached, paid within 30 days, still counting, conversion) for September, as of 5 Oct.
SEPTEMBER_FUNNEL = [
    ("reminder", 0, 0, 0, None),  # every case entered its first stage in August
    ("notice", 5, 2, 1, money("0.4000")),  # N1 N3 paid in time, N2 late, N6 withdrawn, N4 counting
    ("lawyer_letter", 4, 1, 2, money("0.2500")),  # N1 paid; N4 N7 counting; N8's 30 days are over
    ("follow_up_letter", 0, 0, 0, None),
    ("legal_review", 0, 0, 0, None),
]


# staff id: (recovered, recovered to date, assigned arrears, rate, kept, broken, closed) on 5 Oct
COLLECTORS_ON_5_OCT = {
    # C1 (1000) and C2 (500, closed 3 Oct); C6 left the portfolio 30 days after it closed.
    "li": ("400.00", "900.00", "1500.00", "0.6000", 1, 0, 0),
    # C3 went to zhang on 4 Oct; the 300 paid on 3 Oct stays wang's but C3 is no longer in his portfolio.
    "wang": ("0.00", "0.00", "800.00", "0.0000", 0, 1, 0),
    # C3 (1700 when reassigned) and C7 (250): 200 + 250 since, 450 / 1950.
    "zhang": ("450.00", "450.00", "1950.00", "0.2308", 0, 0, 1),
    # An active collector with nothing assigned: no rate.
    "zhao": ("0.00", "0.00", "0.00", None, 0, 0, 0),
}


def figures(progress: Progress) -> tuple:
    rate = None if progress.recovery_rate is None else str(progress.recovery_rate)
    return (str(progress.recovered), str(progress.recovered_to_date), str(progress.arrears), rate,
            progress.promises_kept, progress.promises_broken, progress.cases_closed)


PERIOD = Period(day(10, 3), D)  # previous: 30 Sep .. 2 Oct
EVENING = local(D, 20)


def build_meeting_world(connection: Connection) -> None:
    """Payments, promises and owner issues around the period 3-5 Oct (deadlines: leaks 24h, repairs 72h)."""
    world = World(connection)
    world.case("A", "500.00")
    world.pay("A", "200.00", day(10, 1))
    world.pay("A", "300.00", day(10, 4))
    world.promise("A", "broken", day(10, 1), promise_id="P-prev")
    world.promise("A", "kept", day(10, 4), promise_id="P-kept")
    world.promise("A", "broken", D, owed="700.00", promise_id="P-broken")
    world.case("B", "0.00", closed_at=local(day(10, 2), 15), reason="paid")
    world.pay("B", "500.00", day(10, 2))
    world.case("Z", "0.00", closed_at=local(D, 15), reason="paid")
    world.pay("Z", "100.00", D)

    def issue(category: str, opened: datetime, resolved: datetime | None = None) -> str:
        issue_id = owner_issue.open_issue(connection, owner_id="owner-A", community=COMMUNITY, case_id="A",
                                          category=category, description="…", source="staff", actor="li",
                                          now=opened)
        if resolved:
            owner_issue.change_status(connection, issue_id, "resolved", "li", "fixed", resolved.date(), resolved)
        return issue_id

    issue("leaks", local(day(10, 3), 10), local(day(10, 4), 9))  # in time
    issue("leaks", local(day(10, 4), 8))  # due 5 Oct 08:00, never resolved
    issue("repairs", local(day(10, 1), 9), local(day(10, 4), 12))  # due 4 Oct 09:00, resolved late
    issue("greenery", local(D, 18))  # due a week later
    issue("noise", local(day(9, 30), 10))  # due 2 Oct 10:00, never resolved
