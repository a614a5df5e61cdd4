"""A little demo data: one community and a few owners with arrears."""
from __future__ import annotations

from decimal import Decimal

from sqlalchemy import Engine, func, select

from services.cases import domain, handlers
from services.cases.tables import cases

COMMUNITY = "lakeside-garden"
OWNERS = [
    ("王芳", "+8613800138001", "wang.fang@example.com", "zh-CN", "2860.00"),
    ("李强", "+8613800138002", None, "zh-CN", "1430.50"),
    ("Emily Chen", "+8613800138003", "emily.chen@example.com", "en", "5120.00"),
]


def load_demo(engine: Engine) -> int:
    """Open one case per demo owner unless demo data is already there; return cases opened."""
    with engine.begin() as connection:
        if connection.execute(
            select(func.count()).select_from(cases).where(cases.c.community == COMMUNITY)
        ).scalar_one():
            return 0
        for name, phone, email, locale, amount in OWNERS:
            command = domain.OpenCase(
                community=COMMUNITY, amount_owed=Decimal(amount),
                owner=domain.OwnerDetails(name, phone, email, locale),
            )
            handlers.open_case(connection, command, opened_by="demo")
    return len(OWNERS)
