"""Set-based writes for the sweep: one statement per batch on PostgreSQL, portable elsewhere.

On PostgreSQL, arrays bound once and UNNESTed server-side replace a thousand round trips; the
portable path (SQLite, the embedded default) uses executemany.
"""
from __future__ import annotations

from datetime import date

from sqlalchemy import Connection, bindparam, insert, text, update

from services.cases.tables import cases, stage_moves

_UPDATE_STAGES = text("""
    UPDATE cases SET stage = d.stage, stage_entered_on = d.entered, awaiting_approval = d.awaiting,
                     last_swept_on = :today
    FROM unnest(CAST(:ids AS varchar[]), CAST(:stages AS varchar[]), CAST(:entered AS date[]),
                CAST(:awaiting AS varchar[])) AS d(id, stage, entered, awaiting)
    WHERE cases.id = d.id
""")
_INSERT_MOVES = text("""
    INSERT INTO stage_moves (case_id, stage, entered_on, reason)
    SELECT * FROM unnest(CAST(:ids AS varchar[]), CAST(:stages AS varchar[]), CAST(:entered AS date[]),
                         CAST(:reasons AS varchar[]))
""")


def update_stages(connection: Connection, changed: list[dict], today: date) -> None:
    """Write each changed case's stage, entry date and approval wait, and its sweep date."""
    if not changed:
        return
    if connection.dialect.name == "postgresql":
        connection.execute(_UPDATE_STAGES, {
            "today": today, "ids": [c["b_id"] for c in changed], "stages": [c["b_stage"] for c in changed],
            "entered": [c["b_entered"] for c in changed], "awaiting": [c["b_awaiting"] for c in changed],
        })
        return
    connection.execute(
        update(cases).where(cases.c.id == bindparam("b_id")).values(
            stage=bindparam("b_stage"), stage_entered_on=bindparam("b_entered"),
            awaiting_approval=bindparam("b_awaiting"), last_swept_on=today,
        ),
        changed,
    )


def insert_stage_moves(connection: Connection, moves: list[dict]) -> None:
    if not moves:
        return
    if connection.dialect.name == "postgresql":
        connection.execute(_INSERT_MOVES, {
            "ids": [m["case_id"] for m in moves], "stages": [m["stage"] for m in moves],
            "entered": [m["entered_on"] for m in moves], "reasons": [m["reason"] for m in moves],
        })
        return
    connection.execute(insert(stage_moves), moves)
