"""The JSON API on the real dev server with a real worker: every decision × role, errors,
idempotent intake, listing and access by department."""

import base64
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from admin.accounts import issue_token
from admin.app import create_app
from config.settings import Settings
from domain.lifecycle import new_state
from domain.models import ComplaintStart
from domain.sla import SlaPolicy
from store.engine import transaction
from store.projection import project_complaint
from tests.conftest import CONVERTER, Sessions, binary
from tests.journey import event_count, intake, quiesce, running_worker

USERS = ["lan.cs", "hung.cs", "minh.tech", "ha.billing", "tuan.tech", "thu.billing", "quang.manager", "admin"]

BODIES: dict[str, dict[str, Any]] = {
    "verify": {"summary": "Mất kết nối", "category": "technical"},
    "reject": {"reason": "Trùng khiếu nại"},
    "resolve_on_spot": {"agreement": "Đổi gói cước", "cause": "Tư vấn nhầm"},
    "reroute": {"department": "SALES", "reason": "Liên quan hợp đồng"},
    "resolve": {"cause": "Modem lỗi", "resolution": "Thay modem", "within_authority": True, "reply_draft": "Đã thay"},
    "escalate": {"reason": "Vượt thẩm quyền"},
    "decide": {"decision": "approve", "instructions": "Đồng ý"},
    "sign_reply": {"approved": True},
    "reply": {"method": "email", "message": "Sự cố đã được khắc phục"},
    "close": {"root_cause": "Firmware cũ", "lessons_learned": "Cập nhật định kỳ"},
    "reopen": {"reason": "Khách chưa hài lòng"},
    "note": {"text": "Khách gọi hỏi tiến độ"},
    "assign": {"assignee": "minh.tech"},
    "customer_message": {"text": "Khách gọi: mạng vẫn chập chờn", "via": "phone", "reopen_requested": True},
}
# decision -> (stage it is taken from, channel, who may take it on a TECH complaint): the spec,
# written out here rather than derived from the table it checks.
SPEC: dict[str, tuple[str, str, set[str]]] = {
    "verify": ("received", "email", {"lan.cs"}),
    "reject": ("received", "email", {"lan.cs", "hung.cs", "quang.manager"}),
    "resolve_on_spot": ("received", "in_person", {"lan.cs"}),
    "reroute": ("in_progress", "email", {"lan.cs", "hung.cs", "tuan.tech", "quang.manager"}),
    "resolve": ("in_progress", "email", {"minh.tech"}),
    "escalate": ("in_progress", "email", {"minh.tech"}),
    "decide": ("escalated", "email", {"tuan.tech", "quang.manager"}),
    "sign_reply": ("awaiting_signature", "post", {"tuan.tech", "quang.manager"}),
    "reply": ("ready_to_reply", "email", {"lan.cs"}),
    "close": ("replied", "email", {"minh.tech", "tuan.tech"}),
    "reopen": ("closed", "email", {"lan.cs"}),
    "note": ("in_progress", "email", {"lan.cs", "hung.cs", "minh.tech", "tuan.tech", "quang.manager"}),
    # minh.tech to minh.tech: department staff take one for themselves
    "assign": ("in_progress", "email", {"hung.cs", "minh.tech", "tuan.tech", "quang.manager"}),
    # staff note a call for the customer; the customer's own channels are the system actor's
    "customer_message": ("closed", "email", {"lan.cs"}),
}
# Decisions taken at every stage: there is no wrong one.
EVERY_STAGE = {"customer_message"}
CUSTOMER = {"name": "Nguyễn Văn ĐỨC An", "email": "an@example.vn", "address": "12 Lê Lợi, Q1"}


class Api:
    def __init__(self, http: httpx.AsyncClient, tokens: dict[str, str], client: Client) -> None:
        self.http, self.tokens, self.client = http, tokens, client

    async def call(self, user: str | None, method: str, url: str, **kwargs: Any) -> httpx.Response:
        headers = kwargs.pop("headers", {}) | ({"Authorization": f"Bearer {self.tokens[user]}"} if user else {})
        return await self.http.request(method, url, headers=headers, **kwargs)

    async def file(self, channel: str = "email", **extra: Any) -> str:
        body = {"channel": channel, "customer": CUSTOMER, "subject": "Mạng chậm", "body": "Mạng rất chậm"} | extra
        response = await self.call("lan.cs", "POST", "/api/v1/complaints", json=body)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    async def act(self, user: str, cid: str, decision: str, body: dict[str, Any] | None = None) -> httpx.Response:
        return await self.call(user, "POST", f"/api/v1/complaints/{cid}/actions/{decision}",
                               json=BODIES[decision] if body is None else body)  # fmt: skip

    async def at(self, stage: str, channel: str = "email") -> str:
        cid = await self.file(channel)
        path = {
            "received": [],
            "in_progress": [("lan.cs", "verify")],
            "escalated": [("lan.cs", "verify"), ("minh.tech", "escalate")],
            "awaiting_signature": [("lan.cs", "verify"), ("minh.tech", "resolve")],
            "ready_to_reply": [("lan.cs", "verify"), ("minh.tech", "resolve")],
            "replied": [("lan.cs", "verify"), ("minh.tech", "resolve"), ("lan.cs", "reply")],
            "closed": [("lan.cs", "verify"), ("minh.tech", "resolve"), ("lan.cs", "reply"), ("minh.tech", "close")],
        }[stage]
        for user, decision in path:
            response = await self.act(user, cid, decision)
            assert response.status_code == 200, response.text
        return cid


@pytest.fixture
async def api(dev_env: WorkflowEnvironment, settings: Settings, sessions: Sessions) -> AsyncIterator[Api]:
    async with transaction(sessions) as session:
        tokens = {user: await issue_token(session, user) for user in USERS}
    app = create_app(settings, temporal=dev_env.client)
    async with running_worker(dev_env.client, settings, sessions), app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://admin.test") as http:
            yield Api(http, tokens, dev_env.client)


def test_the_spec_names_known_users() -> None:
    assert set(SPEC) == set(BODIES) and all(allowed <= set(USERS) for _, _, allowed in SPEC.values())


@pytest.mark.parametrize("decision", list(SPEC))
async def test_decision_by_an_allowed_and_a_refused_user(api: Api, decision: str) -> None:
    """Through the API, one user the table allows and one it refuses (a billing clerk on a TECH
    complaint: a wrong role for most decisions, the wrong department for the rest). Every role
    of every department is checked against the table in tests/test_properties.py."""
    stage, channel, allowed = SPEC[decision]
    refused_on = await api.at(stage, channel)
    before = await quiesce(api.client.get_workflow_handle(refused_on))
    user, outsider = sorted(allowed)[0], "ha.billing"
    assert outsider not in allowed
    response = await api.act(outsider, refused_on, decision)
    assert response.status_code == 403, f"{outsider}: {response.status_code} {response.text}"
    assert response.json()["error"] in ("wrong_role", "wrong_department", "no_access")
    assert await event_count(api.client.get_workflow_handle(refused_on)) == before, "a refusal reached the history"

    response = await api.act(user, refused_on, decision)
    assert response.status_code == 200, f"{user}: {response.text}"
    state = response.json()["state"]
    assert state["stage"] != stage or decision in ("note", "reroute", "assign", "customer_message"), state["stage"]
    assert any(e["action"] == decision and e["actor"]["user"] == user for e in state["log"])

    if decision in EVERY_STAGE:  # at another stage too
        response = await api.act(user, await api.at("received"), decision)
        assert response.status_code == 200, response.text
        return
    wrong = {"note": "closed", "assign": "closed", "close": "in_progress"}.get(decision, "replied")
    wrong_stage = await api.at(wrong, "in_person" if decision == "resolve_on_spot" else "email")
    response = await api.act(next(iter(sorted(allowed))), wrong_stage, decision)
    assert response.status_code == 409 and response.json()["error"] in ("wrong_stage", "reopen_window_closed")


@pytest.mark.parametrize(
    ("decision", "body", "field"),
    [
        ("verify", {"summary": "", "category": "technical"}, "summary"),
        ("verify", {"summary": "x" * 10_001, "category": "technical"}, "summary"),
        ("verify", {"summary": "x", "category": "weather"}, "category"),
        ("verify", {"summary": ["not", "text"], "category": "technical"}, "summary"),
        ("verify", {"category": "technical"}, "summary"),
        ("verify", {"summary": "x", "category": "technical", "unknown": 1}, "unknown"),
    ],
)
async def test_bad_bodies_name_the_field(api: Api, decision: str, body: dict[str, Any], field: str) -> None:
    cid = await api.file()
    response = await api.act("lan.cs", cid, decision, body)
    assert response.status_code == 422
    assert response.json()["error"] == "invalid" and field in response.json()["message"]


async def test_a_reply_by_email_needs_the_customers_address(api: Api) -> None:
    """It was accepted, recorded as replied, and no mail went anywhere."""
    cid = await api.file("phone", customer={"name": "Lê Văn Cường", "phone": "0912345678"})
    for user, decision in (("lan.cs", "verify"), ("minh.tech", "resolve")):
        assert (await api.act(user, cid, decision)).status_code == 200
    before = await quiesce(api.client.get_workflow_handle(cid))
    response = await api.act("lan.cs", cid, "reply", {"method": "email", "message": "Đã khắc phục"})
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "invalid" and "e-mail address" in response.json()["message"]
    assert await event_count(api.client.get_workflow_handle(cid)) == before
    by_phone = await api.act("lan.cs", cid, "reply", {"method": "phone", "message": "Đã gọi báo khách"})
    assert by_phone.status_code == 200 and by_phone.json()["state"]["stage"] == "replied"


async def test_unknown_ids_and_decisions_and_missing_auth(api: Api) -> None:
    response = await api.call("lan.cs", "GET", "/api/v1/complaints/KN-ZZZZZZ")
    assert (response.status_code, response.json()["error"]) == (404, "not_found")
    response = await api.act("lan.cs", "KN-ZZZZZZ", "verify")
    assert response.status_code == 404
    cid = await api.file()
    response = await api.act("lan.cs", cid, "teleport", {})
    assert (response.status_code, response.json()["error"]) == (404, "unknown_decision")
    response = await api.call(None, "GET", f"/api/v1/complaints/{cid}")
    assert response.status_code == 401
    response = await api.http.get(f"/api/v1/complaints/{cid}", headers={"Authorization": "Bearer kn_forged"})
    assert response.status_code == 401
    response = await api.call("lan.cs", "POST", "/api/v1/complaints", json={"channel": "email", "body": "x"})
    assert response.status_code == 422 and response.json()["field"] == "customer"
    response = await api.call("lan.cs", "POST", "/api/v1/complaints",
                              json={"channel": "email", "customer": {"name": "A"}, "body": "no email"})  # fmt: skip
    assert response.status_code == 422 and "email" in response.json()["message"]


async def test_idempotency_key_files_once(api: Api) -> None:
    body = {"channel": "livechat", "customer": {"name": "Lê Cường"}, "body": "Chat bị ngắt"}
    headers = {"Idempotency-Key": "chat-4711"}
    first = await api.call("lan.cs", "POST", "/api/v1/complaints", json=body, headers=headers)
    again = await api.call("lan.cs", "POST", "/api/v1/complaints", json=body, headers=headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"] and again.json()["created"] is False


async def test_department_scope_and_listing(api: Api) -> None:
    tech = await api.at("in_progress")
    billing = await api.file()
    assert (await api.act("lan.cs", billing, "verify", {"summary": "Cước", "category": "billing"})).status_code == 200
    assert (await api.call("ha.billing", "GET", f"/api/v1/complaints/{tech}")).status_code == 403
    assert (await api.call("minh.tech", "GET", f"/api/v1/complaints/{tech}")).status_code == 200
    view = (await api.call("minh.tech", "GET", f"/api/v1/complaints/{tech}")).json()
    assert set(view["actions"]) == {"resolve", "escalate", "note", "assign"}

    seen: list[str] = []
    url = "/api/v1/complaints?limit=2"
    for _ in range(50):
        page = (await api.call("lan.cs", "GET", url)).json()
        seen += [item["id"] for item in page["items"]]
        if not page["next"]:
            break
        url = f"/api/v1/complaints?limit=2&after={page['next']}"
    assert {tech, billing} <= set(seen) and len(seen) == len(set(seen))
    mine = (await api.call("ha.billing", "GET", "/api/v1/complaints?limit=200")).json()["items"]
    assert billing in {i["id"] for i in mine} and tech not in {i["id"] for i in mine}
    found = (await api.call("lan.cs", "GET", f"/api/v1/complaints?q={tech.lower()}")).json()["items"]
    assert [i["id"] for i in found] == [tech]
    by_text = (await api.call("lan.cs", "GET", "/api/v1/complaints?q=RẤT CHẬM&limit=200")).json()["items"]
    assert {tech, billing} <= {i["id"] for i in by_text}  # body text, any case, through the search index
    by_name = (await api.call("lan.cs", "GET", "/api/v1/complaints?q=văn đức&limit=200")).json()["items"]
    assert {tech, billing} <= {i["id"] for i in by_name}
    assert (await api.call("lan.cs", "GET", "/api/v1/complaints?q=zzzqqq")).json()["items"] == []
    naive_cursor = base64.urlsafe_b64encode(b"2026-01-01T00:00:00|KN-1").decode()
    for bad in ("received_from=2026-01-01T00:00:00", f"q=chậm&after={naive_cursor}", "after=???"):
        refused = await api.call("lan.cs", "GET", f"/api/v1/complaints?{bad}")
        assert refused.status_code == 422, (bad, refused.text)  # a time without its zone is ambiguous
    overdue = (await api.call("lan.cs", "GET", "/api/v1/complaints?overdue=true&stage=in_progress")).json()
    assert tech not in {i["id"] for i in overdue["items"]}


async def test_history_is_the_audit_trail(api: Api) -> None:
    cid = await api.at("ready_to_reply")
    events = (await api.call("lan.cs", "GET", f"/api/v1/complaints/{cid}/history")).json()
    decisions = [(e["name"], e["actor"]["user"]) for e in events if e["kind"] == "decision"]
    assert decisions == [("verify", "lan.cs"), ("resolve", "minh.tech")]
    resolve = next(e for e in events if e["name"] == "resolve")
    assert resolve["fields"]["cause"] == "Modem lỗi"
    assert events[0]["kind"] == "started"


@pytest.mark.parametrize(
    ("received_at", "problem"),
    [
        ("2000-01-01T00:00:00Z", "more than 30 days ago"),
        ("9999-12-31T00:00:00Z", "in the future"),
        ("2026-01-01T00:00:00", "timezone"),
    ],
)
async def test_intake_refuses_an_impossible_arrival_time(api: Api, received_at: str, problem: str) -> None:
    body = {"channel": "post", "customer": CUSTOMER, "body": "Thư gửi", "received_at": received_at}
    response = await api.call("lan.cs", "POST", "/api/v1/complaints", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "received_at" and problem in response.json()["message"].lower()


async def test_an_unparseable_body_gets_the_error_shape(api: Api) -> None:
    for raw in (b"\xff\xfe{", b"{"):
        response = await api.call("lan.cs", "POST", "/api/v1/complaints", content=raw,
                                  headers={"Content-Type": "application/json"})  # fmt: skip
        assert response.status_code == 422 and response.json() == {
            "error": "invalid", "message": "body: not valid JSON", "field": "body"}  # fmt: skip


async def test_a_decision_while_temporal_is_down_says_nothing_was_applied(settings: Settings, sessions: Any) -> None:
    """A decision is not preceded by a state query any more; a health check keeps the plain 503
    "unavailable" (nothing was applied, try again) true when the server is already down, where
    the update alone could only answer "outcome_unknown"."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=binary("temporal"), data_converter=CONVERTER, ui=False
    )
    start = ComplaintStart(complaint_id="KN-DOWN01", intake=intake(), received_at=datetime.now(UTC), policy=SlaPolicy())
    async with transaction(sessions) as session:
        token = await issue_token(session, "lan.cs")
        await project_complaint(session, new_state(start))  # projected: the store says who may act
    app = create_app(settings, temporal=env.client)
    await env.shutdown()
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://admin.test") as http,
    ):
        response = await http.post(
            "/api/v1/complaints/KN-DOWN01/actions/verify",
            json=BODIES["verify"],
            headers={"Authorization": f"Bearer {token}"},
        )
    assert response.status_code == 503, response.text
    assert response.json()["error"] == "unavailable"


async def test_assign_through_the_api_and_list_by_assignee(api: Api) -> None:
    """The assignee must be an active staff member who works on the complaint's department (the
    workflow cannot read the directory): else 422 naming the field, and nothing reaches the
    history. The state and the list carry the assignee; ``assignee=me`` is the caller's."""
    cid = await api.at("in_progress")
    before = await quiesce(api.client.get_workflow_handle(cid))
    for assignee in ("nobody.here", "ha.billing", "admin"):  # unknown; another department; no working role
        response = await api.act("tuan.tech", cid, "assign", {"assignee": assignee})
        assert response.status_code == 422, response.text
        assert (response.json()["error"], response.json()["field"]) == ("invalid", "assignee"), response.json()
    assert await event_count(api.client.get_workflow_handle(cid)) == before

    response = await api.act("tuan.tech", cid, "assign", {"assignee": "minh.tech"})
    assert response.status_code == 200 and response.json()["state"]["assignee"] == "minh.tech"
    other = await api.at("in_progress")
    for user, query in (("minh.tech", "me"), ("quang.manager", "minh.tech")):
        items = (await api.call(user, "GET", f"/api/v1/complaints?assignee={query}&limit=200")).json()["items"]
        assert cid in {i["id"] for i in items} and other not in {i["id"] for i in items}, (user, items)
        assert {i["assignee"] for i in items} == {"minh.tech"}
    listed = (await api.call("lan.cs", "GET", "/api/v1/complaints?limit=200")).json()["items"]
    assert {i["id"]: i["assignee"] for i in listed}[other] is None
    assert (await api.call("tuan.tech", "GET", "/api/v1/complaints?assignee=me")).json()["items"] == []

    response = await api.act("minh.tech", cid, "assign", {"assignee": None})  # given back
    assert response.status_code == 200 and response.json()["state"]["assignee"] is None
