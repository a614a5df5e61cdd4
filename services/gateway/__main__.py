"""gateway command line: `python -m services.gateway migrate|worker|demo|reply`."""
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
    commands.add_parser("worker", help="relay accepted webhook events to the bus; learn where owners live")
    commands.add_parser("demo", help="load the starter FAQ (收费答客问) if there is none (idempotent)")
    reply = commands.add_parser("reply", help="simulate an owner's text reply, signed like Twilio")
    reply.add_argument("--from", dest="sender", required=True, help="the owner's phone, E.164")
    reply.add_argument("--body", required=True)
    args = parser.parse_args(argv)

    settings = load_settings()
    configure_logging("gateway", settings.log_level)
    if args.command == "migrate":
        upgrade(Path(__file__).parent / "migrations", settings.gateway_database_url)
    elif args.command == "worker":
        from services.gateway.handlers import EVENT_HANDLERS
        from services.gateway.tables import inbox, outbox
        from shared.db import make_engine
        from shared.dispatch import InboxDispatcher
        from shared.worker import run_worker

        engine = make_engine(settings.gateway_database_url)
        run_worker(settings, "gateway", engine, outbox, InboxDispatcher(engine, inbox, EVENT_HANDLERS))
    elif args.command == "demo":
        from services.gateway.faq.starter import load_starter_faq
        from shared.db import make_engine

        load_starter_faq(make_engine(settings.gateway_database_url))
    elif args.command == "reply":
        from services.gateway.simulate import post_owner_reply

        print(post_owner_reply(settings, args.sender, args.body))


if __name__ == "__main__":
    main()
