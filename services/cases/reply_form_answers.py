"""The owner's answer on the reply form (律师函后函), turned into what cases already works with.

A service complaint or a disputed amount becomes an owner issue (deadline, assignment, breach
and the ladder's pause all follow); hardship opens a staff task to offer instalments; every
reason and the owner's words are kept on the case's timeline as one note.
"""
from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime

from sqlalchemy import Connection, insert, select

from services.cases import owner_issue
from services.cases.tables import case_notes, cases, staff_tasks
from shared.consumer import PermanentFailure
from shared.envelope import Envelope

log = logging.getLogger(__name__)

SOURCE = "form"
OFFER_INSTALMENTS = "offer_instalments"  # the staff task a hardship reply opens too


def _description(*parts: str) -> str:
    return "\n\n".join(part for part in parts if part) or "(reply form: no text)"


def _disputed(reason: dict) -> str:
    return f"业主认为应缴金额 / amount the owner thinks is right: {reason['disputed_amount']}"


def _plain(reason: dict) -> dict:
    amount = reason["disputed_amount"]
    return {**reason, "disputed_amount": None if amount is None else str(amount)}


def on_form_submitted(connection: Connection, event: Envelope) -> None:
    p = event.payload
    case = connection.execute(select(cases.c.id, cases.c.owner_id, cases.c.community)
                              .where(cases.c.id == p["case_id"])).first()
    if case is None or case.owner_id != p["owner_id"]:
        # The link was signed by us, so this is a case cases no longer knows: staff must look.
        raise PermanentFailure("reply form for an unknown case or another owner's case")
    issue_ids = []
    for reason in p["reasons"]:
        kind = reason["reason"]
        if kind in ("service_complaint", "disputed_amount"):
            disputed = kind == "disputed_amount"
            issue_ids.append(owner_issue.open_issue(
                connection, owner_id=case.owner_id, community=case.community, case_id=case.id,
                category="billing_dispute" if disputed else (reason["category"] or "other"),
                description=_description(_disputed(reason) if disputed else "", reason["detail"], p["problem"]),
                source=SOURCE, actor="owner",
            ))
        elif kind == "hardship":
            connection.execute(insert(staff_tasks).values(
                id=str(uuid.uuid4()), kind=OFFER_INSTALMENTS, community=case.community, owner_id=case.owner_id,
                case_id=case.id, status="open", created_at=datetime.now(UTC),
            ))
    connection.execute(insert(case_notes).values(
        case_id=case.id, kind="reply_form", actor="owner", at=p["submitted_at"],
        detail={"submission_id": str(p["submission_id"]), "reasons": [_plain(r) for r in p["reasons"]],
                "problem": p["problem"], "locale": p["locale"], "issue_ids": issue_ids},
    ))
    log.info("reply form answer recorded", extra={
        "case_id": case.id, "submission_id": str(p["submission_id"]),
        "reasons": [r["reason"] for r in p["reasons"]], "issues": len(issue_ids),
    })
