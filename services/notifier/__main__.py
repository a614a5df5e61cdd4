"""notifier command line: `python -m services.notifier migrate|worker`."""
from __future__ import annotations

import argparse
from pathlib import Path

from services.notifier.config import load_settings
from shared.logs import configure_logging
from shared.migrations import upgrade


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m services.notifier")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="bring the notifier database to the newest schema")
    commands.add_parser("worker", help="send what is asked for and relay the outbox")
    args = parser.parse_args(argv)

    settings = load_settings()
    configure_logging("notifier", settings.log_level)
    if args.command == "migrate":
        upgrade(Path(__file__).parent / "migrations", settings.notifier_database_url)
    elif args.command == "worker":
        from services.notifier.handlers import event_handler
        from services.notifier.providers import email_provider, sms_provider
        from services.notifier.sending import ReminderSender
        from services.notifier.tables import outbox
        from shared.db import make_engine
        from shared.worker import run_worker

        engine = make_engine(settings.notifier_database_url)
        sender = ReminderSender(engine, sms_provider(settings), email_provider(settings),
                                settings.gateway_public_url)
        run_worker(settings, "notifier", engine, outbox, event_handler(engine, sender))


if __name__ == "__main__":
    main()
