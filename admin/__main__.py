"""python -m admin: staff accounts, API tokens, and serving the admin app.

python -m admin users add USERNAME --role ROLE [--department CODE]   (password from stdin)
python -m admin token USERNAME [--revoke]
python -m admin users sign-out USERNAME        (revokes every browser session)
python -m admin serve [--host H] [--port P]
"""

import argparse
import asyncio
import sys

from sqlalchemy import select

from admin.accounts import AccountError, issue_token, set_account
from admin.sign_in import revoke_sessions, revoke_token, utcnow
from config.settings import get_settings
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
    users.add_parser("sign-out", help="revoke every browser session of the account").add_argument("username")
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
            if args.action == "sign-out":
                staff = await session.scalar(select(Staff).where(Staff.username == args.username))
                if staff is None:
                    raise AccountError(f"no staff account {args.username}")
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


def main() -> None:
    args = _parser().parse_args()
    if args.command == "serve":
        import uvicorn

        from admin.app import create_app

        settings = get_settings()
        asyncio.run(upgrade(settings.effective_database_url))
        uvicorn.run(create_app(settings), host=args.host or settings.admin_host, port=args.port or settings.admin_port)
        return
    sys.exit(asyncio.run(_accounts(args)))


if __name__ == "__main__":
    main()
