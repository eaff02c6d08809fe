"""The product's own processes for one scenario, started the way an operator starts them.

Everything is configured by environment variables only (``COMPLAINTS_*``, ``TEMPORAL_*``),
on free loopback ports and in the scenario's own directory, so a suite can run while another
stack (``make run``) is up. The methods are synchronous (process control); scenarios call
them through ``asyncio.to_thread``.
"""

import os
import secrets
import signal
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from config.settings import Settings
from localstack.ports import free_port
from localstack.processes import (
    ROOT,
    Launcher,
    Process,
    ProcessFailed,
    admin_command,
    clean_environ,
    mailcatcher_command,
    worker_command,
)
from localstack.temporal_server import SQLITE_WAL, dev_server_command

MAX_CRASHES = 3  # a process revived more often than this ends its scenario
# The defaults of DESIGN.md, stated explicitly so a developer's .env cannot shorten them.
DEFAULT_SLA = {
    "COMPLAINTS_SLA_RESOLUTION": "P20D",
    "COMPLAINTS_SLA_WARNING": "P15D",
    "COMPLAINTS_SLA_FIRST_RESPONSE": "P1D",
    "COMPLAINTS_SLA_REOPEN_WINDOW": "P30D",
    "COMPLAINTS_SLA_ESCALATION_REPEAT": "P1D",
    "COMPLAINTS_SLA_CALENDAR": "calendar",
}


@contextmanager
def environment(env: Mapping[str, str]) -> Iterator[None]:
    """``os.environ`` replaced by ``env`` for a moment (pydantic-settings reads it)."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


class Stack:
    """Temporal dev server, mail catcher, worker and admin app(s) of one scenario."""

    def __init__(self, directory: Path, database_url: str) -> None:
        self.directory = directory
        self.data = directory / "data"
        self.mail = directory / "mail"
        self.logs = directory / "logs"
        for path in (self.data, self.mail, self.logs):
            path.mkdir(parents=True, exist_ok=True)
        self.temporal_port, self.smtp_port, self.admin_port = free_port(), free_port(), free_port()
        self.env: dict[str, str] = (
            clean_environ()
            | DEFAULT_SLA
            | {
                "TEMPORAL_ADDRESS": f"127.0.0.1:{self.temporal_port}",
                "TEMPORAL_NAMESPACE": "default",
                "COMPLAINTS_DATABASE_URL": database_url,
                "COMPLAINTS_DATA_DIR": str(self.data),
                "COMPLAINTS_TASK_QUEUE": "complaints",
                "COMPLAINTS_SMTP_HOST": "127.0.0.1",
                "COMPLAINTS_SMTP_PORT": str(self.smtp_port),
                "COMPLAINTS_ADMIN_HOST": "127.0.0.1",
                "COMPLAINTS_ADMIN_PORT": str(self.admin_port),
                "COMPLAINTS_DEMO_ACCOUNTS": "false",
                "COMPLAINTS_SECRET_KEY": secrets.token_urlsafe(32),
                "PYTHONUNBUFFERED": "1",
            }
        )
        self.launcher = Launcher(self.logs, self.env)
        # Restarted on the same file: WAL keeps it durable across the kills and restarts injected here.
        server = dev_server_command(self.temporal_port, db_file=directory / "temporal.db", sqlite_pragmas=SQLITE_WAL)
        self.temporal = self.launcher.add("temporal", server, port=self.temporal_port)
        catcher = mailcatcher_command("127.0.0.1", self.smtp_port, self.mail)
        self.catcher = self.launcher.add("mailcatcher", catcher, port=self.smtp_port)
        self.worker = self.launcher.add("worker", worker_command())
        self.admins: dict[str, Process] = {}
        self.add_admin("admin", self.admin_port, {})

    def add_admin(self, name: str, port: int, extra_env: dict[str, str]) -> None:
        """Another admin process (admins scale out); ``extra_env`` e.g. its own SLA settings."""
        env = self.env | extra_env | {"COMPLAINTS_ADMIN_PORT": str(port)}
        self.admins[name] = self.launcher.add(name, admin_command(), port=port, env=env)

    def settings(self) -> Settings:
        """The settings every process of the stack sees (same environment, same working directory)."""
        with environment(self.env):
            return Settings(_env_file=ROOT / ".env")

    # --- the parts ---

    def start_temporal(self) -> None:
        self.temporal.start(ready_within=60)

    def stop_temporal(self) -> None:
        self.temporal.stop(signal.SIGTERM, timeout=30)

    def start_catcher(self) -> None:
        self.catcher.start(ready_within=30)

    def stop_catcher(self) -> None:
        self.catcher.stop(signal.SIGTERM, timeout=20)

    def start_worker(self) -> None:
        self.worker.start()

    def kill_worker(self) -> None:
        self.worker.kill()

    def start_services(self) -> None:
        """Mail catcher, worker and admin(s) together (they only need the Temporal server)."""
        self.catcher.start()
        self.worker.start()
        for process in self.admins.values():
            process.start()
        self.catcher.wait_ready(30)
        for process in self.admins.values():
            process.wait_ready(90)

    def admin_url(self, name: str = "admin") -> str:
        return f"http://127.0.0.1:{self.admins[name].port}"

    def revive(self) -> list[str]:
        """Start again what exited on its own (recorded by the caller as a crash); a process that
        keeps crashing ends the scenario."""
        crashed = []
        for process in self.launcher.crashed():
            crashed.append(f"{process.name} exited with {process.returncode} (see {process.log_path})")
            process.crashes += 1
            if process.crashes > MAX_CRASHES:
                raise ProcessFailed(f"{process.name} keeps crashing; see {process.log_path}")
            process.start()
        return crashed

    def stop_all(self) -> None:
        self.launcher.stop_all(signal.SIGTERM, timeout=40)  # clients first, the server last
