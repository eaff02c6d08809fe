"""python -m admin: staff accounts, API tokens, and serving the admin app.

python -m admin users add USERNAME --role ROLE [--department CODE]   (password from stdin)
python -m admin token USERNAME [--revoke]
python -m admin users unlock USERNAME          (after repeated failed logins)
python -m admin users sign-out USERNAME        (revokes every browser session)
python -m admin serve [--host H] [--port P]
"""

import argparse
import asyncio
import copy
import logging
import sys
from typing import Any

from sqlalchemy import select

from admin.accounts import AccountError, issue_token, set_account
from admin.sign_in import login_succeeded, revoke_sessions, revoke_token, utcnow
from config.settings import Settings, get_settings, private_umask
from domain.vocabulary import Role
from store.engine import make_engine, make_sessionmaker, transaction
from store.migrate import upgrade
from store.tables import Staff


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m admin")
    sub = parser.add_subparsers(dest="command", required=True)
    users = sub.add_parser("users", help="staff accounts").add_subparsers(dest="action", required=True)
    add = users.add_parser("add", help="create or update an account; the password is read from stdin")
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=[r.value for r in Role if r is not Role.SYSTEM])
    add.add_argument("--department")
    add.add_argument("--full-name")
    for name, text in (("unlock", "lift a lockout after repeated failed logins"),
                       ("sign-out", "revoke every browser session of the account")):  # fmt: skip
        users.add_parser(name, help=text).add_argument("username")
    token = sub.add_parser("token", help="issue a new API token (replaces the previous one)")
    token.add_argument("username")
    token.add_argument("--revoke", action="store_true", help="revoke the account's token instead")
    serve = sub.add_parser("serve", help="run the admin app")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    return parser


async def _accounts(args: argparse.Namespace) -> int:
    settings = get_settings()
    await upgrade(settings.effective_database_url)
    engine = make_engine(settings.effective_database_url)
    try:
        async with transaction(make_sessionmaker(engine)) as session:
            if args.command == "token" and args.revoke:
                revoked = await revoke_token(session, args.username)
                print(f"{args.username}: token revoked" if revoked else f"{args.username}: no token to revoke")
                return 0
            if args.command == "token":
                print(await issue_token(session, args.username))
                return 0
            if args.action in ("unlock", "sign-out"):
                staff = await session.scalar(select(Staff).where(Staff.username == args.username))
                if staff is None:
                    raise AccountError(f"no staff account {args.username}")
                if args.action == "unlock":
                    login_succeeded(staff)
                    print(f"{args.username}: unlocked")
                else:
                    count = await revoke_sessions(session, args.username, utcnow())
                    print(f"{args.username}: {count} sessions revoked")
                return 0
            password = sys.stdin.readline().rstrip("\n")
            department = args.department.upper() if args.department else None
            staff = await set_account(session, args.username, Role(args.role), department, password, args.full_name)
            print(f"{staff.username}: {staff.role}{' ' + staff.department_code if staff.department_code else ''}")
            return 0
    except AccountError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        await engine.dispose()


class PathWithoutQuery(logging.Filter):
    """uvicorn's access log line without the query string: a search's terms (a phone number, an
    e-mail address) are personal data and stay out of admin.log."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        # uvicorn logs (client, method, path with query, http version, status).
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            record.args = (args[0], args[1], args[2].split("?", 1)[0], args[3], args[4])
        return True


def serve_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's options for the admin app. uvicorn believes X-Forwarded-For from 127.0.0.1 by
    default, so anything on the host could name any client address (and dodge the per-address
    login throttle): only the configured proxies are believed, none by default. Access log lines
    leave out query strings."""
    from uvicorn.config import LOGGING_CONFIG

    proxies = [proxy.strip() for proxy in settings.trusted_proxies.split(",") if proxy.strip()]
    log_config = copy.deepcopy(LOGGING_CONFIG)
    log_config["filters"] = {"path_without_query": {"()": PathWithoutQuery}}
    log_config["handlers"]["access"]["filters"] = ["path_without_query"]
    return {"proxy_headers": bool(proxies), "forwarded_allow_ips": proxies or None, "log_config": log_config}


def main() -> None:
    private_umask()
    args = _parser().parse_args()
    if args.command == "serve":
        import uvicorn

        from admin.app import create_app

        settings = get_settings()
        asyncio.run(upgrade(settings.effective_database_url))
        host, port = args.host or settings.admin_host, args.port or settings.admin_port
        uvicorn.run(create_app(settings), host=host, port=port, **serve_options(settings))
        return
    sys.exit(asyncio.run(_accounts(args)))


if __name__ == "__main__":
    main()
