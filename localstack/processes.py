"""The product's processes (dev server, mail catcher, worker, admin) started the way an operator
starts them, each with its own log, and stopped again: what `make run`, `make faults` and
`make bench` launch. The methods are synchronous (process control)."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, TracebackType
from typing import IO, Self

from localstack.ports import LOOPBACK, port_open, wait_for_port

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
# Variables a developer's shell may carry that would point our processes elsewhere.
SETTING_PREFIXES = ("COMPLAINTS_", "TEMPORAL_")
LOG_TAIL = 3000  # characters of a log quoted when its process fails


class ProcessFailed(RuntimeError):
    pass


def clean_environ() -> dict[str, str]:
    """This process's environment without our settings (``COMPLAINTS_*``, ``TEMPORAL_*``)."""
    return {k: v for k, v in os.environ.items() if not k.startswith(SETTING_PREFIXES)}


def worker_command() -> list[str]:
    return [PYTHON, str(ROOT / "worker.py")]


def admin_command() -> list[str]:
    return [PYTHON, "-m", "admin", "serve"]


def smtp_gateway_command() -> list[str]:
    return [PYTHON, "-m", "intake.smtp_gateway"]


def mailcatcher_command(host: str, port: int, directory: Path) -> list[str]:
    return [PYTHON, "-m", "localstack.mailcatcher", "--host", host, "--port", str(port), "--dir", str(directory)]


@dataclass
class Process:
    """One process that can be started, stopped, killed and started again; its output goes to
    ``log_path``, appended, one header per start."""

    name: str
    args: list[str]
    log_path: Path
    env: Mapping[str, str] | None = None  # None: this process's environment
    cwd: Path = ROOT
    port: int | None = None  # the port it listens on, if any
    host: str = LOOPBACK
    popen: subprocess.Popen[bytes] | None = None
    starts: int = 0
    crashes: int = 0
    wanted: bool = False  # started and not stopped on purpose since
    _log: IO[bytes] | None = field(default=None, repr=False)

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    @property
    def pid(self) -> int:
        assert self.popen is not None, f"{self.name} was never started"
        return self.popen.pid

    @property
    def returncode(self) -> int | None:
        """None while it runs (or before it first started)."""
        return None if self.popen is None else self.popen.poll()

    @property
    def exited_by_itself(self) -> bool:
        """Started, not stopped on purpose, and no longer running: a crash."""
        return self.wanted and self.returncode is not None

    def start(self, ready_within: float | None = None) -> None:
        """With ``ready_within``, return once it listens on its port (see ``wait_ready``)."""
        if self.alive:
            raise ProcessFailed(f"{self.name} is already running")
        if self.port is not None and port_open(self.port, self.host):
            raise ProcessFailed(f"{self.name}: port {self.port} is taken by another process")
        self._close_log()
        self._log = self.log_path.open("ab")
        self._log.write(f"\n===== start {self.starts + 1} at {time.strftime('%H:%M:%S')} =====\n".encode())
        self._log.flush()
        # A session of its own: a Ctrl-C in the terminal reaches only the launcher, which stops these in order.
        self.popen = subprocess.Popen(
            self.args,
            cwd=self.cwd,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.starts += 1
        self.wanted = True
        if ready_within is not None:
            self.wait_ready(ready_within)

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

    def check_alive(self) -> None:
        """Raises, quoting the end of its log, if it has exited."""
        if self.popen is not None and self.popen.poll() is not None:
            tail = self.log_path.read_text(errors="replace")[-LOG_TAIL:] if self.log_path.exists() else ""
            raise ProcessFailed(f"{self.name} exited with {self.popen.returncode}; log {self.log_path}:\n{tail}")

    def wait_ready(self, timeout: float = 60) -> None:
        """Until it listens on its port, and is still running then (not someone else's listener)."""
        assert self.port is not None, f"{self.name} listens on no port"
        try:
            wait_for_port(self.port, self.host, timeout, check=self.check_alive)
        except TimeoutError as exc:
            raise ProcessFailed(f"{self.name}: {exc}; see {self.log_path}") from exc
        time.sleep(0.2)
        self.check_alive()


class Launcher:
    """Processes sharing a log directory, an environment and a working directory; stopped in the
    reverse of the order they were added (clients before the server they use)."""

    def __init__(self, logs: Path, env: Mapping[str, str] | None = None, cwd: Path = ROOT) -> None:
        logs.mkdir(parents=True, exist_ok=True)
        self.logs, self.env, self.cwd = logs, env, cwd
        self.processes: list[Process] = []

    def add(
        self,
        name: str,
        args: list[str],
        *,
        port: int | None = None,
        host: str = LOOPBACK,
        env: Mapping[str, str] | None = None,
    ) -> Process:
        """A process ready to start (not started)."""
        process = Process(name, args, self.logs / f"{name}.log", env or self.env, self.cwd, port, host)
        self.processes.append(process)
        return process

    def crashed(self) -> list[Process]:
        return [process for process in self.processes if process.exited_by_itself]

    def stop(self, process: Process, sig: signal.Signals = signal.SIGTERM, timeout: float = 40) -> None:
        """Stop one process and forget it."""
        process.stop(sig, timeout)
        if process in self.processes:
            self.processes.remove(process)

    def stop_all(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 40) -> None:
        for process in reversed(self.processes):
            try:
                process.stop(sig, timeout)
            except Exception as exc:  # keep stopping the others
                print(f"could not stop {process.name}: {exc}", file=sys.stderr)


def run_command_beside(command: list[str], env: dict[str, str]) -> int:
    """Run ``command`` with ``env`` while a throwaway server runs, and return its exit status
    (128+N for signal N). Ctrl-C reaches the child from the terminal (same process group): it
    ends in its own way (pytest prints its summary) and the caller cleans up after it; a TERM
    aimed at us is passed on."""
    child = subprocess.Popen(command, env=env)

    def forward(signum: int, _: FrameType | None) -> None:
        child.send_signal(signum)

    previous = {sig: signal.signal(sig, handler) for sig, handler in
                ((signal.SIGINT, signal.SIG_IGN), (signal.SIGTERM, forward))}  # fmt: skip
    try:
        returncode = child.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return returncode if returncode >= 0 else 128 - returncode


class Throwaway:
    """A throwaway server as a context manager: ``create`` on entry (``remove`` if that fails
    half-way), ``remove`` on exit. Subclasses define both."""

    def create(self) -> object:
        raise NotImplementedError

    def remove(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        try:
            self.create()
        except BaseException:
            self.remove()
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.remove()
