"""The driver: complaints carried from filing to ``closed`` through the JSON API over HTTP.

Every request that fails in a way that leaves its effect unknown (no answer, a timeout, a 5xx)
is retried only after a GET shows it was not applied; a 409 ``wrong_stage`` on such a retry
means the first attempt had gone through. Outages are waited out (up to GIVE_UP_AFTER); a
complaint the driver still cannot close ends up as ``lost`` in the figures.
"""

import asyncio
import random
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import httpx

from faults.staff import Login

RETRYABLE = {500, 502, 503, 504}
# Long enough for a decision whose step waits for a restarted worker or a retried activity.
TIMEOUT = httpx.Timeout(90.0, connect=5.0)
GIVE_UP_AFTER = 300.0  # seconds a complaint may stay unreadable before the journey fails


class Kind(StrEnum):
    EMAIL = "email"  # verify → resolve → reply (email) → close
    LETTER = "letter"  # by post: verify → resolve → sign_reply (the signed letter) → close
    ESCALATED = "escalated"  # verify → escalate → decide (approve) → reply → close
    TIMER = "timer"  # as email, but resolved only once its (seconds-long) SLA timers fired


CUSTOMER_MAILS = {"acknowledgement", "reply", "closing"}
STAFF_MAILS: dict[Kind, set[str]] = {
    Kind.EMAIL: set(),
    Kind.LETTER: set(),
    Kind.ESCALATED: {"escalated"},
    Kind.TIMER: {"warning", "breach"},
}
CATEGORY = {"TECH": "technical", "BILLING": "billing"}


class JourneyFailed(Exception):
    pass


@dataclass
class Journey:
    number: int
    kind: Kind
    department: str
    key: str
    admin: str = "admin"  # which admin process files it (they may differ in SLA settings)
    late_verify: bool = False  # verified only after the first-response timer fired
    hold_at: str | None = None  # a probe: wait at this stage until a scenario releases it
    gate: asyncio.Event | None = None  # filed only once a scenario sets it
    reached: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    filed: asyncio.Event = field(default_factory=asyncio.Event)  # (or gave up before)
    finished: asyncio.Event = field(default_factory=asyncio.Event)
    complaint_id: str | None = None
    state: dict[str, Any] | None = None
    closed: bool = False
    failure: str | None = None
    trail: list[str] = field(default_factory=list)

    def note(self, text: str) -> None:
        now = time.time()
        self.trail.append(f"{time.strftime('%H:%M:%S', time.localtime(now))}.{int(now * 10) % 10} {text}")

    def expected_mails(self) -> set[str]:
        extra = {"first_response_breach"} if self.late_verify else set()
        return CUSTOMER_MAILS | STAFF_MAILS[self.kind] | extra

    @property
    def name(self) -> str:
        return self.complaint_id or f"#{self.number}"


@dataclass
class Stats:
    requests: int = 0
    unavailable: int = 0  # 503 answers with the JSON error body
    no_answer: int = 0  # connection refused or reset, or timed out
    retried: int = 0  # requests sent again after an ambiguous failure
    applied_anyway: int = 0  # ...and found to have been applied by the earlier attempt
    server_errors: list[str] = field(default_factory=list)  # 5xx other than 503: product bugs
    bad_503: list[str] = field(default_factory=list)  # a 503 without the {"error", "message"} body
    applied_after_503: list[str] = field(default_factory=list)  # a 503 says "nothing was applied"
    statuses: Counter[int] = field(default_factory=Counter)


@dataclass(frozen=True)
class Step:
    decision: str
    who: str  # a key of staff.PEOPLE
    body: dict[str, Any]


WAIT, HOLD = "wait", "hold"


def next_step(journey: Journey, state: dict[str, Any] | None) -> Step | str | None:
    """The journey's next decision from the complaint's current state (None: it is closed)."""
    stage = state["stage"] if state else "received"
    log = [entry["action"] for entry in state["log"]] if state else []
    dept, sup = journey.department, f"{journey.department}_SUP"
    if stage == "closed":
        return None
    if journey.hold_at == stage and not journey.release.is_set():
        return HOLD
    if stage == "received":
        if journey.late_verify and not (state and state["first_response_breached"]):
            return WAIT
        return Step("verify", "cs", {"summary": f"Phản ánh số {journey.number}", "category": CATEGORY[dept]})
    if stage == "in_progress":
        if journey.kind is Kind.TIMER and not (state and state["warned"] and state["breaches"] >= 1):
            return WAIT
        if journey.kind is Kind.ESCALATED and "escalate" not in log:
            return Step("escalate", dept, {"reason": "Cần thay thiết bị, vượt thẩm quyền"})
        return Step(
            "resolve",
            dept,
            {
                "cause": "Modem lỗi firmware",
                "resolution": "Cập nhật firmware từ xa",
                "within_authority": True,
                "reply_draft": "Chúng tôi đã cập nhật firmware cho modem của Quý khách.",
            },
        )
    if stage == "escalated":
        return Step("decide", sup, {"decision": "approve", "instructions": "Đồng ý thay thiết bị"})
    if stage == "awaiting_signature":
        return Step("sign_reply", sup, {"approved": True})
    if stage == "ready_to_reply":
        return Step("reply", "cs", {"method": "email", "message": "Sự cố đã được khắc phục."})
    if stage == "replied":
        return Step("close", dept, {"root_cause": "Firmware cũ", "lessons_learned": "Rà soát firmware định kỳ"})
    raise JourneyFailed(f"no plan for stage {stage}")


def times_taken(state: dict[str, Any] | None, decision: str) -> int:
    return sum(1 for entry in state["log"] if entry["action"] == decision) if state else 0


def _is_error_body(response: httpx.Response) -> bool:
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and isinstance(body.get("error"), str) and isinstance(body.get("message"), str)


class Api:
    """HTTP with bookkeeping: every answer counted, every 5xx other than 503 kept as evidence."""

    def __init__(self, stats: Stats) -> None:
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=32)
        self.http = httpx.AsyncClient(timeout=TIMEOUT, limits=limits)
        self.stats = stats

    async def close(self) -> None:
        await self.http.aclose()

    async def request(
        self, method: str, url: str, token: str, json: Any = None, headers: dict[str, str] | None = None
    ) -> httpx.Response | None:
        """The answer, or None when there was none (refused, reset, timed out)."""
        try:
            response = await self.http.request(
                method, url, json=json, headers={"Authorization": f"Bearer {token}", **(headers or {})}
            )
        except httpx.TransportError:
            self.stats.no_answer += 1
            return None
        self.stats.requests += 1
        self.stats.statuses[response.status_code] += 1
        if response.status_code == 503:
            self.stats.unavailable += 1
            if not _is_error_body(response):
                self.stats.bad_503.append(f"{method} {url}: {response.text[:200]!r}")
        elif response.status_code >= 500:
            self.stats.server_errors.append(f"{method} {url} -> {response.status_code} {response.text[:300]}")
        return response


def backoff(attempt: int) -> float:
    return float(min(0.5 * 2**attempt, 5.0))


class Driver:
    def __init__(self, api: Api, urls: dict[str, str], logins: dict[str, Login]) -> None:
        self.api, self.urls, self.logins = api, urls, logins
        self.filed = 0
        self.finished = 0
        self.journeys: list[Journey] = []
        self.progress = asyncio.Event()  # set at each filing and each journey's end

    def _url(self, journey: Journey, path: str = "") -> str:
        return f"{self.urls[journey.admin]}/api/v1/complaints{path}"

    def token(self, who: str) -> str:
        return self.logins[who].token

    async def file(self, journey: Journey) -> None:
        body = {
            "channel": "post" if journey.kind is Kind.LETTER else "email",
            "customer": {
                "name": f"Khách hàng {journey.number}",
                "email": f"khach{journey.number}@example.vn",
                "address": "12 Lê Lợi, Quận 1, Tp.HCM",
            },
            "subject": f"Mất kết nối #{journey.number}",
            "body": "Đường truyền của tôi bị mất liên tục từ ngày 10, ảnh hưởng công việc.",
        }
        headers = {"Idempotency-Key": journey.key}
        failed_with: int | None = None  # status of the last failed attempt (0: no answer)
        attempt = 0
        while True:
            response = await self.api.request("POST", self._url(journey), self.token("cs"), body, headers)
            if response is not None and response.status_code in (200, 201):
                journey.complaint_id = response.json()["id"]
                if response.status_code == 200:  # the key had been filed already
                    if failed_with is None:
                        raise JourneyFailed(f"a fresh Idempotency-Key {journey.key} was already filed")
                    self.api.stats.applied_anyway += 1
                    if failed_with == 503:
                        self.api.stats.applied_after_503.append(f"{journey.complaint_id} file")
                journey.note(f"filed ({response.status_code}) after {attempt} retries")
                self.filed += 1
                self.progress.set()
                journey.filed.set()
                return
            if response is not None and response.status_code not in RETRYABLE:
                raise JourneyFailed(f"filing answered {response.status_code}: {response.text[:300]}")
            failed_with = response.status_code if response is not None else 0
            if failed_with == 503 and _error(response) != "unavailable":  # type: ignore[arg-type]
                failed_with = -503  # "outcome unknown": an honest 503 that may have filed it
            attempt += 1
            self.api.stats.retried += 1
            journey.note(f"file attempt {attempt} failed ({failed_with})")
            await asyncio.sleep(backoff(attempt))

    async def _settled(self, journey: Journey, state: dict[str, Any]) -> None:
        """A decision seen applied after an outage may still be finishing (verify's routing runs
        after it is logged): wait, as a person reloading the page would, until it is routed."""
        for _ in range(120):
            if state.get("stage") == "received" or state.get("department"):
                return
            await asyncio.sleep(0.5)
            state = await self.fetch(journey)

    async def fetch(self, journey: Journey) -> dict[str, Any]:
        """The complaint's current state, waiting through outages."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + GIVE_UP_AFTER
        attempt = 0
        while True:
            response = await self.api.request("GET", self._url(journey, f"/{journey.complaint_id}"), self.token("cs"))
            if response is not None and response.status_code == 200:
                state: dict[str, Any] = response.json()["state"]
                journey.state = state
                return state
            if response is not None and response.status_code in (401, 403, 404, 422):
                raise JourneyFailed(f"GET answered {response.status_code}: {response.text[:300]}")
            if loop.time() > deadline:
                status = response.status_code if response is not None else "no answer"
                raise JourneyFailed(f"unreadable for {GIVE_UP_AFTER:.0f}s (last: {status})")
            attempt += 1
            await asyncio.sleep(backoff(attempt))

    async def decide(self, journey: Journey, step: Step) -> None:
        url = self._url(journey, f"/{journey.complaint_id}/actions/{step.decision}")
        before = times_taken(journey.state, step.decision)
        ambiguous = False
        attempt = 0
        while True:
            response = await self.api.request("POST", url, self.token(step.who), step.body)
            if response is not None and response.status_code == 200:
                journey.state = response.json()["state"]
                journey.note(f"{step.decision} ok" + (f" after {attempt} retries" if attempt else ""))
                return
            if response is not None and response.status_code == 409 and ambiguous:
                # Refused for the stage: an earlier attempt went through after all?
                state = await self.fetch(journey)
                if times_taken(state, step.decision) > before:
                    self.api.stats.applied_anyway += 1
                    journey.note(f"{step.decision} had been applied (409 on retry)")
                    return
            if response is not None and response.status_code not in RETRYABLE:
                raise JourneyFailed(f"{step.decision} answered {response.status_code}: {response.text[:300]}")
            # A 503 that claims "nothing was applied" (error "unavailable") must be true; one that
            # says the outcome is unknown ("outcome_unknown") may have been applied.
            was_503 = response is not None and response.status_code == 503 and _error(response) == "unavailable"
            ambiguous = True
            attempt += 1
            journey.note(f"{step.decision} attempt {attempt} failed ({response.status_code if response else 0})")
            await asyncio.sleep(backoff(attempt))
            state = await self.fetch(journey)
            if times_taken(state, step.decision) > before:
                self.api.stats.applied_anyway += 1
                if was_503:
                    self.api.stats.applied_after_503.append(f"{journey.complaint_id} {step.decision}")
                journey.note(f"{step.decision} had been applied (seen by GET)")
                await self._settled(journey, state)
                return
            self.api.stats.retried += 1

    async def carry(self, journey: Journey) -> None:
        """File (unless filed) and take decisions until the complaint is closed."""
        try:
            if journey.gate is not None:
                await journey.gate.wait()
            journey.note("start")
            if journey.complaint_id is None:
                await self.file(journey)
            waited = 0.0
            while True:
                step = next_step(journey, journey.state)
                if step is None:
                    journey.closed = True
                    journey.note("closed")
                    return
                if step == HOLD:
                    journey.reached.set()
                    await journey.release.wait()
                    await self.fetch(journey)
                elif step == WAIT:  # for the complaint's timers to fire
                    if waited > GIVE_UP_AFTER:
                        raise JourneyFailed(f"its timers had not fired after {waited:.0f}s: {journey.state}")
                    await asyncio.sleep(1.0)
                    waited += 1.0
                    await self.fetch(journey)
                elif isinstance(step, Step):
                    await self.decide(journey, step)
        except JourneyFailed as exc:
            journey.failure = str(exc)
            journey.note(f"FAILED: {exc}")
        finally:
            # A journey that failed early must not keep its scenario waiting.
            journey.reached.set()
            journey.filed.set()
            journey.finished.set()
            self.finished += 1
            self.progress.set()

    async def run(self, bounded: list[Journey], side: list[Journey], concurrency: int) -> None:
        """``bounded`` journeys ``concurrency`` at a time; ``side`` ones (mostly waiting on timers
        or probes) alongside, unbounded."""
        gate = asyncio.Semaphore(concurrency)
        self.journeys = [*bounded, *side]

        async def one(journey: Journey) -> None:
            async with gate:
                await self.carry(journey)

        await asyncio.gather(*(one(j) for j in bounded), *(self.carry(j) for j in side))


def plan(count: int, rng: random.Random, run_id: str) -> list[Journey]:
    """Mostly email journeys; one in ten by post (signed letter), one in ten escalated."""
    journeys = []
    for n in range(1, count + 1):
        kind = Kind.LETTER if n % 10 == 3 else Kind.ESCALATED if n % 10 == 7 else Kind.EMAIL
        department = rng.choice(["TECH", "BILLING"])
        journeys.append(Journey(n, kind, department, key=f"faults-{run_id}-{n}"))
    return journeys


class Browser:
    """A staff member in the web UI (session cookie), to read what the complaint page shows."""

    # The page names a mail's status in words; its class carries the status itself.
    BADGE = re.compile(r'<span class="badge mail-([a-z_]+)">')

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = httpx.AsyncClient(base_url=base_url, timeout=TIMEOUT, follow_redirects=False)

    async def close(self) -> None:
        await self.http.aclose()

    async def login(self, login: Login) -> None:
        page = await self.http.get("/login")
        found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        if found is None:
            raise JourneyFailed("no CSRF token on the login page")
        done = await self.http.post(
            "/login", data={"csrf_token": found.group(1), "username": login.username, "password": login.password}
        )
        if done.status_code != 303:
            raise JourneyFailed(f"login as {login.username} answered {done.status_code}")

    async def mail_statuses(self, complaint_id: str) -> list[str]:
        """The delivery status of each mail listed on the complaint page."""
        page = await self.http.get(f"/complaints/{complaint_id}")
        if page.status_code != 200:
            raise JourneyFailed(f"complaint page {complaint_id} answered {page.status_code}")
        return self.BADGE.findall(page.text)


def _error(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("error") if isinstance(body, dict) else None
