"""Wire the notifier's worker from settings: real adapters by default, fakes where a test passes them."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine

from services.notifier.calendar import DaysOff
from services.notifier.calendars import CalendarBook
from services.notifier.config import SendingRules, load_rules
from services.notifier.dispatcher import Dispatcher, utc_now
from services.notifier.governor import ContactGovernor
from services.notifier.handlers import Scheduling, event_handler
from services.notifier.providers import email_provider, sms_provider
from services.notifier.public_holidays import PublicHolidays
from services.notifier.sending import ReminderSender
from shared.config import Settings
from shared.db import make_engine
from shared.envelope import Envelope


@dataclass(frozen=True)
class Notifier:
    engine: Engine
    sender: ReminderSender
    dispatcher: Dispatcher
    handle: Callable[[Envelope], None]


def bootstrap(settings: Settings, rules: SendingRules | None = None, *, engine: Engine | None = None,
              sms=None, email=None, days_off: DaysOff | None = None,
              clock: Callable[[], datetime] = utc_now) -> Notifier:
    rules = rules or load_rules()
    engine = engine or make_engine(settings.notifier_database_url)
    book = CalendarBook(days_off or PublicHolidays(), rules.window_minutes)
    sender = ReminderSender(engine, sms or sms_provider(settings), email or email_provider(settings),
                            settings.gateway_public_url)
    dispatcher = Dispatcher(engine, sender, book, ContactGovernor(rules.caps), rules, clock)
    handle = event_handler(engine, Scheduling(book, rules, clock), wake=dispatcher.wake)
    return Notifier(engine, sender, dispatcher, handle)
