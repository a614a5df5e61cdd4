"""Wire the notifier's worker from settings: real adapters by default, fakes where a test passes them."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine

from services.notifier.autoreplies import AutoReplies
from services.notifier.autoreplies import expires_after as autoreply_lifetime
from services.notifier.breaker import BreakerRules, breaker_states, guarded, load_breaker_rules
from services.notifier.calendar import DaysOff
from services.notifier.calendars import CalendarBook
from services.notifier.config import SendingRules, load_rules
from services.notifier.dispatcher import Dispatcher, load_concurrency, utc_now
from services.notifier.governor import ContactGovernor
from services.notifier.handlers import Scheduling, event_handler
from services.notifier.prompt_sends import PromptSends
from services.notifier.providers import email_provider, sms_provider
from services.notifier.public_holidays import PublicHolidays
from services.notifier.reconcile import Reconciler
from services.notifier.reconcile import reconcile_after as load_reconcile_after
from services.notifier.sending import ReminderSender
from services.notifier.staff_mail import StaffMail
from shared.config import Settings
from shared.db import make_engine
from shared.envelope import Envelope


@dataclass(frozen=True)
class Notifier:
    engine: Engine
    sender: ReminderSender
    dispatcher: Dispatcher
    handle: Callable[[Envelope], None]
    prompt: PromptSends | None = None  # auto-replies and staff mail: not in send windows

    def circuits(self) -> dict[str, dict]:
        """Each provider's circuit breaker, for ops (issue 6 puts it on /metrics)."""
        return breaker_states(self.sender.providers.values())


def bootstrap(settings: Settings, rules: SendingRules | None = None, *, engine: Engine | None = None,
              sms=None, email=None, days_off: DaysOff | None = None,
              clock: Callable[[], datetime] = utc_now, breakers: BreakerRules | None = None,
              reconcile_after: timedelta | None = None, concurrency: int | None = None) -> Notifier:
    rules = rules or load_rules()
    breakers = breakers or load_breaker_rules()
    concurrency = concurrency or load_concurrency()
    # A dispatch worker holds a connection only for its short claim and settle transactions,
    # never across the provider call; one each, plus the dispatcher's own reads and the event
    # consumer's, means no worker ever waits for the pool.
    engine = engine or make_engine(settings.notifier_database_url, pool_size=concurrency + 2)
    book = CalendarBook(days_off or PublicHolidays(), rules.window_minutes)
    # Each provider behind its own circuit breaker: one that is down is not hammered.
    sender = ReminderSender(engine, guarded(sms or sms_provider(settings, concurrency), breakers),
                            guarded(email or email_provider(settings), breakers), settings.gateway_public_url,
                            settings=settings)
    reconciler = Reconciler(reconcile_after or load_reconcile_after())
    dispatcher = Dispatcher(engine, sender, book, ContactGovernor(rules.caps), rules, clock, reconciler,
                            concurrency)
    governor = ContactGovernor(rules.caps)
    prompt = PromptSends(AutoReplies(engine, sender.providers, sender.composer, book, governor, rules, clock,
                                     getattr(dispatcher, "pacers", None)),
                         StaffMail(engine, sender.providers, clock))
    handle = event_handler(engine, Scheduling(book, rules, clock, sender.composer, autoreply_lifetime()),
                           wake=dispatcher.wake, wake_prompt=prompt.wake)
    return Notifier(engine, sender, dispatcher, handle, prompt)
