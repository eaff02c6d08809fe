"""Schemathesis over the admin app's own ``/openapi.json``: every operation of ``/api/v1`` is fuzzed
with real bearer tokens of every role, against the app served by uvicorn over real HTTP, on the real
Temporal dev server with a running worker and a real SQLite store, so decisions really execute.

Checks on every response: no 5xx (``not_a_server_error``), the status code is documented
(``status_code_conformance``), the content type is the documented one (``content_type_conformance``)
and the body matches its schema (``response_schema_conformance``); plus, written here, what the API
promises for unknown ids and decisions (404 JSON) and for decisions that are accepted (they are in the
returned state's log).

Schemathesis generates the cases (positive and negative); each case is then pointed, some of the time,
at a seeded complaint and a real decision with a body that makes sense, so the fuzzing reaches the
workflow and not only the 404 of an id nobody filed.
"""

import asyncio
import socket
import tempfile
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
import schemathesis
import uvicorn
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from temporalio.testing import WorkflowEnvironment

from admin.accounts import issue_token
from admin.app import create_app
from config.settings import Settings
from domain.models import Actor, ComplaintState
from domain.transitions import TRANSITIONS, available_decisions
from domain.vocabulary import Role
from localstack.mailcatcher import MailCatcher
from store.engine import make_engine, make_sessionmaker, transaction
from store.migrate import upgrade
from tests.journey import running_worker

# the seeded staff (store/seed.py) that the fuzzer acts as: one per role, two departments
ACTORS = {
    "lan.cs": Actor(user="lan.cs", role=Role.CS_AGENT, department="CS"),
    "hung.cs": Actor(user="hung.cs", role=Role.SUPERVISOR, department="CS"),
    "minh.tech": Actor(user="minh.tech", role=Role.DEPARTMENT_STAFF, department="TECH"),
    "tuan.tech": Actor(user="tuan.tech", role=Role.SUPERVISOR, department="TECH"),
    "ha.billing": Actor(user="ha.billing", role=Role.DEPARTMENT_STAFF, department="BILLING"),
    "thu.billing": Actor(user="thu.billing", role=Role.SUPERVISOR, department="BILLING"),
    "quang.manager": Actor(user="quang.manager", role=Role.MANAGER),
    "admin": Actor(user="admin", role=Role.ADMIN),
}
USERS = list(ACTORS)
# schemathesis' own strategies use `random` inside (its business; not ours to fix)
pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")


def api_operations() -> list[str]:
    """Every operation of /api/v1, read from the app's own OpenAPI when the tests are collected (a new
    operation is fuzzed without editing this file)."""
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(Settings(data_dir=Path(tmp), secret_key="collection-only"))
        paths = app.openapi()["paths"]
    return [
        f"{method.upper()} {path}" for path, item in paths.items() if path.startswith("/api/v1/") for method in item
    ]


OPERATIONS = api_operations()
# DESIGN.md's JSON API
CORE = [
    "POST /api/v1/complaints",
    "GET /api/v1/complaints",
    "GET /api/v1/complaints/{complaint_id}",
    "POST /api/v1/complaints/{complaint_id}/actions/{decision}",
    "GET /api/v1/complaints/{complaint_id}/history",
]
DECISIONS = "POST /api/v1/complaints/{complaint_id}/actions/{decision}"
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# examples per operation (others: DEFAULT_EXAMPLES); the decisions get the most
EXAMPLES = {
    "POST /api/v1/complaints": 30,
    "GET /api/v1/complaints": 30,
    "POST /api/v1/complaints/{complaint_id}/actions/{decision}": 90,
}
DEFAULT_EXAMPLES = 25
PICK = st.integers(0, 2**16)
# Bodies that make sense for each decision (who may send them depends on the stage and role).
BODIES: dict[str, list[dict[str, Any]]] = {
    "verify": [
        {"summary": "Mất kết nối", "category": "technical"},
        {"summary": "Sai hóa đơn", "category": "billing", "priority": "urgent"},
        {"summary": "Thái độ nhân viên", "category": "staff_conduct", "department": "CS"},
    ],
    "reject": [{"reason": "Trùng khiếu nại"}, {"reason": "Không thuộc phạm vi", "duplicate_of": "KN-XYZ234"}],
    "resolve_on_spot": [
        {"agreement": "Đổi gói cước", "cause": "Tư vấn nhầm", "category": "sales"},
        {"agreement": "Đổi gói cước", "cause": "Tư vấn nhầm"},  # refused: no category
    ],
    "reroute": [{"department": "SALES", "reason": "Liên quan hợp đồng"}, {"department": "TECH", "reason": "Kỹ thuật"}],
    "resolve": [
        {"cause": "Modem lỗi", "resolution": "Thay modem", "within_authority": True, "reply_draft": "Đã thay"},
        {"cause": "Cáp quang đứt", "resolution": "Kéo lại cáp", "within_authority": False, "reply_draft": "Sẽ xử lý"},
    ],
    "escalate": [{"reason": "Vượt thẩm quyền"}],
    "decide": [
        {"decision": "approve", "instructions": "Đồng ý"},
        {"decision": "return", "instructions": "Làm lại"},
        {"decision": "reroute", "instructions": "Chuyển kinh doanh", "department": "SALES"},
    ],
    "sign_reply": [{"approved": True}, {"approved": False, "comment": "Sửa lại lời lẽ"}],
    "reply": [{"method": "email", "message": "Sự cố đã được khắc phục"}, {"method": "phone", "message": "Đã gọi"}],
    "close": [{"root_cause": "Firmware cũ", "lessons_learned": "Cập nhật định kỳ", "preventive_action": "Rà soát"}],
    "reopen": [{"reason": "Khách chưa hài lòng"}],
    "note": [{"text": "Khách gọi hỏi tiến độ"}],
    "assign": [{"assignee": "minh.tech"}, {"assignee": None}],
    "customer_message": [
        {"text": "Khách gọi: mạng vẫn chậm", "via": "phone"},
        {"text": "Khách đến quầy đề nghị mở lại", "via": "in_person", "reopen_requested": True},
        {"text": "Thư của khách", "via": "email", "message_id": "<m1@example.vn>"},
    ],
    "edit_draft": [
        {"reply_draft": "Kính gửi Quý khách, chúng tôi đã thay modem."},
        {"reply_draft": "Đã xử lý", "reason": "Rõ hơn"},
    ],
    # the customer's (system actor): every staff account is refused it
    "rate": [{"score": 5}, {"score": 1, "comment": "Chậm trễ"}],
}
REFUSALS = {"wrong_role", "wrong_department", "no_access", "wrong_stage", "reopen_window_closed"}
CUSTOMER = {"name": "Nguyễn Văn An", "email": "an@example.vn", "address": "12 Lê Lợi, Q1", "phone": "0901234567"}
# (channel, decisions by user) that bring a seeded complaint to each stage
SEEDS: list[tuple[str, list[tuple[str, str]]]] = [
    ("email", []),
    ("in_person", []),
    ("phone", [("lan.cs", "verify")]),
    ("email", [("lan.cs", "verify"), ("minh.tech", "escalate")]),
    ("post", [("lan.cs", "verify"), ("minh.tech", "resolve")]),
    ("email", [("lan.cs", "verify"), ("minh.tech", "resolve")]),
    ("email", [("lan.cs", "verify"), ("minh.tech", "resolve"), ("lan.cs", "reply")]),
    ("email", [("lan.cs", "verify"), ("minh.tech", "resolve"), ("lan.cs", "reply"), ("minh.tech", "close")]),
    ("livechat", [("lan.cs", "verify")]),
]


@dataclass
class Stack:
    base_url: str
    tokens: dict[str, str]
    ids: list[str]
    sessions: Any
    loop: asyncio.AbstractEventLoop
    schema: Any = None
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)

    def reissue(self, user: str) -> None:
        """A new token for ``user`` (after the fuzzer revoked theirs), made on the test loop."""

        async def issue() -> str:
            async with transaction(self.sessions) as session:
                return await issue_token(session, user)

        self.tokens[user] = asyncio.run_coroutine_threadsafe(issue(), self.loop).result(timeout=60)

    def options(self, complaint_id: str) -> list[tuple[str, str]]:
        """(user, decision) pairs the table allows now on ``complaint_id`` (read as the manager)."""
        headers = {"Authorization": f"Bearer {self.tokens['quang.manager']}"}
        got = requests.get(f"{self.base_url}/api/v1/complaints/{complaint_id}", headers=headers, timeout=60)
        assert got.status_code == 200, got.text
        state = ComplaintState.model_validate(got.json()["state"])
        now = datetime.now(UTC)
        return [(user, name) for user, actor in ACTORS.items() for name in available_decisions(actor, state, now)]

    def out_of_turn(self, complaint_id: str) -> list[tuple[str, str]]:
        """(user, decision) pairs the table refuses now for one reason: the role, or the stage."""
        headers = {"Authorization": f"Bearer {self.tokens['quang.manager']}"}
        got = requests.get(f"{self.base_url}/api/v1/complaints/{complaint_id}", headers=headers, timeout=60)
        assert got.status_code == 200, got.text
        stage = ComplaintState.model_validate(got.json()["state"]).stage
        return [(user, name) for user, actor in ACTORS.items() for name, row in TRANSITIONS.items()
                if (actor.role in row.roles) != (stage in row.from_stages)]  # fmt: skip


def _free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@pytest.fixture(scope="module")
async def stack(
    dev_env: WorkflowEnvironment, catcher: MailCatcher, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    """The admin app on a real port (uvicorn, in the test loop), its own SQLite store, a worker on the
    dev server, tokens for one person per role, and complaints seeded at every stage."""
    data_dir: Path = tmp_path_factory.mktemp("fuzz")
    url = f"sqlite+aiosqlite:///{data_dir / 'complaints.db'}"
    await upgrade(url)
    settings_ = Settings(
        database_url=url,
        data_dir=data_dir,
        task_queue=f"fuzz-{uuid.uuid4()}",
        smtp_host="127.0.0.1",
        smtp_port=catcher.port,
        # the webhooks on (no fuzzed request carries a valid signature: their refusals are fuzzed)
        webhook_secret="fuzz-webhook-secret",
        chatwoot_webhook_secret="fuzz-chatwoot-secret",
    )
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    async with transaction(sessions) as session:
        tokens = {user: await issue_token(session, user) for user in USERS}
    app = create_app(settings_, temporal=dev_env.client)
    sock = _free_socket()
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on"))
    async with running_worker(dev_env.client, settings_, sessions):
        serving = asyncio.create_task(server.serve(sockets=[sock]))
        for _ in range(200):
            if server.started:
                break
            await asyncio.sleep(0.05)
        assert server.started, "uvicorn did not start"
        base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        try:
            ids = await _seed(base_url, tokens)
            stack = Stack(base_url, tokens, ids, sessions, asyncio.get_running_loop())
            stack.schema = await asyncio.to_thread(schemathesis.openapi.from_url, f"{base_url}/openapi.json")
            yield stack
        finally:
            server.should_exit = True
            await serving
            sock.close()
    await engine.dispose()


async def _seed(base_url: str, tokens: dict[str, str]) -> list[str]:
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as http:

        async def one(channel: str, path: list[tuple[str, str]]) -> str:
            filed = await http.post(
                "/api/v1/complaints",
                json={"channel": channel, "customer": CUSTOMER, "subject": "Mạng chậm", "body": "Mạng rất chậm"},
                headers={"Authorization": f"Bearer {tokens['lan.cs']}"},
            )
            assert filed.status_code == 201, filed.text
            cid: str = filed.json()["id"]
            for user, decision in path:
                done = await http.post(
                    f"/api/v1/complaints/{cid}/actions/{decision}",
                    json=BODIES[decision][0],
                    headers={"Authorization": f"Bearer {tokens[user]}"},
                )
                assert done.status_code == 200, done.text
            return cid

        return list(await asyncio.gather(*(one(channel, path) for channel, path in SEEDS)))


async def test_the_schema_has_exactly_the_api_operations(stack: Stack) -> None:
    """What is fuzzed below is what the running app serves (and the promised core is there)."""
    labels = sorted(op.ok().label for op in stack.schema.get_all_operations() if op.ok().path.startswith("/api/v1/"))
    assert labels == sorted(OPERATIONS)
    assert set(CORE) <= set(labels)


@pytest.mark.parametrize("label", OPERATIONS)
async def test_fuzz_operation(stack: Stack, label: str) -> None:
    # Schemathesis calls are synchronous: they run in a thread while this loop serves them.
    await asyncio.to_thread(_fuzz, stack, label)
    seen = {status: n for (op, status), n in sorted(stack.statuses.items()) if op == label}
    print(f"{label}: {seen}")
    if label == DECISIONS:
        # decisions really executed, and refusals were met too
        assert seen.get(200) and seen.get(403) and seen.get(409) and seen.get(404) and seen.get(422), seen


def _fuzz(stack: Stack, label: str) -> None:
    operation = stack.schema.find_operation_by_label(label)
    assert operation is not None, label
    strategies = {mode: operation.as_strategy(generation_mode=mode) for mode in GenerationMode}
    takes_id = "complaint_id" in label
    takes_decision = "{decision}" in label

    @settings(
        max_examples=EXAMPLES.get(label, DEFAULT_EXAMPLES),
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        # the server keeps state between cases, so a failing case is reported as found, not shrunk
        phases=[Phase.explicit, Phase.generate],
    )
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        mode = data.draw(st.sampled_from(list(GenerationMode)), label="mode")
        case = data.draw(strategies[mode], label="case")
        user = data.draw(st.sampled_from(USERS), label="user")
        sensible_body = False
        if takes_id and data.draw(st.integers(0, 9), label="seeded id?") < 6:
            case.path_parameters = {**case.path_parameters, "complaint_id": data.draw(st.sampled_from(stack.ids))}
        informed = takes_decision and data.draw(st.integers(0, 9), label="informed?") < 4
        if informed:
            # a decision someone may take now on a seeded complaint, by that person
            # (the options depend on the live state: drawn as plain numbers so every run draws alike)
            cid = data.draw(st.sampled_from(stack.ids), label="complaint")
            pick, body_pick = data.draw(PICK, label="who and what"), data.draw(PICK, label="which body")
            # now and then one out of turn: the right person at the wrong stage, or the reverse
            options = stack.out_of_turn(cid) if data.draw(st.integers(0, 3), label="out of turn?") == 0 else []
            options = options or stack.options(cid)
            if options:
                user, name = options[pick % len(options)]
                case.path_parameters = {"complaint_id": cid, "decision": name}
                case.body, sensible_body = BODIES[name][body_pick % len(BODIES[name])], True
        elif takes_decision and data.draw(st.integers(0, 9), label="real decision?") < 8:
            name = data.draw(st.sampled_from(sorted(TRANSITIONS)), label="decision")
            case.path_parameters = {**case.path_parameters, "decision": name}
            if mode is GenerationMode.POSITIVE or data.draw(st.booleans(), label="sensible body?"):
                case.body, sensible_body = data.draw(st.sampled_from(BODIES[name]), label="body"), True
        headers = {"Authorization": f"Bearer {stack.tokens[user]}"}
        response = case.call(base_url=stack.base_url, headers=headers, timeout=60)
        stack.statuses[label, response.status_code] += 1
        case.validate_response(response, checks=CHECKS, headers=headers, transport_kwargs={"base_url": stack.base_url})
        _promises(stack, case, user, response, sensible_body)
        if case.method == "DELETE" and case.path == "/api/v1/token" and response.status_code == 204:
            # the revoked token stops working at once; the next cases get a new one
            again = requests.get(f"{stack.base_url}/api/v1/complaints", headers=headers, timeout=60)
            assert again.status_code == 401, again.text
            stack.reissue(user)

    run()


def _promises(stack: Stack, case: Any, user: str, response: Any, sensible_body: bool) -> None:
    """What the README promises beyond the schema."""
    status = response.status_code
    if status == 204:
        assert not response.content
        return
    body = response.json()
    params = case.path_parameters
    known = params.get("complaint_id") in stack.ids
    if case.method == "GET" and "complaint_id" in params and not known and not _looks_routed_elsewhere(params):
        assert (status, body.get("error")) == (404, "not_found"), (params, status, body)
    if "decision" in params:
        decision = params["decision"]
        if decision not in TRANSITIONS and isinstance(case.body, dict) and not _looks_routed_elsewhere(params):
            assert (status, body.get("error")) == (404, "unknown_decision"), (params, status, body)
        if sensible_body and not known and not _looks_routed_elsewhere(params):
            assert (status, body.get("error")) == (404, "not_found"), (params, status, body)
        if status == 200:
            log = body["state"]["log"]
            assert any(e["action"] == decision and e["actor"]["user"] == user for e in log), (decision, user)
        if status in (403, 409):
            assert body["error"] in REFUSALS, body


def _looks_routed_elsewhere(params: dict[str, Any]) -> bool:
    """A path parameter the router cannot take as one segment (e.g. containing '/')."""
    return any("/" in str(v) or str(v) in ("", ".", "..") for v in params.values())
