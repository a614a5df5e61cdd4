"""A little demo data: one community, its manager (with an email, so the emailed reports have
someone to go to) and a few owners with arrears."""
from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, insert, select

from services.cases import domain, handlers
from services.cases.people.staff_accounts import NewStaff, create_staff, new_password
from services.cases.tables import communities, outbox
from shared.envelope import new_event
from shared.outbox import add_to_outbox

COMMUNITY = "lakeside-garden"
OWNERS = [
    ("王芳", "+8613800138001", "wang.fang@example.com", "zh-CN", "2860.00", "1", "101"),
    ("李强", "+8613800138002", None, "zh-CN", "1430.50", "1", "202"),
    ("Emily Chen", "+8613800138003", "emily.chen@example.com", "en", "5120.00", "3", "1801"),
]
# The centre's manager: the daily summary and the 3-day report go to this address (var/console_outbox.jsonl).
MANAGER = NewStaff("demo-manager", "李经理", "manager", (COMMUNITY,), "", "manager@lakeside.example.com")


def load_demo(engine: Engine, today: date | None = None, password_file: Path | None = None) -> int:
    """Create the demo community and open one case per demo owner, once; return cases opened.

    The demo manager's password is made up here and, when `password_file` is given, kept there
    (readable by its owner only) so `make run` can say how to sign in to the dashboard.
    """
    now = datetime.now(UTC)
    today = today or now.astimezone(ZoneInfo("Asia/Shanghai")).date()  # the community's own day
    with engine.begin() as connection:
        if connection.execute(select(communities.c.id).where(communities.c.id == COMMUNITY)).first():
            return 0
        calendar = {"timezone": "Asia/Shanghai", "locale": "zh-CN", "send_windows": ["09:30", "14:00", "19:30"],
                    "quiet_start": "21:00", "quiet_end": "08:00", "holiday_calendar": "CN", "skip_weekends": False}
        connection.execute(insert(communities).values(
            id=COMMUNITY, name="湖畔花园 Lakeside Garden", ladder=None, created_at=now, updated_at=now, **calendar,
        ))
        add_to_outbox(connection, outbox, new_event("community.configured", {"community": COMMUNITY, **calendar}))
        password = new_password()
        create_staff(connection, replace(MANAGER, password=password), now)
        if password_file is not None:
            password_file.parent.mkdir(parents=True, exist_ok=True)
            password_file.touch(mode=0o600)
            password_file.write_text(password + "\n", encoding="utf-8")
        for name, phone, email, locale, amount, building, number in OWNERS:
            handlers.open_case(connection, domain.OpenCase(
                community=COMMUNITY, amount_owed=Decimal(amount),
                owner=domain.OwnerDetails(name, phone, email, locale),
                building=building, unit_number=number, fee_period=str(today.year - 1),
                due_date=today - timedelta(days=45),
            ), opened_by="demo", today=today)
    return len(OWNERS)
