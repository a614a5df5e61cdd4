"""The worker's loop for what does not wait for a send window: auto-replies and staff mail.

Woken as soon as a request is kept (after its inbox transaction commits), and otherwise every
`PROMPT_POLL_SECONDS` for what was deferred (quiet hours, caps, a provider that was down).
"""
from __future__ import annotations

import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Mapping

from services.notifier.autoreplies import AutoReplies
from services.notifier.staff_mail import StaffMail
from shared.config import ConfigError

log = logging.getLogger(__name__)


def load_poll_seconds(environ: Mapping[str, str] | None = None) -> float:
    raw = (os.environ if environ is None else environ).get("PROMPT_POLL_SECONDS", "").strip() or "5"
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"PROMPT_POLL_SECONDS must be a number, not {raw!r}") from None
    if value < 0.05:
        raise ConfigError(f"PROMPT_POLL_SECONDS must be at least 0.05, not {value}")
    return value


class PromptSends:
    def __init__(self, auto_replies: AutoReplies, staff_mail: StaffMail, poll_seconds: float | None = None):
        self.auto_replies = auto_replies
        self.staff_mail = staff_mail
        self.poll_seconds = poll_seconds if poll_seconds is not None else load_poll_seconds()
        self._wake = threading.Event()

    def wake(self) -> None:
        self._wake.set()

    def tick(self) -> Counter:
        outcomes = self.auto_replies.send_due()
        outcomes.update({f"staff_{k}": v for k, v in self.staff_mail.send_due().items()})
        if outcomes:
            log.info("prompt sends", extra=dict(outcomes))
        return outcomes

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            self._wake.clear()
            try:
                self.tick()
            except Exception:
                log.exception("prompt sends failed; will try again")
            deadline = time.monotonic() + self.poll_seconds
            while not stop.is_set() and time.monotonic() < deadline:
                if self._wake.wait(min(1.0, max(0.0, deadline - time.monotonic()))):
                    break
