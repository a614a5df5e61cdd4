"""Send one request's channels: each at most once, with the outcome reported back on the bus."""
from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy import Connection, Engine

from services.notifier import ledger, suppression
from services.notifier.composer import Composer
from services.notifier.providers import (
    Email,
    OutcomeUnknown,
    ProviderRefused,
    ProviderUnavailable,
    Sms,
)
from services.notifier.tables import outbox
from shared import metrics
from shared.config import Settings
from shared.envelope import Envelope, new_event, trusted_event
from shared.outbox import add_to_outbox

log = logging.getLogger(__name__)


class Gate(Protocol):
    """What decides, in the claim transaction, whether a send may go, and hears how it ended."""

    def admit(self, connection: Connection) -> bool: ...

    def settle(self, connection: Connection, status: str, error_code: str | None) -> None: ...


class OpenGate:
    """Every send may go: the sender used on its own, with only the ledger's protection."""

    def admit(self, connection: Connection) -> bool:
        return True

    def settle(self, connection: Connection, status: str, error_code: str | None) -> None:
        pass


OPEN = OpenGate()
Finish = Callable[..., None]  # (gate, notification_id, channel, status, provider=None, p=None, **fields)
ALREADY_HANDLED = "already handled"  # the error code a gate hears when the ledger had the send already


class ReminderSender:
    def __init__(self, engine: Engine, sms_provider, email_provider, gateway_public_url: str,
                 settings: Settings | None = None):
        self.engine = engine
        self.providers = {"sms": sms_provider, "email": email_provider}
        self.gateway_public_url = gateway_public_url
        # The secret (Reply-To, reply-form links) and DATA_DIR (letters); the environment's when not given.
        self.composer = Composer.from_settings(engine, gateway_public_url, settings or Settings.from_env())

    def __call__(self, event: Envelope) -> None:
        self.send(event.payload)

    def send(self, p: dict) -> None:
        """Send every requested channel now; a transient failure raises after the others are tried."""
        notification_id = str(p["notification_id"])
        transient: ProviderUnavailable | None = None
        for channel in p["channels"]:
            if channel not in self.providers:
                log.warning("channel not handled yet", extra={"channel": channel})
                continue
            try:
                self._send_once(notification_id, channel, p, OPEN)
            except ProviderUnavailable as exc:
                transient = exc
        if transient is not None:
            raise transient

    def send_channel(self, notification_id: str, channel: str, p: dict, gate: Gate) -> str:
        """Send one channel if the gate admits it; return the outcome.

        "held" when the gate said no, "retry" when nothing was sent and it may be tried again,
        otherwise the ledger status (sent, failed, unknown).
        """
        try:
            return self._send_once(notification_id, channel, p, gate)
        except ProviderUnavailable:
            return "retry"

    def _send_once(self, notification_id: str, channel: str, p: dict, gate: Gate) -> str:
        recipient = p["recipient"]
        with self.engine.begin() as connection:
            # The gate looks (cancelled? opted out? over a cap?) in the same transaction as the
            # claim, right before the provider call.
            if not gate.admit(connection):
                return "held"
            claim = ledger.claim(connection, notification_id, channel, p["case_id"], recipient["owner_id"])
            if not claim.granted:
                gate.settle(connection, claim.status, ALREADY_HANDLED)
        if not claim.granted:
            log.info("send already handled", extra={"notification_id": notification_id,
                                                    "channel": channel, "status": claim.status})
            return claim.status
        return self.call(notification_id, channel, p, gate, self._finish)

    def call(self, notification_id: str, channel: str, p: dict, gate: Gate, finish: Finish,
             wording_seen: object = None) -> str:
        """Call the provider for a send whose ledger claim is committed, and settle it with `finish`.

        `finish(gate, notification_id, channel, status, provider, p, **fields)` records the outcome
        (one transaction of its own, or a share of a group commit). `wording_seen` is the version
        of the community wordings the claim transaction saw (composer.py caches by it).
        """
        return self.deliver(notification_id, channel, p, gate, finish,
                            self._compose(notification_id, channel, p, wording_seen))

    def deliver(self, notification_id: str, channel: str, p: dict, gate: Gate, finish: Finish,
                message: Sms | Email) -> str:
        """Call the provider with a composed message (see `call`); return the outcome."""
        provider = self.providers[channel]
        try:
            provider_id = provider.send(message)
        except ProviderUnavailable as exc:
            finish(gate, notification_id, channel, "retry", error_code=exc.code)
            raise
        except ProviderRefused as exc:
            finish(gate, notification_id, channel, "failed", provider.name, p, error_code=exc.code)
            return "failed"
        except OutcomeUnknown as exc:
            log.warning("send outcome unknown; not repeating", extra={
                "notification_id": notification_id, "channel": channel, "error": str(exc)})
            finish(gate, notification_id, channel, "unknown", provider.name, error_code=exc.code or "timeout")
            return "unknown"
        finish(gate, notification_id, channel, "sent", provider.name, p, provider_message_id=provider_id)
        log.info("message sent", extra={"notification_id": notification_id, "channel": channel,
                                        "provider": provider.name, "provider_message_id": provider_id})
        return "sent"

    def _compose(self, notification_id: str, channel: str, p: dict, wording_seen: object = None) -> Sms | Email:
        # A letter stage's email carries its PDF, which is also kept for printing.
        if channel == "sms":
            return self.composer.sms(notification_id, p, wording_seen)
        return self.composer.email(notification_id, p, wording_seen)

    def _finish(self, gate: Gate, notification_id: str, channel: str, status: str, provider: str | None = None,
                p: dict | None = None, **fields) -> None:
        with self.engine.begin() as connection:
            self.settle(connection, gate, notification_id, channel, status, provider, p, **fields)
        metrics.record_send(channel, self.providers.get(channel, provider), status)  # /metrics (ops)

    def settle(self, connection: Connection, gate: Gate, notification_id: str, channel: str, status: str,
               provider: str | None = None, p: dict | None = None, **fields) -> None:
        """Record one send's outcome: ledger, waiting row, and the event for cases."""
        ledger.record(connection, notification_id, channel, status, provider=provider, **fields)
        gate.settle(connection, status, fields.get("error_code"))
        if status == "sent":
            add_to_outbox(connection, outbox, sent_event(notification_id, channel, p, provider,
                                                         fields["provider_message_id"]))
        elif status == "failed":
            add_to_outbox(connection, outbox, new_event("message.failed", {
                "notification_id": notification_id, "case_id": p["case_id"], "channel": channel,
                "provider": provider, "error_code": fields.get("error_code"), "permanent": True,
                "address": _address(channel, p),
            }))
            if fields.get("error_code") in suppression.OPT_OUT_CODES and _address(channel, p):
                # The carrier says the owner opted out: stop this number on our side too.
                now = datetime.now(UTC)
                suppression.change(connection, channel, _address(channel, p), True,
                                   f"provider_{fields['error_code']}", now, now)


def sent_event(notification_id: str, channel: str, p: dict, provider: str, provider_message_id: str) -> Envelope:
    """`message.sent`, built from values that already passed their schemas: not validated again.

    Once per send, on the hot path. Every value comes from a validated request (`p`), the ledger
    or the provider's answer; the payload is exactly what the schema would dump (tests decode it).
    """
    return trusted_event("message.sent", {
        "notification_id": notification_id, "case_id": p["case_id"], "channel": channel,
        "provider": provider, "provider_message_id": provider_message_id,
        "address": _address(channel, p), "sent_at": datetime.now(UTC).isoformat(),
    })


def _address(channel: str, p: dict) -> str | None:
    recipient = p["recipient"]
    return recipient["phone"] if channel == "sms" else recipient["email"] if channel == "email" else None
