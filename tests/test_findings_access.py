"""Issue 12's findings in the admin, each reproduced as the pen-test did it (real app, real SQLite;
a real dev server and worker where a decision must reach a workflow)."""

import base64
import re
import statistics
import time
import tracemalloc
from collections.abc import AsyncIterator
from typing import Any, Literal
from urllib.parse import urlencode

import httpx
import pytest
from argon2 import PasswordHasher
from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment

from admin import security
from admin.accounts import issue_token, set_account
from admin.app import create_app
from admin.security import LoginThrottle
from config.settings import Settings
from domain.vocabulary import Role
from store.engine import make_engine, make_sessionmaker, transaction
from store.migrate import upgrade
from store.tables import Staff
from tests.journey import running_worker
from tests.scratch_postgres import scratch_database

PASSWORD = "mật-khẩu-an-toàn-1"
ACCOUNTS = {"admin": (Role.ADMIN, None), "lan.cs": (Role.CS_AGENT, "CS"), "thu.billing": (Role.SUPERVISOR, "BILLING")}
ATTACKER, OWNER = "203.0.113.7", "198.51.100.20"


def csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


def login_error(html: str) -> str:
    found = re.search(r'id="login-error">([^<]*)<', html)
    return found.group(1) if found else ""


class Browser:
    """A browser at ``address`` (the throttle keys on it)."""

    def __init__(self, app: Any, address: str = "127.0.0.1") -> None:
        transport = httpx.ASGITransport(app=app, client=(address, 50000), raise_app_exceptions=False)
        self.http = httpx.AsyncClient(transport=transport, base_url="http://admin.test")

    async def login(self, username: str, password: str = PASSWORD) -> httpx.Response:
        page = await self.http.get("/login")
        return await self.http.post("/login", data={"username": username, "password": password,
                                                    "csrf_token": csrf(page.text)})  # fmt: skip


@pytest.fixture
async def app(settings: Settings, sessions: Any) -> AsyncIterator[Any]:
    async with transaction(sessions) as session:
        for username, (role, department) in ACCOUNTS.items():
            await set_account(session, username, role, department, PASSWORD)
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


# --- Medium 2: username enumeration, and lockout as a denial of service ---


class CountingHasher(PasswordHasher):
    """The real argon2 hasher, counting the password checks it makes."""

    checks = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        CountingHasher.checks += 1
        return super().verify(hash, password)


async def test_an_unknown_user_costs_and_answers_what_a_wrong_password_does(
    app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(security, "_hasher", CountingHasher())
    timings: dict[str, list[float]] = {"thu.billing": [], "nobody.here": []}
    answers: dict[str, set[tuple[int, str]]] = {name: set() for name in timings}
    for attempt in range(5):
        for i, username in enumerate(timings):  # interleaved: a burst of load hits both alike
            browser = Browser(app, f"192.0.2.{10 + 2 * attempt + i}")
            page = await browser.http.get("/login")
            before, started = CountingHasher.checks, time.perf_counter()
            answer = await browser.http.post("/login", data={"username": username, "password": "sai-mật-khẩu",
                                                             "csrf_token": csrf(page.text)})  # fmt: skip
            timings[username].append(time.perf_counter() - started)
            assert CountingHasher.checks == before + 1, f"{username}: no password check"
            answers[username].add((answer.status_code, login_error(answer.text)))
    assert answers["thu.billing"] == answers["nobody.here"] == {(401, "Sai tên đăng nhập hoặc mật khẩu.")}
    known, unknown = statistics.median(timings["thu.billing"]), statistics.median(timings["nobody.here"])
    # The same work either way; before the fix the unknown name answered ~30 times faster.
    assert unknown > known / 2, f"unknown {unknown * 1000:.0f} ms, known {known * 1000:.0f} ms"

    # Throttled, the answer is the same too: a known name is not told apart by a lock.
    attacker = Browser(app, ATTACKER)
    for username in ("thu.billing", "nobody.here"):
        statuses = [(await attacker.login(username, f"đoán-{i}")).status_code for i in range(6)]
        assert statuses == [401] * 5 + [429], username
    assert (await attacker.login("thu.billing")).status_code == 429  # the right password too, from there


async def test_failing_on_purpose_does_not_lock_the_owner_out(app: Any, settings: Settings) -> None:
    attacker = Browser(app, ATTACKER)
    statuses = [(await attacker.login("admin", f"đoán-{i}")).status_code for i in range(7)]
    assert statuses == [401] * 5 + [429] * 2
    owner = Browser(app, OWNER)  # the administrator, at their own desk
    assert (await owner.login("admin")).status_code == 303
    restarted = create_app(settings)  # and after a restart: nothing was locked in the store either
    async with restarted.router.lifespan_context(restarted):
        assert (await Browser(restarted, OWNER).login("admin")).status_code == 303
        unknown = await Browser(restarted, OWNER).login("nobody.here")
        assert unknown.status_code == (await Browser(restarted, OWNER).login("admin", "sai")).status_code == 401


def test_the_throttle_delays_progressively_per_pair_and_per_address() -> None:
    now = [1000.0]
    throttle = LoginThrottle(per_pair=5, per_address=20, base=30.0, cap=900.0, clock=lambda: now[0])
    waits = []
    for _ in range(15):
        throttle.failed("admin", ATTACKER)
        waits.append(throttle.wait("admin", ATTACKER))
    assert waits == [0, 0, 0, 0, 30, 60, 120, 240, 480, 900, 900, 900, 900, 900, 900]
    assert throttle.wait("admin", OWNER) == 0  # the same name from elsewhere
    now[0] += 900
    assert throttle.wait("admin", ATTACKER) == 0  # a delay, not a lock

    spraying = LoginThrottle(clock=lambda: now[0])
    for i in range(20):  # one address guessing many names
        assert spraying.wait(f"user{i}", ATTACKER) == 0
        spraying.failed(f"user{i}", ATTACKER)
    assert spraying.wait("someone.else", ATTACKER) > 0 and spraying.wait("someone.else", OWNER) == 0


# --- Medium 3: unauthenticated memory growth ---


def test_the_throttle_stays_bounded_whatever_is_sent() -> None:
    now = [0.0]
    throttle = LoginThrottle(max_keys=1_000, clock=lambda: now[0])
    for i in range(30_000):  # distinct names from distinct addresses
        throttle.failed(f"name-{i}", f"10.{i // 65536}.{i // 256 % 256}.{i % 256}")
        now[0] += 0.001
    assert len(throttle) <= 1_000
    for i in range(5_000):  # tries that are only looked at create nothing
        throttle.wait(f"other-{i}", "10.9.9.9")
    assert len(throttle) <= 1_000
    now[0] += 2 * 86_400  # and everything is forgotten in time
    throttle.failed("admin", ATTACKER)
    assert len(throttle) == 2
    huge = "x" * 1_000_000
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        throttle.failed(huge, ATTACKER)  # a key is a fixed-size hash, not the name
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert kept < 10_000, kept


@pytest.mark.parametrize("chunked", [False, True])
async def test_a_megabyte_username_is_refused_and_not_kept(app: Any, chunked: bool) -> None:
    for i in range(30):
        browser = Browser(app, f"198.18.0.{i}")
        token = csrf((await browser.http.get("/login")).text)
        body = urlencode({"username": f"{i}" + "A" * 1_000_000, "password": "x", "csrf_token": token}).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        sent: Any = body
        if chunked:  # no Content-Length: counted as it arrives

            async def chunks(data: bytes = body) -> AsyncIterator[bytes]:
                for start in range(0, len(data), 65_536):
                    yield data[start : start + 65_536]

            sent = chunks()
        answer = await browser.http.post("/login", content=sent, headers=headers)
        assert answer.status_code == 413, answer.text[:300]
        assert "Biểu mẫu quá lớn" in answer.text and "Traceback" not in answer.text
    assert len(app.state.throttle) == 0


async def test_every_form_field_has_a_length_limit(app: Any) -> None:
    throttle = app.state.throttle
    browser = Browser(app, OWNER)
    long_name = await browser.login("A" * 10_000)  # under the body's cap, over the field's
    assert long_name.status_code == 422 and "Tên đăng nhập: tối đa 200 ký tự." in long_name.text
    assert len(throttle) == 0
    assert (await browser.login("lan.cs", "p" * 5_000)).status_code == 422

    assert (await browser.login("lan.cs")).status_code == 303
    page = await browser.http.get("/complaints/new")
    filed = await browser.http.post("/complaints/new", data={
        "csrf_token": csrf(page.text), "channel": "phone", "name": "An", "phone": "0901234567",
        "body": "Mạng chậm " * 2_000, "form_key": "k"})  # fmt: skip
    assert filed.status_code == 422 and "Nội dung khiếu nại: tối đa 10000 ký tự." in filed.text
    key = await browser.http.post("/complaints/new", data={"csrf_token": csrf(page.text), "form_key": "k" * 5_000})
    assert key.status_code == 422 and "form_key: tối đa 1000 ký tự." in key.text
    language = await browser.http.post("/language", data={"csrf_token": csrf(page.text), "lang": "en" * 1_000})
    assert language.status_code == 422
    search = await browser.http.get("/complaints", params={"q": "0901234567" * 30})
    assert search.status_code == 422 and "kiểm tra trường: Tìm kiếm" in search.text and "Traceback" not in search.text


# --- Low 1: extreme dates ---


def cursor(at: str) -> str:
    return base64.urlsafe_b64encode(f"{at}|KN-000001".encode()).decode()


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"received_from": "0001-01-01T00:00:00+05:00"}, "received_from"),
        ({"received_to": "9999-12-31T23:59:59-05:00"}, "received_to"),
        ({"after": cursor("0001-01-01T00:00:00+05:00")}, "after"),
        ({"after": cursor("9999-12-31T23:59:59-05:00")}, "after"),
    ],
)
async def test_extreme_dates_in_the_api_are_refused_by_name(
    app: Any, sessions: Any, params: dict[str, str], field: str
) -> None:
    async with transaction(sessions) as session:
        token = await issue_token(session, "lan.cs")
    answer = await Browser(app).http.get("/api/v1/complaints", params=params,
                                         headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"] == "invalid" and answer.json()["field"] == field
    # The far ends that do exist in UTC are ordinary bounds.
    wide = {"received_from": "0001-01-01T00:00:00Z", "received_to": "9999-12-31T23:59:59Z", "q": "mạng"}
    fine = await Browser(app).http.get("/api/v1/complaints", params=wide, headers={"Authorization": f"Bearer {token}"})
    assert fine.status_code == 200, fine.text


async def test_extreme_dates_on_postgresql(settings: Settings) -> None:
    """The same bounds on the production store: refused before the query, or served."""
    async with scratch_database("extreme_dates") as url:
        await upgrade(url)
        on_postgres = settings.model_copy(update={"database_url": url})
        engine = make_engine(url)
        try:
            async with transaction(make_sessionmaker(engine)) as session:
                token = await issue_token(session, "lan.cs")
        finally:
            await engine.dispose()
        application = create_app(on_postgres)
        async with application.router.lifespan_context(application):
            http, bearer = Browser(application).http, {"Authorization": f"Bearer {token}"}
            for params in ({"received_from": "0001-01-01T00:00:00+05:00"}, {"received_to": "9999-12-31T23:59:59-05:00"},
                           {"after": cursor("0001-01-01T00:00:00+05:00")}):  # fmt: skip
                refused = await http.get("/api/v1/complaints", params=params, headers=bearer)
                assert refused.status_code == 422, refused.text
            wide = {"received_from": "0001-01-01T00:00:00Z", "received_to": "9999-12-31T23:59:59Z", "q": "mạng"}
            assert (await http.get("/api/v1/complaints", params=wide, headers=bearer)).status_code == 200


@pytest.mark.parametrize("params", [{"from": "0001-01-01"}, {"to": "9999-12-31"},
                                    {"after": cursor("0001-01-01T00:00:00+05:00")}])  # fmt: skip
async def test_extreme_dates_on_the_list_page_get_a_message(app: Any, params: dict[str, str]) -> None:
    browser = Browser(app)
    assert (await browser.login("lan.cs")).status_code == 303
    page = await browser.http.get("/complaints", params=params)
    assert page.status_code == 422 and "Traceback" not in page.text
    assert "Vui lòng kiểm tra trường:" in page.text


# --- Low 4: unknown departments (through the API, on the real dev server with a worker) ---


class Api:
    """The JSON API, called with each user's own token."""

    def __init__(self, http: httpx.AsyncClient, tokens: dict[str, str]) -> None:
        self.http, self.tokens = http, tokens

    async def call(self, user: str, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return await self.http.request(method, url, headers={"Authorization": f"Bearer {self.tokens[user]}"}, **kwargs)

    async def act(self, user: str, cid: str, decision: str, body: dict[str, Any]) -> httpx.Response:
        return await self.call(user, "POST", f"/api/v1/complaints/{cid}/actions/{decision}", json=body)

    async def stage_of(self, cid: str) -> tuple[str, str | None]:
        state = (await self.call("lan.cs", "GET", f"/api/v1/complaints/{cid}")).json()["state"]
        return state["stage"], state["department"]


@pytest.fixture
async def api(dev_env: WorkflowEnvironment, settings: Settings, sessions: Any) -> AsyncIterator[Api]:
    async with transaction(sessions) as session:
        tokens = {user: await issue_token(session, user) for user in ("lan.cs", "minh.tech", "tuan.tech")}
    application = create_app(settings, temporal=dev_env.client)
    async with running_worker(dev_env.client, settings, sessions), application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://admin.test") as http:
            yield Api(http, tokens)


async def test_an_unknown_department_is_refused_by_name(api: Api) -> None:
    filed = await api.call("lan.cs", "POST", "/api/v1/complaints", json={
        "channel": "email", "customer": {"name": "Trần Thị Bình", "email": "binh@example.vn"},
        "subject": "Mạng chậm", "body": "Mạng rất chậm từ hôm qua"})  # fmt: skip
    assert filed.status_code == 201, filed.text
    cid = filed.json()["id"]
    verify = {"summary": "Mạng chậm", "category": "technical"}

    refused = await api.act("lan.cs", cid, "verify", verify | {"department": "ZZNOPE"})
    assert refused.status_code == 422 and refused.json()["field"] == "department", refused.text
    assert "ZZNOPE" in refused.json()["message"]
    assert await api.stage_of(cid) == ("received", None)  # nothing was sent

    verified = await api.act("lan.cs", cid, "verify", verify | {"department": "TECH"})
    assert verified.status_code == 200, verified.text
    reroute = await api.act("lan.cs", cid, "reroute", {"department": "ZZNOPE", "reason": "Sai bộ phận"})
    assert reroute.status_code == 422 and reroute.json()["field"] == "department"
    assert (await api.act("minh.tech", cid, "escalate", {"reason": "Vượt thẩm quyền"})).status_code == 200
    decide = {"decision": "reroute", "department": "ZZNOPE", "instructions": "Chuyển đi"}
    answer = await api.act("tuan.tech", cid, "decide", decide)
    assert answer.status_code == 422 and answer.json()["field"] == "department"
    assert await api.stage_of(cid) == ("escalated", "TECH")


# --- Low 5: deactivating an account revokes its sessions and its token ---


async def test_deactivation_revokes_sessions_and_token_for_good(app: Any, sessions: Any) -> None:
    async with transaction(sessions) as session:
        token = await issue_token(session, "lan.cs")
        staff = await session.scalar(select(Staff).where(Staff.username == "lan.cs"))
        assert staff is not None
        row = {"full_name": staff.full_name, "email": staff.email or "", "role": "cs_agent", "department": "CS"}
    agent = Browser(app, OWNER)
    assert (await agent.login("lan.cs")).status_code == 303
    bearer = {"Authorization": f"Bearer {token}"}
    assert (await agent.http.get("/", follow_redirects=False)).status_code == 200
    assert (await agent.http.get("/api/v1/complaints", headers=bearer)).status_code == 200

    admin = Browser(app, "192.0.2.200")
    assert (await admin.login("admin")).status_code == 303
    for active in ({}, {"active": "on"}):  # deactivated, then reactivated
        page = await admin.http.get("/admin/staff")
        saved = await admin.http.post("/admin/staff/lan.cs", data=row | active | {"csrf_token": csrf(page.text)})
        assert saved.status_code == 303, saved.text
        assert (await agent.http.get("/", follow_redirects=False)).headers["location"] == "/login"
        assert (await agent.http.get("/api/v1/complaints", headers=bearer)).status_code == 401
        assert (await Browser(app).http.get("/api/v1/complaints", headers=bearer)).status_code == 401
    assert (await Browser(app, OWNER).login("lan.cs")).status_code == 303  # a new login works again


# --- Low 6: a non-Bearer Authorization header must not skip the CSRF check ---


@pytest.mark.parametrize("authorization", ["Basic bGFuLmNzOng=", "Token abc", "bearer", "Bearer"])
async def test_a_cookie_write_needs_its_csrf_token_whatever_the_authorization_header(
    app: Any, sessions: Any, authorization: str
) -> None:
    async with transaction(sessions) as session:
        token = await issue_token(session, "lan.cs")
    victim = Browser(app)
    assert (await victim.login("lan.cs")).status_code == 303
    forged = {"Authorization": authorization}  # what a cross-site form or script could add
    revoke = await victim.http.delete("/api/v1/token", headers=forged)
    assert revoke.status_code == 403 and revoke.json()["error"] == "csrf", revoke.text
    filed = await victim.http.post("/api/v1/complaints", headers=forged, json={
        "channel": "phone", "customer": {"name": "An", "phone": "0901234567"}, "body": "Giả mạo"})  # fmt: skip
    assert filed.status_code == 403 and filed.json()["error"] == "csrf"
    bearer = {"Authorization": f"Bearer {token}"}
    assert (await Browser(app).http.get("/api/v1/complaints", headers=bearer)).status_code == 200  # not revoked
    session_csrf = csrf((await victim.http.get("/")).text)
    own = await victim.http.delete("/api/v1/token", headers=forged | {"X-CSRF-Token": session_csrf})
    assert own.status_code == 204  # with the session's CSRF token, the cookie's own write goes through
