"""A cases database on PostgreSQL with a community, and ways to look at what it decided."""
from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import Engine, func, insert, select

from services.cases import domain, handlers
from services.cases.tables import communities, outbox
from shared.db import make_engine
from tests import support

COMMUNITY = "maple-court"
TZ = "Asia/Shanghai"


def migrated_cases_db(url: str) -> Engine:
    support.migrate_postgres("cases", url)
    engine = make_engine(url)
    now = datetime.now(UTC)
    with engine.begin() as connection:
        connection.execute(insert(communities).values(
            id=COMMUNITY, name="Maple Court", timezone=TZ, locale="zh-CN",
            send_windows=["09:30", "14:00", "19:30"], quiet_start="21:00", quiet_end="08:00",
            holiday_calendar="CN", skip_weekends=False, ladder=None, created_at=now, updated_at=now,
        ))
    return engine


def local_noon(day: date) -> datetime:
    """A moment on `day` in the community's timezone (noon there is 04:00 UTC)."""
    return datetime(day.year, day.month, day.day, 4, 0, tzinfo=UTC)


def open_case(engine: Engine, *, today: date, phone: str | None = "+8613900000001",
              email: str | None = "owner@example.com", amount: str = "1200.00", due: date | None = None,
              key_owner: bool = False, unit: str = "101") -> str:
    with engine.begin() as connection:
        return handlers.open_case(connection, domain.OpenCase(
            community=COMMUNITY, amount_owed=Decimal(amount),
            owner=domain.OwnerDetails("测试业主", phone, email, "zh-CN", key_owner),
            building="1", unit_number=unit, fee_period="2026", due_date=due or today - timedelta(days=1),
        ), opened_by="test", today=today)


def outbox_mark(engine: Engine) -> int:
    with engine.connect() as connection:
        return connection.execute(select(func.coalesce(func.max(outbox.c.seq), 0))).scalar_one()


def events_since(engine: Engine, mark: int) -> list[dict]:
    with engine.connect() as connection:
        rows = connection.execute(select(outbox.c.body).where(outbox.c.seq > mark).order_by(outbox.c.seq))
        return [json.loads(body) for (body,) in rows]


def types(events: list[dict]) -> list[str]:
    return [e["type"] for e in events]
