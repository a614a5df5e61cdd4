"""gateway command line: `python -m services.gateway migrate|worker|reply`."""
from __future__ import annotations

import argparse
from pathlib import Path

from services.gateway.config import load_settings
from shared.logs import configure_logging
from shared.migrations import upgrade


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m services.gateway")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="bring the gateway database to the newest schema")
    commands.add_parser("worker", help="relay accepted webhook events to the bus")
    reply = commands.add_parser("reply", help="simulate an owner's text reply, signed like Twilio")
    reply.add_argument("--from", dest="sender", required=True, help="the owner's phone, E.164")
    reply.add_argument("--body", required=True)
    args = parser.parse_args(argv)

    settings = load_settings()
    configure_logging("gateway", settings.log_level)
    if args.command == "migrate":
        upgrade(Path(__file__).parent / "migrations", settings.gateway_database_url)
    elif args.command == "worker":
        from services.gateway.tables import outbox
        from shared.db import make_engine
        from shared.worker import run_worker

        run_worker(settings, "gateway", make_engine(settings.gateway_database_url), outbox, None)
    elif args.command == "reply":
        from services.gateway.simulate import post_owner_reply

        print(post_owner_reply(settings, args.sender, args.body))


if __name__ == "__main__":
    main()
