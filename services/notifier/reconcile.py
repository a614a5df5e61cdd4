"""Reconciling sends whose outcome is unknown: never resent blindly.

A send is `unknown` when the request may have reached the provider but no answer said so: a
timeout, a 5xx after the request went out, a connection broken mid-call, or a process that died
between its ledger claim and recording the answer (the claim is still `claimed`).

1. **A delivery report settles it.** Twilio status callbacks carry `?n=<notification id>` and
   SendGrid events carry `custom_args.notification_id`, so the gateway's `delivery.reported`
   names the notification even though we never learnt the provider id. Any report (delivered,
   sent, even undelivered or bounced) proves the provider took the message: the ledger row
   becomes `sent` with the reported provider id, the waiting row `sent`, and `message.sent` goes
   to cases. The report itself is then recorded like any other.
2. **No report within `RECONCILE_AFTER_SECONDS`: one resend, never two.** A provider lookup
   would be better than guessing, but neither provider can answer it here: Twilio's lookup is by
   MessageSid, which a timed-out create never returned (listing messages by `To` and date could
   only guess which one is ours), and SendGrid's Email Activity API is a paid add-on. So a row
   nobody confirmed is released for exactly one more attempt (ledger `retry`, waiting row
   `pending`), marked `delivery_status = "unconfirmed"` on the ledger; if that attempt is
   unknown too, it stays unknown for staff and is never released again.

   The trade-off: a callback that was lost (or arrives later than the wait) means the owner may
   get the reminder twice; never resending means a notice that never went out is missing from
   the legal record and the owner is never told. One bounded resend, after a wait far longer
   than providers take to call back (seconds), keeps the duplicate rare and the loss impossible
   except for a second unknown, which a person looks at. A payment, promise, closed case or
   opt-out that came meanwhile still wins: the released row is cancelled, not resent.
"""
from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, and_, func, select, update

from services.notifier import ledger, pending
from services.notifier.tables import outbox, pending_sends, send_ledger
from shared.config import ConfigError
from shared.envelope import new_event
from shared.outbox import add_to_outbox

log = logging.getLogger(__name__)
UNCONFIRMED = "unconfirmed"  # ledger delivery_status of a send released once without confirmation
MAYBE_SENT = ("unknown", "claimed")  # ledger statuses a delivery report can settle
BATCH = 500


def reconcile_after(environ: Mapping[str, str] | None = None) -> timedelta:
    env = os.environ if environ is None else environ
    raw = env.get("RECONCILE_AFTER_SECONDS", "").strip() or "900"
    try:
        seconds = float(raw)
    except ValueError:
        raise ConfigError(f"RECONCILE_AFTER_SECONDS must be a number, not {raw!r}") from None
    if seconds < 1:
        raise ConfigError(f"RECONCILE_AFTER_SECONDS must be at least 1, not {seconds}")
    return timedelta(seconds=seconds)


def _ledger_key(notification_id: str, channel: str):
    return and_(send_ledger.c.notification_id == notification_id, send_ledger.c.channel == channel)


def confirm_by_report(connection: Connection, notification_id: str, channel: str, provider: str,
                      provider_message_id: str, now: datetime) -> bool:
    """Settle a send whose outcome was unknown with a provider's report of it; False if it was not unknown."""
    row = connection.execute(
        select(send_ledger.c.status, send_ledger.c.delivery_status)
        .where(_ledger_key(notification_id, channel)).with_for_update()
    ).first()
    if row is None:
        return False
    released = row.status == "retry" and row.delivery_status == UNCONFIRMED
    if row.status not in MAYBE_SENT and not released:
        return False
    ledger.record(connection, notification_id, channel, "sent", provider=provider,
                  provider_message_id=provider_message_id)
    key = pending.Key(notification_id, channel)
    payload = connection.execute(
        update(pending_sends).where(key.where, pending_sends.c.status.in_(("unknown", "sending", "pending",
                                                                           "deferred")))
        .values(status="sent", reason="outcome was unknown; confirmed by the provider's report",
                sent_at=func.coalesce(pending_sends.c.sent_at, now), updated_at=now)
        .returning(pending_sends.c.payload, pending_sends.c.case_id, pending_sends.c.address)
    ).first()
    if payload is not None:
        add_to_outbox(connection, outbox, new_event("message.sent", {
            "notification_id": notification_id, "case_id": payload.case_id, "channel": channel,
            "provider": provider, "provider_message_id": provider_message_id,
            "address": payload.address, "sent_at": now,
        }))
    log.info("unknown send confirmed by a delivery report",
             extra={"notification_id": notification_id, "channel": channel, "was": row.status})
    return True


class Reconciler:
    """Releases, once, the unknown sends no report confirmed within `after`."""

    def __init__(self, after: timedelta):
        self.after = after

    def release_unconfirmed(self, connection: Connection, now: datetime) -> int:
        """Release (or cancel, if stopped meanwhile) unknown sends older than `after`; return how many."""
        rows = connection.execute(
            select(pending_sends.c.notification_id, pending_sends.c.channel, pending_sends.c.owner_id,
                   pending_sends.c.case_id, pending_sends.c.requested_at, pending_sends.c.payload)
            .join(send_ledger, and_(send_ledger.c.notification_id == pending_sends.c.notification_id,
                                    send_ledger.c.channel == pending_sends.c.channel))
            .where(pending_sends.c.status == "unknown", pending_sends.c.updated_at <= now - self.after,
                   send_ledger.c.status == "unknown", send_ledger.c.delivery_status.is_(None))
            .limit(BATCH)
        ).all()
        for row in rows:
            self._release(connection, row, now)
        return len(rows)

    def _release(self, connection: Connection, row, now: datetime) -> None:
        key = pending.Key(row.notification_id, row.channel)
        connection.execute(update(send_ledger).where(_ledger_key(row.notification_id, row.channel))
                           .values(status="retry", delivery_status=UNCONFIRMED,
                                   updated_at=datetime.now(UTC)))
        stopped = pending.stopped_by(connection, row.owner_id, row.case_id, row.requested_at)
        if stopped:
            pending.move(connection, key, "cancelled", f"{stopped} (while its outcome was unknown)", now)
            return
        minutes = int(self.after.total_seconds() // 60)
        pending.move(connection, key, "pending",
                     f"outcome unknown and no report in {minutes} min; released for one resend", now, due_at=now)
        log.warning("unknown send released for one resend",
                    extra={"notification_id": row.notification_id, "channel": row.channel,
                           "template": json.loads(row.payload).get("template")})
