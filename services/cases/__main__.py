"""cases command line: `python -m services.cases migrate|worker|token|create-admin|demo|dlq`."""
from __future__ import annotations

import argparse
from pathlib import Path

from services.cases.config import load_settings
from shared.db import make_engine
from shared.logs import configure_logging
from shared.migrations import upgrade


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m services.cases")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="bring the cases database to the newest schema")
    commands.add_parser("worker", help="consume events and relay the outbox")
    token = commands.add_parser("token", help="issue a staff token")
    token.add_argument("--sub", required=True, help="who the token is for")
    token.add_argument("--role", default="admin", choices=("collector", "supervisor", "manager", "admin"))
    token.add_argument("--community", action="append", default=[], help="repeat for each community")
    admin = commands.add_parser("create-admin", help="create an admin; prints its password once, and a token")
    admin.add_argument("--username", required=True)
    admin.add_argument("--name", help="the person's name (default: the username)")
    commands.add_parser("demo", help="load a little demo data (idempotent)")
    add_dead_letter_commands(commands)
    args = parser.parse_args(argv)

    settings = load_settings()
    configure_logging("cases", settings.log_level)
    if args.command == "migrate":
        upgrade(Path(__file__).parent / "migrations", settings.cases_database_url)
    elif args.command == "worker":
        from services.cases.handlers import EVENT_HANDLERS
        from services.cases.schedule import run_clock
        from services.cases.tables import inbox, outbox
        from shared.dispatch import InboxDispatcher
        from shared.worker import run_worker

        engine = make_engine(settings.cases_database_url)
        run_worker(settings, "cases", engine, outbox, InboxDispatcher(engine, inbox, EVENT_HANDLERS),
                   background=(run_clock(engine),))
    elif args.command == "token":
        from shared.auth import issue_token

        print(issue_token(settings.secret_key, args.sub, args.role, args.community))
    elif args.command == "create-admin":
        create_admin(settings, args.username, args.name or args.username)
    elif args.command == "demo":
        from services.cases.demo import load_demo

        load_demo(make_engine(settings.cases_database_url), password_file=demo_password_file(settings))
    elif args.command == "dlq":
        dead_letter_command(settings, args)


def demo_password_file(settings) -> Path:
    """Where `demo` keeps the demo manager's made-up password (make run prints it)."""
    return Path(settings.data_dir) / "demo-manager.password"


def create_admin(settings, username: str, name: str) -> None:
    """Create the first admin (refusing a username that exists) and print its password once."""
    from datetime import UTC, datetime

    from services.cases import people
    from shared.auth import issue_token

    password = people.new_password()
    engine = make_engine(settings.cases_database_url)
    try:
        with engine.begin() as connection:
            staff_id = people.create_staff(
                connection, people.NewStaff(username, name, "admin", (), password), datetime.now(UTC))
    except people.PeopleRefused as exc:
        raise SystemExit(f"create-admin: {exc}; nothing was changed.") from None
    finally:
        engine.dispose()
    print(f"Created admin {people.normalise_username(username)} (id {staff_id}).")
    print(f"Password (shown only this once): {password}")
    print(f"Token (valid {settings.staff_token_minutes:g} min): {issue_token(settings.secret_key, staff_id, 'admin')}")


def add_dead_letter_commands(commands) -> None:
    dlq = commands.add_parser("dlq", help="dead letters: list, show, replay, purge (every use is audited)")
    actions = dlq.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="the messages in a service's dead-letter queue, masked")
    listing.add_argument("service", help="the consuming service: cases, notifier, …")
    listing.add_argument("--limit", type=int, default=100)
    show = actions.add_parser("show", help="one dead message, masked, with its x-death")
    show.add_argument("service")
    show.add_argument("message_id")
    replay = actions.add_parser("replay", help="send one message (or --all) back to the work queue it died in")
    replay.add_argument("service")
    which = replay.add_mutually_exclusive_group(required=True)
    which.add_argument("message_id", nargs="?")
    which.add_argument("--all", action="store_true")
    purge = actions.add_parser("purge", help="delete every message of a dead-letter queue")
    purge.add_argument("service")
    purge.add_argument("--yes", action="store_true", help="do not ask to type the queue's name")


def dead_letter_command(settings, args) -> None:
    """`dlq …`: the same tools as /api/v1/ops/dead-letters, audited with the OS user's name."""
    import getpass
    import json

    from services.cases.dead_letters import DeadLetterBox, UnknownService, audit
    from shared.queue_watch import broker_errors

    box = DeadLetterBox(settings.broker_url, settings.broker_namespace)
    try:
        queue = box.queues_of(args.service).dead.name
    except UnknownService:
        raise SystemExit(f"dlq: no service {args.service!r} has a dead-letter queue") from None
    engine = make_engine(settings.cases_database_url)
    actor = getpass.getuser()

    def record(action: str, message_id: str | None = None, affected: int = 0) -> None:
        audit(engine, actor=actor, actor_kind="os_user", action=action, queue=queue,
              message_id=message_id, affected=affected)

    try:
        if args.action == "list":
            items = box.list(args.service, args.limit)
            record("list", affected=len(items))
            for item in items:
                reason = item.death_reason or ", ".join(f"{d['reason']} in {d['queue']}" for d in item.deaths)
                print(f"{item.message_id}\t{item.type}\t{item.published_at}\t{reason}")
            print(f"{len(items)} message(s) in {queue}")
        elif args.action == "show":
            item = box.show(args.service, args.message_id)
            if item is None:
                raise SystemExit(f"dlq: no message {args.message_id} in {queue}")
            record("show", args.message_id, 1)
            print(json.dumps(item.as_dict(), ensure_ascii=False, indent=2, default=str))
        elif args.action == "replay":
            replayed = box.replay(args.service, None if args.all else args.message_id)
            if args.message_id and not replayed:
                raise SystemExit(f"dlq: no message {args.message_id} in {queue}")
            record("replay_all" if args.all else "replay", args.message_id, len(replayed))
            print(f"replayed {len(replayed)} message(s) from {queue}")
        elif args.action == "purge":
            if not args.yes and input(f"Type the queue's name ({queue}) to delete all its messages: ") != queue:
                raise SystemExit("dlq: not confirmed; nothing was purged")
            purged = box.purge(args.service)
            record("purge", affected=purged)
            print(f"purged {purged} message(s) from {queue}")
    except broker_errors() as exc:
        raise SystemExit(f"dlq: the broker is unreachable ({type(exc).__name__}: {exc}); nothing was changed") from None
    finally:
        engine.dispose()


if __name__ == "__main__":
    main()
