"""Audit that outlives retention, on the real dev server with a real worker and SQLite file:

- no personal data in clear in Temporal's history (the payload codec);
- the full history archived when the workflow completes, and by the catch-up sweep;
- after Temporal has deleted the workflow, the complaint, its audit trail and the export
  still come from the store;
- the complaint log is append-only (database triggers) and tamper-evident (``verify-log``);
- ``reconcile`` repairs corrupted store rows;
- a manager's personal data request anonymises the store and the chain still verifies.
"""

import asyncio
import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.history.v1 import History
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.client import Client, WorkflowHistory
from temporalio.service import RPCError, RPCStatusCode

from admin.accounts import issue_token, set_account
from admin.app import create_app
from config.settings import Settings
from domain.data_requests import REDACTED
from domain.models import ComplaintState
from domain.vocabulary import Role
from encryption.payload_codec import ENCODING, SCOPED
from localstack.mailcatcher import MailCatcher
from ops.reconcile import differences
from store.engine import make_engine, make_sessionmaker, transaction
from store.migrate import upgrade
from store.projection import complaint_values, project_complaint
from store.tables import Complaint, ComplaintLog, DataRequest, HistoryArchive, Lesson, Letter, OutboxMail
from temporal_client.histories import _payloads_in
from tests.journey import running_worker

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "mật-khẩu-kiểm-toán-1"
USERS = {
    "lan.cs": (Role.CS_AGENT, "CS"),
    "minh.tech": (Role.DEPARTMENT_STAFF, "TECH"),
    "quang.manager": (Role.MANAGER, None),
}
# Personal data that must never sit in clear in Temporal (and is gone after anonymising).
NAME, PHONE, EMAIL = "Phạm Thị Hồng Nhung", "0912345678", "nhung.pham@example.vn"
BODY = "Mạng nhà tôi ở 45 Nguyễn Trãi mất kết nối từ thứ hai"
SECRETS = (NAME, PHONE, EMAIL, "45 Nguyễn Trãi")
JOURNEY = [
    ("lan.cs", "verify", {"summary": "Mất kết nối", "category": "technical"}),
    ("minh.tech", "resolve", {"cause": "Modem lỗi", "resolution": "Thay modem", "within_authority": True,
                              "reply_draft": f"Kính gửi chị {NAME}"}),
    ("lan.cs", "reply", {"method": "email", "message": f"Kính gửi chị {NAME}, sự cố đã được khắc phục"}),
    ("minh.tech", "close", {"root_cause": "Firmware modem cũ", "lessons_learned": "Cập nhật firmware định kỳ"}),
]  # fmt: skip


class Api:
    def __init__(self, http: httpx.AsyncClient, tokens: dict[str, str]) -> None:
        self.http, self.tokens = http, tokens

    async def call(self, user: str, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return await self.http.request(method, url, headers={"Authorization": f"Bearer {self.tokens[user]}"}, **kwargs)

    async def file(self) -> str:
        customer = {"name": NAME, "phone": PHONE, "email": EMAIL, "address": "45 Nguyễn Trãi, Quận 5"}
        response = await self.call("lan.cs", "POST", "/api/v1/complaints",
                                   json={"channel": "email", "customer": customer, "subject": "Mất mạng",
                                         "body": BODY})  # fmt: skip
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    async def carry(self, cid: str, steps: int = len(JOURNEY)) -> None:
        for user, decision, body in JOURNEY[:steps]:
            response = await self.call(user, "POST", f"/api/v1/complaints/{cid}/actions/{decision}", json=body)
            assert response.status_code == 200, f"{decision}: {response.text}"


class Stack:
    """The admin app and a worker over one SQLite file, plus the CLI as an operator runs it."""

    def __init__(self, client: Client, settings: Settings, api: Api, sessions: Any, env: dict[str, str]) -> None:
        self.client, self.settings, self.api, self.sessions, self.env = client, settings, api, sessions, env

    async def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """The command as an operator runs it; awaited, so the in-process worker keeps answering."""
        proc = await asyncio.create_subprocess_exec(sys.executable, "starter.py", *args, cwd=ROOT, env=self.env,
                                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
        out, err = await asyncio.wait_for(proc.communicate(), 120)
        return subprocess.CompletedProcess(list(args), proc.returncode or 0, out.decode(), err.decode())

    async def closed_and_archived(self) -> str:
        cid = await self.api.file()
        await self.api.carry(cid)
        await self.client.get_workflow_handle(cid).result()  # the short reopen window has ended
        await self.archived(cid)
        return cid

    async def projected(self, cid: str, timeout: float = 60) -> None:
        """Wait until the store's row of ``cid`` holds the workflow's current state."""
        handle = self.client.get_workflow_handle(cid)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            state = await handle.query("state", result_type=ComplaintState)
            async with self.sessions() as session:
                row = await session.get(Complaint, cid)
            if row is not None and row.version == state.version:
                return
            assert loop.time() < deadline, f"{cid}: the store did not catch up"
            await asyncio.sleep(0.1)

    async def archived(self, cid: str, timeout: float = 60) -> HistoryArchive:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            async with self.sessions() as session:
                found = await session.get(HistoryArchive, cid)
            if found is not None:
                return found
            assert loop.time() < deadline, f"{cid}: history not archived"
            await asyncio.sleep(0.2)


@pytest.fixture
async def stack(dev_env: Any, catcher: MailCatcher, tmp_path: Path) -> AsyncIterator[Stack]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'complaints.db'}"
    await upgrade(url)
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    settings = Settings(database_url=url, data_dir=tmp_path, task_queue=f"audit-{uuid.uuid4()}",
                        smtp_port=catcher.port, sla_reopen_window=timedelta(seconds=2))  # fmt: skip
    tokens: dict[str, str] = {}
    async with transaction(sessions) as session:
        for username, (role, department) in USERS.items():
            await set_account(session, username, role, department, PASSWORD)
            tokens[username] = await issue_token(session, username)
    app = create_app(settings, temporal=dev_env.client)
    env = os.environ | {
        "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "COMPLAINTS_DATABASE_URL": url,
        "COMPLAINTS_TASK_QUEUE": settings.task_queue,
        "COMPLAINTS_DATA_DIR": str(tmp_path),
    }
    async with (
        running_worker(dev_env.client, settings, sessions),
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://admin.test") as http,
    ):
        yield Stack(dev_env.client, settings, Api(http, tokens), sessions, env)
    await engine.dispose()


def _assert_no_plaintext(history: WorkflowHistory) -> int:
    proto = History()
    proto.events.extend(history.events)
    payloads = _payloads_in(proto)
    for payload in payloads:
        # In clear only what the server must read: search attributes (stage, category...) and
        # the SDK's own patch markers; neither carries personal data.
        clear = json.loads(payload.data) if payload.metadata.get("encoding") == b"json/plain" else None
        is_marker = isinstance(clear, dict) and set(clear) == {"id", "deprecated"}
        if "type" not in payload.metadata and not is_marker:
            assert payload.metadata.get("encoding") in (ENCODING, SCOPED), payload.metadata
        for secret in SECRETS:
            assert secret.encode() not in payload.data
    return len(payloads)


async def _delete_from_temporal(client: Client, cid: str) -> None:
    request = DeleteWorkflowExecutionRequest(namespace=client.namespace,
                                             workflow_execution=WorkflowExecution(workflow_id=cid))  # fmt: skip
    await client.workflow_service.delete_workflow_execution(request)
    for _ in range(600):  # deletion is asynchronous on the server
        try:
            await client.get_workflow_handle(cid).describe()
        except RPCError as exc:
            if exc.status is RPCStatusCode.NOT_FOUND:
                return
            raise
        await asyncio.sleep(0.1)
    raise AssertionError(f"{cid} still in Temporal")


async def test_history_is_encrypted_archived_and_outlives_retention(stack: Stack) -> None:
    cid = await stack.closed_and_archived()
    history = await stack.client.get_workflow_handle(cid).fetch_history()
    # Every payload in Temporal's own history is encrypted and quotes nobody...
    assert _assert_no_plaintext(history) > 10
    # ...while the same payloads, decoded with our key, do hold the data (so the check can fail).
    codec = stack.client.data_converter.payload_codec
    assert codec is not None
    decoded = await codec.decode(_payloads_in(History(events=history.events)))
    assert any(NAME.encode() in p.data for p in decoded)

    archive = await stack.archived(cid)
    assert archive.event_count == len(history.events) and archive.closed_at is not None
    _assert_no_plaintext(WorkflowHistory.from_json(cid, archive.history_json))

    await _delete_from_temporal(stack.client, cid)
    view = await stack.api.call("lan.cs", "GET", f"/api/v1/complaints/{cid}")
    assert view.status_code == 200, view.text
    assert view.json()["state"]["stage"] == "closed" and view.json()["state"]["customer"]["name"] == NAME
    trail = (await stack.api.call("lan.cs", "GET", f"/api/v1/complaints/{cid}/history")).json()
    assert [e["name"] for e in trail if e["kind"] == "decision"] == [d for _, d, _ in JOURNEY]
    assert trail[-1]["kind"] == "completed"
    assert any(e["fields"].get("message", "").startswith("Kính gửi chị") for e in trail)
    raw = await stack.api.call("lan.cs", "GET", f"/api/v1/complaints/{cid}/history")
    assert raw.status_code == 200

    # The staff page too (session login), with its audit trail from the archive.
    page = await stack.api.http.get("/login")
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found is not None, "no CSRF token on the login page"
    token = found.group(1)
    await stack.api.http.post("/login", data={"username": "lan.cs", "password": PASSWORD, "csrf_token": token})
    html = (await stack.api.http.get(f"/complaints/{cid}")).text
    assert NAME in html and "Firmware modem cũ" in html

    exported = await stack.cli("export", cid)
    assert exported.returncode == 0, exported.stderr
    document = json.loads(exported.stdout)
    assert document["history_source"] == "archive" and document["archive"]["sha256_verified"]
    assert document["complaint"]["customer_name"] == NAME
    assert [r["action"] for r in document["log"]][:3] == ["receive", "verify", "route"]
    assert NAME in json.dumps(document["history"], ensure_ascii=False)  # decrypted for the auditor

    verified = await stack.cli("verify-log", cid)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "1 complaints checked against their archived history, 0 with problems" in verified.stdout


async def test_catch_up_sweep_archives_a_missed_history(stack: Stack) -> None:
    cid = await stack.closed_and_archived()
    async with transaction(stack.sessions) as session:
        await session.execute(text("DELETE FROM history_archive WHERE complaint_id = :c"), {"c": cid})
    swept = await stack.cli("archive")
    assert swept.returncode == 0, swept.stderr
    assert re.search(r"\b1 archived now", swept.stdout), swept.stdout
    assert (await stack.archived(cid, timeout=1)).event_count > 10
    again = await stack.cli("archive")
    assert "0 archived now" in again.stdout


async def test_log_is_append_only_and_tampering_is_detected(stack: Stack) -> None:
    cid = await stack.closed_and_archived()
    async with stack.sessions() as session:
        for statement in (
            "UPDATE complaint_log SET action = 'forged' WHERE complaint_id = :c AND seq = 2",
            "DELETE FROM complaint_log WHERE complaint_id = :c AND seq = 2",
            "UPDATE complaint_log SET hash = 'x' WHERE complaint_id = :c",
        ):
            with pytest.raises(DBAPIError, match="append-only"):
                await session.execute(text(statement), {"c": cid})
            await session.rollback()

    # Someone with the database's keys drops the guard and edits history: the chain tells.
    async with transaction(stack.sessions) as session:
        await session.execute(text("DROP TRIGGER complaint_log_no_update"))
        await session.execute(text("UPDATE complaint_log SET action = 'forged' WHERE complaint_id = :c AND seq = 2"),
                              {"c": cid})  # fmt: skip
        row = await session.scalar(select(ComplaintLog).where(ComplaintLog.complaint_id == cid, ComplaintLog.seq == 4))
        assert row is not None
        row.detail = {**row.detail, "resolution": "Không làm gì"}
    result = await stack.cli("verify-log", cid)
    assert result.returncode == 1
    assert f"{cid}: seq 2: hash does not match its fields" in result.stdout
    assert f"{cid}: seq 4: detail changed after logging" in result.stdout

    async with transaction(stack.sessions) as session:
        await session.execute(text("UPDATE history_archive SET history_json = history_json || ' ' "
                                   "WHERE complaint_id = :c"), {"c": cid})  # fmt: skip
    assert "SHA-256 does not match" in (await stack.cli("verify-log", cid)).stdout


async def test_reconcile_repairs_corrupted_rows(stack: Stack) -> None:
    closed = await stack.closed_and_archived()
    working = await stack.api.file()
    await stack.api.carry(working, steps=1)
    fresh = await stack.api.file()
    await stack.projected(fresh)  # its receive step has landed in the store
    async with transaction(stack.sessions) as session:
        await session.execute(text("UPDATE complaints SET stage = 'received', customer_name = 'X' WHERE id = :c"),
                              {"c": closed})  # fmt: skip
        await session.execute(text("UPDATE complaints SET version = 999, department_code = 'SALES' WHERE id = :c"),
                              {"c": working})  # fmt: skip
    async with stack.sessions() as session:  # a lost row (the log keeps its rows: it is append-only)
        await session.execute(text("PRAGMA foreign_keys = OFF"))
        await session.execute(text("DELETE FROM complaints WHERE id = :c"), {"c": fresh})
        await session.commit()

    dry = await stack.cli("reconcile", "--dry-run")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "2 would repair" in dry.stdout and "1 missing rows to write" in dry.stdout
    assert re.search(rf"{closed}: .*stage", dry.stdout) and re.search(rf"{working}: .*version", dry.stdout)

    repaired = await stack.cli("reconcile")
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert "2 repaired" in repaired.stdout and "1 missing rows written" in repaired.stdout
    async with stack.sessions() as session:
        for cid in (closed, working, fresh):
            state = await stack.client.get_workflow_handle(cid).query("state", result_type=ComplaintState)
            row = await session.get(Complaint, cid)
            assert row is not None and differences(row, complaint_values(state, None)) == [], cid
    assert "0 would repair" in (await stack.cli("reconcile", "--dry-run")).stdout

    async with transaction(stack.sessions) as session:  # a row no workflow knows of
        orphan = Complaint(**(complaint_values(state, None) | {"id": "KN-ORPHAN", "intake_key": None}))
        session.add(orphan)
    found = await stack.cli("reconcile", "--dry-run")
    assert found.returncode == 1 and "KN-ORPHAN: store row without a workflow" in found.stdout


async def test_manager_anonymises_a_closed_complaint(stack: Stack) -> None:
    cid = await stack.closed_and_archived()
    still_open = await stack.api.file()
    url = f"/api/v1/complaints/{cid}/anonymise"
    body = {"reason": "Khách hàng yêu cầu xoá dữ liệu cá nhân (đơn ngày 27/11)"}
    refused = await stack.api.call("lan.cs", "POST", url, json=body)
    assert refused.status_code == 403 and refused.json()["error"] == "wrong_role"
    early = await stack.api.call("quang.manager", "POST", f"/api/v1/complaints/{still_open}/anonymise", json=body)
    assert early.status_code == 409 and early.json()["error"] == "wrong_stage"
    assert (await stack.api.call("quang.manager", "POST", url, json={"reason": ""})).status_code == 422

    done = await stack.api.call("quang.manager", "POST", url, json=body)
    assert done.status_code == 200, done.text
    assert done.json()["counts"]["log_rows"] == 6 and done.json()["counts"]["mails"] >= 3
    again = await stack.api.call("quang.manager", "POST", url, json=body)
    assert again.status_code == 409

    view = (await stack.api.call("lan.cs", "GET", f"/api/v1/complaints/{cid}")).json()["state"]
    assert view["customer"]["name"] == REDACTED and view["customer"]["phone"] is None and view["body"] == REDACTED
    trail = json.dumps((await stack.api.call("lan.cs", "GET", f"/api/v1/complaints/{cid}/history")).json(),
                       ensure_ascii=False)  # fmt: skip
    assert NAME not in trail and "Firmware modem cũ" in trail
    listed = (await stack.api.call("lan.cs", "GET", "/api/v1/complaints", params={"q": "Hồng Nhung"})).json()
    assert cid not in [item["id"] for item in listed["items"]]

    async with stack.sessions() as session:
        texts: list[str] = []
        columns = (Complaint.id, ComplaintLog.complaint_id, OutboxMail.complaint_id, Letter.complaint_id)
        for model, column in zip((Complaint, ComplaintLog, OutboxMail, Letter), columns, strict=True):
            for row in (await session.scalars(select(model).where(column == cid))).all():
                texts.append(json.dumps({c: str(getattr(row, c)) for c in row.__table__.columns.keys()},
                                        ensure_ascii=False))  # fmt: skip
        everything = "\n".join(texts)
        for secret in SECRETS:
            assert secret not in everything, secret
        lesson = await session.scalar(select(Lesson).where(Lesson.complaint_id == cid))
        assert lesson is not None and lesson.root_cause == "Firmware modem cũ"  # statistics and lessons stay
        request = await session.scalar(select(DataRequest).where(DataRequest.complaint_id == cid))
        assert request is not None and request.requested_by == "quang.manager" and request.reason == body["reason"]

        # A late or replayed projection cannot bring the data back.
        state = await stack.client.get_workflow_handle(cid).query("state", result_type=ComplaintState)
        await project_complaint(session, state.model_copy(update={"version": state.version + 1}))
        await session.commit()
        row = await session.get(Complaint, cid)
        assert row is not None and row.customer_name == REDACTED

    verified = await stack.cli("verify-log", cid)
    assert verified.returncode == 0, verified.stdout
    assert re.search(r"[1-9]\d* redacted by data requests", verified.stdout)


async def test_manager_anonymises_from_the_complaint_page(stack: Stack) -> None:
    cid = await stack.closed_and_archived()
    http = stack.api.http

    async def login(username: str) -> None:
        page = await http.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token
        await http.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token.group(1)})

    await login("lan.cs")
    assert "Ẩn danh dữ liệu cá nhân" not in (await http.get(f"/complaints/{cid}")).text  # not a CS agent's call
    http.cookies.clear()
    await login("quang.manager")
    page = await http.get(f"/complaints/{cid}")
    assert "Ẩn danh dữ liệu cá nhân" in page.text and NAME in page.text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf
    url = f"/complaints/{cid}/anonymise"
    empty = await http.post(url, data={"csrf_token": csrf.group(1), "reason": " "})
    assert empty.status_code == 422 and NAME in empty.text  # refused inline, nothing removed
    done = await http.post(url, data={"csrf_token": csrf.group(1), "reason": "Khách yêu cầu qua tổng đài"})
    assert done.status_code == 303
    after = await http.get(done.headers["location"])
    assert "Dữ liệu cá nhân của khách hàng đã được ẩn danh." in after.text and NAME not in after.text
