"""End to end on the real dev server: the worker and the starter as real processes, a real
SQLite file (and PostgreSQL), a real SMTP server. The worker is killed with SIGKILL in the
middle of the journey and replaced; nothing is lost and no mail is sent twice."""

import asyncio
import base64
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from admin.accounts import issue_token, set_account
from config.settings import Settings
from domain.models import ComplaintState
from domain.vocabulary import Role, Stage
from localstack.mailcatcher import MailCatcher
from localstack.ports import free_port, wait_for_port
from store.engine import make_engine, make_sessionmaker, transaction
from store.migrate import upgrade
from temporal_client.connection import data_converter
from tests.journey import CS
from tests.scratch_postgres import scratch_database

ROOT = Path(__file__).resolve().parent.parent
FINAL = {"sent", "sent_unconfirmed"}


# A killed worker's step is retried after this, not after the production 15 s.
STEP_TIMEOUT = "PT3S"
BOTH_STORES = pytest.mark.parametrize("store_url", ["sqlite", "postgresql"], indirect=True)


@pytest.fixture
async def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """SQLite unless a test asks for both stores (the kill test); PostgreSQL in a database of its own."""
    if getattr(request, "param", "sqlite") == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'complaints.db'}"
        await upgrade(url)
        yield url
        return
    async with scratch_database("e2e") as url:
        await upgrade(url)
        yield url


class Processes:
    """The product's own processes, started the way an operator starts them."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env, self.logs = env, logs
        self.workers: list[subprocess.Popen[bytes]] = []

    def start_worker(self) -> subprocess.Popen[bytes]:
        log = (self.logs / f"worker-{len(self.workers)}.log").open("wb")
        proc = subprocess.Popen([sys.executable, "worker.py"], cwd=ROOT, env=self.env, stdout=log, stderr=log)
        self.workers.append(proc)
        return proc

    def kill_worker(self) -> None:
        proc = self.workers[-1]
        proc.send_signal(signal.SIGKILL)
        proc.wait()

    def starter(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "starter.py", *args], cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=60
        )

    def stop(self) -> None:
        for proc in self.workers:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()


@pytest.fixture
def processes(dev_env: Any, catcher: MailCatcher, store_url: str, tmp_path: Path) -> Iterator[Processes]:
    env = os.environ | {
        "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "TEMPORAL_NAMESPACE": "default",
        "COMPLAINTS_DATABASE_URL": store_url,
        "COMPLAINTS_TASK_QUEUE": f"e2e-{uuid.uuid4()}",
        "COMPLAINTS_SMTP_HOST": "127.0.0.1",
        "COMPLAINTS_SMTP_PORT": str(catcher.port),
        "COMPLAINTS_DATA_DIR": str(tmp_path),
        "COMPLAINTS_STEP_TIMEOUT": STEP_TIMEOUT,
        # and a task held by a killed worker goes to the next one after 2 s, not Temporal's 10 s
        "COMPLAINTS_WORKFLOW_TASK_TIMEOUT": "PT2S",
        "COMPLAINTS_STICKY_QUEUE_TIMEOUT": "PT2S",
    }
    procs = Processes(env, tmp_path)
    yield procs
    procs.stop()


async def product_client(dev_env: Any, store_url: str) -> tuple[Client, AsyncEngine]:
    """A client with the product's codec (complaints' data keys from the store), as the admin
    and the starter have it: the test server's own client has no store, so it cannot read what
    the real worker writes under a complaint's data key."""
    engine = make_engine(store_url)
    converter = data_converter(Settings(database_url=store_url), make_sessionmaker(engine))
    address = dev_env.client.service_client.config.target_host
    return await Client.connect(address, data_converter=converter), engine


async def wait_for(client: Client, cid: str, predicate: Any, timeout: float = 60) -> ComplaintState:
    handle = client.get_workflow_handle(cid)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    state: ComplaintState | None = None
    while True:
        try:
            state = await handle.query("state", result_type=ComplaintState)
        except RPCError:
            # Right after a worker is killed a query can time out on its dead sticky queue
            # until the server hands the workflow to the new worker: ask again.
            state = None
        if state is not None and predicate(state):
            return state
        if loop.time() > deadline:
            seen = f"stage {state.stage}, log {[e.action for e in state.log]}" if state else "no answer"
            raise AssertionError(f"{cid} did not get there: {seen}")
        await asyncio.sleep(0.2)


def cuts_in(events: list[HistoryEvent]) -> list[str]:
    """What the kills did, read from the history: an activity run again after its attempt on a
    dead worker timed out, or a workflow task that timed out on a dead worker."""
    cuts: list[str] = []
    for event in events:
        if event.HasField("activity_task_started_event_attributes"):
            started = event.activity_task_started_event_attributes
            if started.attempt > 1 and started.last_failure.HasField("timeout_failure_info"):
                cuts.append(f"event {event.event_id}: activity attempt {started.attempt} after a timeout")
        elif event.HasField("workflow_task_timed_out_event_attributes"):
            cuts.append(f"event {event.event_id}: workflow task timed out")
    return cuts


async def test_starter_refiles_nothing_and_reports_bad_input(
    dev_env: WorkflowEnvironment, processes: Processes, tmp_path: Path
) -> None:
    processes.start_worker()
    key = f"<{uuid.uuid4()}@mail>"
    args = [
        "file",
        "--channel",
        "phone",
        "--name",
        "Lê Văn Cường",
        "--phone",
        "0912345678",
        "--body",
        "Gọi tổng đài không được",
    ]
    first, again = processes.starter(*args, "--key", key), processes.starter(*args, "--key", key)
    assert first.returncode == 0 and again.returncode == 0
    assert first.stdout == again.stdout and "already filed" in again.stderr

    bad = processes.starter("file", "--channel", "email", "--name", "X", "--body", "no email given")
    assert bad.returncode == 2 and "email" in bad.stderr and "Traceback" not in bad.stderr
    unknown = processes.starter("status", "KN-ZZZZZZ")
    assert unknown.returncode == 1, unknown.stderr
    assert "KN-ZZZZZZ" in unknown.stderr and "Traceback" not in unknown.stderr

    batch = tmp_path / "batch.csv"
    tag = uuid.uuid4().hex[:8]  # the server is shared by the tests: rows unique to this one
    batch.write_text(
        "channel,name,email,phone,subject,body\n"
        f"email,Phạm Minh,minh@example.vn,,Chậm {tag},Mạng chậm buổi tối\n"
        f"phone,Đỗ Lan,,0987654321,Cước {tag},Bị trừ tiền hai lần\n"
        f"email,Không Email,,,Lỗi {tag},Thiếu địa chỉ email\n",
        encoding="utf-8",
    )
    run1, run2 = processes.starter("import", str(batch)), processes.starter("import", str(batch))
    assert "2 filed, 0 already filed, 1 not filed" in run1.stdout, run1.stdout + run1.stderr
    assert "0 filed, 2 already filed, 1 not filed" in run2.stdout
    assert "row 3" in run2.stderr and "Traceback" not in run2.stderr

    as_json = tmp_path / "batch.json"
    as_json.write_text(json.dumps([{"channel": "livechat", "customer": {"name": "Vũ Hà"}, "body": f"Chat ngắt {tag}"}]))
    assert "1 filed" in processes.starter("import", str(as_json)).stdout
    assert "0 filed, 1 already filed" in processes.starter("import", str(as_json)).stdout


def _payload_texts(history_json: str) -> str:
    """Every payload's data in `temporal workflow show -o json`, base64-decoded."""
    texts: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("data"), str) and "metadata" in node:
                texts.append(base64.b64decode(node["data"]).decode(errors="replace"))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(json.loads(history_json))
    return "\n".join(texts)


async def test_the_stock_cli_reads_through_the_codec_and_decisions_go_through_the_starter(
    dev_env: WorkflowEnvironment, processes: Processes, store_url: str
) -> None:
    """Operators read complaints with the stock CLI through the admin's codec endpoint (a staff
    token), but cannot decide with it (issue 12: the codec does not encode, and a payload the
    product did not write is refused); they decide with `starter.py decide --as`."""
    processes.start_worker()
    engine = make_engine(store_url)
    async with transaction(make_sessionmaker(engine)) as session:
        await set_account(session, "lan.cs", Role.CS_AGENT, "CS", "mật-khẩu-cli-1")
        token = await issue_token(session, "lan.cs")
    await engine.dispose()
    client, keys_engine = await product_client(dev_env, store_url)
    port = free_port()
    env = processes.env | {"COMPLAINTS_ADMIN_PORT": str(port), "COMPLAINTS_DEMO_ACCOUNTS": "false"}
    admin = subprocess.Popen([sys.executable, "-m", "admin", "serve"], cwd=ROOT, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        await asyncio.to_thread(wait_for_port, port, timeout=60)
        filed = processes.starter("file", "--channel", "livechat", "--name", "Hồ Quang", "--body", "Website báo lỗi")
        cid = filed.stdout.strip()
        await wait_for(client, cid, lambda s: s.log[-1].action == "receive")
        temporal = str(Path(sys.executable).parent / "temporal")
        address = processes.env["TEMPORAL_ADDRESS"]
        payload = json.dumps({"actor": CS.model_dump(mode="json"), "summary": "Lỗi website", "category": "technical"})
        command = [temporal, "workflow", "update", "execute", "--address", address, "--workflow-id", cid,
                   "--name", "verify", "--input", payload]  # fmt: skip
        codec = ["--codec-endpoint", f"http://127.0.0.1:{port}/codec", "--codec-auth", f"Bearer {token}"]
        # Plain, as anyone who reaches the frontend can send it: refused. (Through the codec the
        # CLI gets 403 from /codec/encode and retries it until interrupted: nothing is sent.)
        done = await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True, timeout=60)
        assert done.returncode != 0, done.stdout
        assert (await wait_for(client, cid, lambda s: True)).stage is Stage.RECEIVED
        decided = processes.starter("decide", cid, "verify", "--as", "lan.cs", "--input",
                                    json.dumps({"summary": "Lỗi website", "category": "technical"}))  # fmt: skip
        assert decided.returncode == 0, decided.stderr
        # Reading needs no encoding: the history, decoded for a staff member in scope.
        query = [temporal, "workflow", "show", "--address", address, "--workflow-id", cid, "--output", "json"]
        read = await asyncio.to_thread(subprocess.run, query + codec, capture_output=True, text=True, timeout=60)
        assert read.returncode == 0 and "Hồ Quang" in _payload_texts(read.stdout), read.stderr  # decoded for staff
        without = await asyncio.to_thread(subprocess.run, query, capture_output=True, text=True, timeout=60)
        assert "Hồ Quang" not in _payload_texts(without.stdout) + without.stderr  # no key, no personal data
        again = processes.starter("decide", cid, "verify", "--as", "lan.cs", "--input",
                                  json.dumps({"summary": "Lỗi website", "category": "technical"}))  # fmt: skip
        assert again.returncode == 1 and "Traceback" not in again.stderr, again.stderr  # the workflow's refusal
        state = await wait_for(client, cid, lambda s: s.department is not None)
        assert (state.stage, state.department) == (Stage.IN_PROGRESS, "TECH")
        assert state.log[1].actor.user == "lan.cs"
    finally:
        admin.terminate()
        admin.wait(timeout=30)
        await keys_engine.dispose()
