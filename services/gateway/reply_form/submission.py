"""Keep one answer per reply-form link and publish it, in one transaction."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import Engine, select
from sqlalchemy.dialects import postgresql, sqlite

from services.gateway.reply_form.csrf import link_digest
from services.gateway.tables import outbox, reply_form_submissions
from shared.envelope import new_event
from shared.outbox import add_to_outbox


def already_answered(engine: Engine, token: str) -> bool:
    with engine.connect() as connection:
        found = connection.execute(select(reply_form_submissions.c.submission_id)
                                   .where(reply_form_submissions.c.token_digest == link_digest(token)))
        return found.first() is not None


def submit_answers(engine: Engine, token: str, owner_id: str, case_id: str, answers: dict,
                   locale: str) -> str | None:
    """Record the link as answered and stage form.submitted; the submission id, or None if answered before."""
    now = datetime.now(UTC)
    submission_id = str(uuid.uuid4())
    event = new_event("form.submitted", {
        "submission_id": submission_id, "owner_id": owner_id, "case_id": case_id,
        "reasons": answers["reasons"], "problem": answers["problem"], "locale": locale, "submitted_at": now,
    })
    with engine.begin() as connection:
        insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
        fresh = connection.execute(
            insert(reply_form_submissions)
            .values(token_digest=link_digest(token), submission_id=submission_id, owner_id=owner_id,
                    case_id=case_id, submitted_at=now)
            .on_conflict_do_nothing(index_elements=["token_digest"])
            .returning(reply_form_submissions.c.submission_id)
        ).first()
        if fresh is None:
            return None
        add_to_outbox(connection, outbox, event)
    return submission_id
