"""Staff accounts from the command line.

    python -m bot.console.cli create-user --role clinician|admin USERNAME [--name "Full name"]
    python -m bot.console.cli set-password USERNAME
    python -m bot.console.cli disable USERNAME | enable USERNAME | unlock USERNAME
    python -m bot.console.cli list-users

Passwords are asked twice at the terminal, never given as arguments (they would be in
the shell history and the process list); `--password-stdin` reads one line from standard
input instead, for scripts. Every change is written to the audit trail.
"""
from __future__ import annotations

import argparse
import getpass
import sys

from sqlalchemy import inspect, select
from sqlalchemy.exc import SQLAlchemyError

from bot.console import audit, auth
from bot.console.models import ROLES, Staff
from bot.storage.db import engine, session


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Password again: ") != first:
        raise ValueError("The two passwords differ.")
    return first


def _staff(s, username: str) -> Staff:
    staff = auth.find_staff(s, username)
    if staff is None:
        raise ValueError(f"No account named {username!r}.")
    return staff


def _cli_audit(s, what: str, target: str, **detail) -> None:
    audit.record(s, what, username="(command line)", target=target,
                 detail={"via": "cli", **detail})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.console.cli",
                                     description="Staff accounts of the triage console.")
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create-user", help="make a new account")
    create.add_argument("username")
    create.add_argument("--role", choices=ROLES, required=True)
    create.add_argument("--name", default="", help="full name shown in the console")
    create.add_argument("--password-stdin", action="store_true")
    password = commands.add_parser("set-password", help="set a new password (ends its sessions)")
    password.add_argument("username")
    password.add_argument("--password-stdin", action="store_true")
    for name, text in (("disable", "stop an account logging in"), ("enable", "allow it again"),
                       ("unlock", "lift a lock-out after failed logins")):
        commands.add_parser(name, help=text).add_argument("username")
    commands.add_parser("list-users", help="list the accounts")
    args = parser.parse_args(argv)

    if not inspect(engine()).has_table("console_staff"):
        print("error: the console's tables are missing; run `make migrate` "
              "(alembic upgrade heads) first.", file=sys.stderr)
        return 2
    try:
        if args.command == "list-users":
            with session() as s:
                for staff in s.scalars(select(Staff).order_by(Staff.username)):
                    print(f"{staff.username}\t{staff.role}\t{'active' if staff.active else 'disabled'}"
                          f"\t{staff.display_name}")
            return 0
        secret = _password(args) if args.command in ("create-user", "set-password") else ""
        with session() as s, s.begin():
            if args.command == "create-user":
                staff = auth.create_staff(s, args.username, secret, args.role, args.name)
                _cli_audit(s, "account_create", staff.username, role=staff.role)
                done = f"Created {staff.role} account {staff.username!r}."
            else:
                staff = _staff(s, args.username)
                if args.command == "set-password":
                    auth.set_password(s, staff, secret)
                elif args.command in ("disable", "enable"):
                    auth.set_active(s, staff, args.command == "enable")
                else:
                    auth.unlock(s, staff.username)
                _cli_audit(s, "account_update", staff.username, action=args.command)
                done = f"{args.command}: {staff.username!r} done."
    except (ValueError, SQLAlchemyError) as problem:
        print(f"error: {problem}", file=sys.stderr)
        return 1
    print(done)
    return 0


if __name__ == "__main__":
    sys.exit(main())
