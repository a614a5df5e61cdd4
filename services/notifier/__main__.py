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
    commands.add_parser("worker", help="keep what is asked for, send it in its windows, relay the outbox")
    args = parser.parse_args(argv)

    settings = load_settings()
    configure_logging("notifier", settings.log_level)
    if args.command == "migrate":
        upgrade(Path(__file__).parent / "migrations", settings.notifier_database_url)
    elif args.command == "worker":
        run_notifier_worker(settings)


def run_notifier_worker(settings) -> None:
    """Consume events, dispatch due sends in their windows, and relay the outbox."""
    from services.notifier.bootstrap import bootstrap
    from services.notifier.tables import outbox
    from shared.worker import run_worker

    notifier = bootstrap(settings)
    run_worker(settings, "notifier", notifier.engine, outbox, notifier.handle,
               background=(notifier.dispatcher.run, notifier.prompt.run))

if __name__ == "__main__":
    main()
