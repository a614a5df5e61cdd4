"""How the notifier reacts to each event it consumes: each handled once, through the inbox.

A request to send is not sent here: it is kept for its send window (see dispatcher.py), or,
for a letter, rendered and queued for staff to print and post (print_queue.py). Auto-replies and
staff mail are kept for the prompt-send loop (prompt_sends.py). Payments, promises, closed cases
and opt-outs cancel what is still waiting.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Connection, Engine

from services.notifier import (
    autoreplies,
    calendars,
    ledger,
    pending,
    print_queue,
    reconcile,
    staff_mail,
    suppression,
)
from services.notifier.calendar import NoSendWindow, SendCalendar, clock
from services.notifier.calendars import CalendarBook
from services.notifier.config import SendingRules
from services.notifier.tables import inbox
from shared.consumer import PermanentFailure
from shared.dispatch import InboxDispatcher
from shared.envelope import Envelope
from shared.events import payload_schema

log = logging.getLogger(__name__)
SENDABLE = ("sms", "email")  # by a provider in a send window; letters go to the print queue
REQUESTS = frozenset({"reminder.requested", "case.escalated"})
PROMPT = frozenset({"autoreply.requested", "staff_report.requested"})  # sent without waiting for a window


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Scheduling:
    """What deciding a send's time needs: calendars, the rules in force, and the time."""

    book: CalendarBook
    rules: SendingRules
    clock: Callable[[], datetime] = field(default=utc_now)
    composer: object | None = None  # renders letters for the print queue (composer.Composer)
    autoreply_lifetime: timedelta = timedelta(hours=12)  # AUTOREPLY_EXPIRES_HOURS


def schedule_request(connection: Connection, request: dict, event: Envelope, scheduling: Scheduling) -> int:
    """Keep each channel of a request until its window; return how many rows were new."""
    now = scheduling.clock()
    calendar = scheduling.book.for_community(connection, request.get("community"))
    requested_at = event.occurred_at
    send_on = request.get("send_on") or calendar.local_day(requested_at)
    due_at, late_reason = _due(calendar, send_on, request.get("slot", 0), now, scheduling.rules)
    expires_at = calendar.day_start(calendar.local_day(due_at) + timedelta(days=scheduling.rules.stale_days + 1))
    recipient = request["recipient"]
    stopped = pending.stopped_by(connection, recipient["owner_id"], request["case_id"], requested_at)
    body = json.dumps(payload_schema("reminder.requested", 1).dump(request), ensure_ascii=False)
    kept = 0
    for channel in request["channels"]:
        if channel not in SENDABLE:
            continue
        address = suppression.normalise(channel, recipient["phone"] if channel == "sms" else recipient["email"])
        status, reason = "pending", late_reason
        if stopped:
            status, reason = "cancelled", stopped
        elif address is None:
            status, reason = "skipped", f"no {channel} address"
        elif late_reason:
            status = "deferred"
        kept += pending.keep(connection, {
            "notification_id": str(request["notification_id"]), "channel": channel,
            "case_id": request["case_id"], "owner_id": recipient["owner_id"],
            "community": request.get("community"), "slot": request.get("slot", 0),
            "template": request["template"], "address": address, "payload": body,
            "correlation_id": event.correlation_id, "requested_at": requested_at, "due_at": due_at,
            "expires_at": expires_at, "status": status, "reason": reason, "attempts": 0,
            "created_at": now, "updated_at": now,
        })
    if print_queue.wanted(request):
        kept += print_queue.enqueue(connection, scheduling.composer, request, event, now, stopped)
    elif "letter" in request["channels"]:
        log.info("no letter for this template", extra={"template": request["template"]})
    return kept


def _due(calendar: SendCalendar, send_on, slot: int, now: datetime, rules: SendingRules):
    if rules.send_immediately:
        return now, None
    try:
        return max(calendar.slot_window(send_on, slot, now).opens, now), None
    except NoSendWindow:
        return now + timedelta(days=1), "the community's calendar has no open send window"


def on_reminder_requested(scheduling: Scheduling):
    def handle(connection: Connection, event: Envelope) -> None:
        schedule_request(connection, event.payload, event, scheduling)
    return handle


def on_case_escalated(scheduling: Scheduling):
    def handle(connection: Connection, event: Envelope) -> None:
        if event.payload["notice"] is not None:
            schedule_request(connection, event.payload["notice"], event, scheduling)
    return handle


def on_community_configured(connection: Connection, event: Envelope) -> None:
    p = event.payload
    try:
        ZoneInfo(p["timezone"])
        for text in (*p["send_windows"], p["quiet_start"], p["quiet_end"]):
            clock(text)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise PermanentFailure(f"unusable calendar for {p['community']}: {exc}") from exc
    calendars.configure(connection, p, event.occurred_at)


def on_case_closed(connection: Connection, event: Envelope) -> None:
    p = event.payload
    reason = f"case closed ({p['reason']})"
    pending.stop(connection, "case", p["case_id"], event.occurred_at, reason, utc_now())
    print_queue.stop(connection, "case", p["case_id"], event.occurred_at, reason, utc_now())


def on_promise_recorded(connection: Connection, event: Envelope) -> None:
    # Reminders pause until the promised day; cases asks for the reminder due on that day.
    p = event.payload
    reason = f"promise to pay by {p['promised_date'].isoformat()}"
    pending.stop(connection, "case", p["case_id"], event.occurred_at, reason, utc_now())
    print_queue.stop(connection, "case", p["case_id"], event.occurred_at, reason, utc_now())


def on_payment_recorded(connection: Connection, event: Envelope) -> None:
    # Any payment, even a part: what was asked for before it quotes an amount no longer owed,
    # and cases asks again if something is still overdue.
    pending.stop(connection, "owner", event.payload["owner_id"], event.occurred_at, "payment recorded", utc_now())
    print_queue.stop(connection, "owner", event.payload["owner_id"], event.occurred_at, "payment recorded",
                     utc_now())


def on_suppression_changed(connection: Connection, event: Envelope) -> None:
    p = event.payload
    suppression.change(connection, p["channel"], p["address"], p["opted_out"], p["source"],
                       event.occurred_at, utc_now())
    if not p["opted_out"]:
        autoreplies.forget_opt_out_confirmation(connection, p["channel"], p["address"])


def on_autoreply_requested(scheduling: Scheduling):
    def handle(connection: Connection, event: Envelope) -> None:
        autoreplies.accept(connection, event.payload, event, scheduling.clock(), scheduling.autoreply_lifetime)
    return handle


def on_staff_report_requested(scheduling: Scheduling):
    def handle(connection: Connection, event: Envelope) -> None:
        staff_mail.accept(connection, event.payload, event, scheduling.clock())
    return handle


def on_delivery_reported(connection: Connection, event: Envelope) -> None:
    p = event.payload
    notification_id = str(p["notification_id"]) if p["notification_id"] else None
    if notification_id:
        # A send whose outcome was unknown is settled by any report of it (see reconcile.py).
        reconcile.confirm_by_report(connection, notification_id, p["channel"], p["provider"],
                                    p["provider_message_id"], utc_now())
    ledger.record_delivery(connection, notification_id, p["provider_message_id"], p["channel"],
                           p["status"], p["error_code"])
    if notification_id:
        autoreplies.confirm_by_report(connection, notification_id, utc_now())


def event_handler(engine: Engine, scheduling: Scheduling, wake: Callable[[], None] = lambda: None,
                  wake_prompt: Callable[[], None] = lambda: None):
    """One callable for the consumer: every event once, through the inbox; new requests wake the
    dispatcher, new auto-replies and staff mail the prompt-send loop."""
    if scheduling.composer is None:
        from services.notifier.composer import Composer
        from shared.config import Settings

        settings = Settings.from_env()
        scheduling = replace(scheduling, composer=Composer.from_settings(engine, settings.gateway_public_url,
                                                                        settings))
    dispatch = InboxDispatcher(engine, inbox, {
        "reminder.requested": on_reminder_requested(scheduling),
        "case.escalated": on_case_escalated(scheduling),
        "community.configured": on_community_configured,
        "case.closed": on_case_closed,
        "promise.recorded": on_promise_recorded,
        "payment.recorded": on_payment_recorded,
        "suppression.changed": on_suppression_changed,
        "delivery.reported": on_delivery_reported,
        "autoreply.requested": on_autoreply_requested(scheduling),
        "staff_report.requested": on_staff_report_requested(scheduling),
    })

    return _WakingHandle(dispatch, wake, wake_prompt)


class _WakingHandle:
    """The dispatcher, then a nudge to the loop that sends what was just kept. Takes batches too:
    shared/consumer.py hands it what the broker has already delivered, one transaction for all."""

    def __init__(self, dispatch: InboxDispatcher, wake: Callable[[], None], wake_prompt: Callable[[], None]):
        self.dispatch = dispatch
        self.wake = wake
        self.wake_prompt = wake_prompt

    def __call__(self, event: Envelope) -> None:
        self.dispatch(event)
        self._nudge({event.type})

    def handle_batch(self, events) -> list[Exception | None]:
        outcomes = self.dispatch.handle_batch(events)
        self._nudge({event.type for event, failed in zip(events, outcomes, strict=True) if failed is None})
        return outcomes

    def _nudge(self, handled: set[str]) -> None:
        if handled & REQUESTS:
            self.wake()
        if handled & PROMPT:
            self.wake_prompt()
