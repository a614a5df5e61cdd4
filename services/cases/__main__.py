"""cases command line: `python -m services.cases migrate|worker|token|create-admin|demo`."""
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

        load_demo(make_engine(settings.cases_database_url))


def create_admin(settings, username: str, name: str) -> None:
    """Create the first admin (refusing a username that exists) and print its password once."""
    from datetime import UTC, datetime

    from services.cases import people
    from shared.auth import TOKEN_MAX_AGE, issue_token

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
    print(f"Token (valid {TOKEN_MAX_AGE // 3600} h): {issue_token(settings.secret_key, staff_id, 'admin')}")


if __name__ == "__main__":
    main()
