"""The four faults, each injected while the driver carries complaints through their journeys.

A scenario decides which store it runs on, may shape some journeys for its own probes, and
injects its fault from a task that runs beside the driver; it reports how many faults it
injected, figures of its own and problems (anything that broke a promise of the product).
"""

import asyncio
import atexit
import contextlib
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.api.workflow.v1 import PendingActivityInfo
from temporalio.client import Client

from domain.ids import complaint_id_for
from domain.steps import Activity
from faults.journeys import Browser, Driver, Journey, JourneyFailed, Kind, Stats
from faults.stack import Stack
from faults.staff import Login
from intake.mail_message import parse_with_settings
from intake.mailbox_poll import poll_workflow_id
from localstack.dovecot import DovecotServer
from localstack.ports import free_port
from localstack.postgres import PostgresCluster
from store import mail_inbox
from store.engine import make_engine, make_sessionmaker
from store.tables import OutboxMail
from temporal_client.connection import connect
from temporal_client.histories import (
    activity_in_flight,
    failed_by_itself,
    pending_activities,
    started,
    still_pending,
    workflow_exists,
)


@dataclass
class Context:
    stack: Stack
    driver: Driver
    logins: dict[str, Login]
    rng: random.Random
    count: int
    stats: Stats
    postgres: PostgresCluster | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)  # the driver has finished
    faults: int = 0
    extra: dict[str, tuple[str, bool]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    # Complaints filed other than by the journeys (mail in): counted with them, checked by the scenario.
    other_complaints: list[str] = field(default_factory=list)

    async def until_filed(self, share: float) -> None:
        await self._until(lambda: self.driver.filed >= share * self.count)

    async def until_finished(self, share: float) -> None:
        await self._until(lambda: self.driver.finished >= share * self.count)

    async def _until(self, condition: Callable[[], bool]) -> None:
        """Until ``condition`` holds (checked at each filing or finished journey) or the driver is done."""
        while not condition() and not self.done.is_set():
            self.driver.progress.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.driver.progress.wait(), 1.0)


class Scenario:
    name = ""
    store = "sqlite"

    def prepare(self, stack: Stack) -> None:
        """Extra processes or settings, before anything starts."""

    def shape(self, journeys: list[Journey]) -> tuple[list[Journey], list[Journey]]:
        """(bounded, side): side journeys run beside the bounded ones (they mostly wait)."""
        return journeys, []

    async def inject(self, ctx: Context) -> None:
        raise NotImplementedError


class WorkerKill(Scenario):
    """SIGKILL the worker at random moments spread over the run (a random share of the journeys
    done), restart it at once or after a while; in-flight steps and mails are cut anywhere."""

    name = "worker-kill"
    KILLS = 6
    MIN_GAP = 4.0  # seconds between a restart and the next kill: a worker that gets to run

    async def inject(self, ctx: Context) -> None:
        for share in sorted(ctx.rng.uniform(0.03, 0.85) for _ in range(self.KILLS)):
            await ctx.until_finished(share)
            if ctx.done.is_set():
                return
            await asyncio.to_thread(ctx.stack.kill_worker)
            ctx.faults += 1
            await asyncio.sleep(ctx.rng.choice([0.0, 0.0, 0.5, 1.0, 3.0, 6.0]))
            await asyncio.to_thread(ctx.stack.start_worker)
            await asyncio.sleep(self.MIN_GAP + ctx.rng.uniform(0.0, 4.0))


# Seconds-long SLA timers on a second admin process: the policy is snapshotted by the process
# that files (intake.policy_from with the admin's settings).
TIMER_SLA = {
    "COMPLAINTS_SLA_FIRST_RESPONSE": "PT15S",
    "COMPLAINTS_SLA_WARNING": "PT25S",
    "COMPLAINTS_SLA_RESOLUTION": "PT35S",
}


class TemporalRestart(Scenario):
    """Stop the dev server (persistent SQLite) mid-journeys and start it again on the same file.

    Probes: complaints held at ``in_progress`` get a ``resolve`` during the outage (each must be
    a 503 with the JSON error body, and not applied after the restart); one new complaint is
    filed during the outage (503; filing the same key afterwards must create it, not find it);
    complaints filed with 15-35 s timers just before the outage must still get their
    first-response notice, warning and breach escalation, the ones due during it right after.
    """

    name = "temporal-restart"
    OUTAGE = 22.0
    OUTAGE_AFTER = 5.0  # seconds after the timer complaints are filed: their timers fall in the outage

    def __init__(self) -> None:
        self.timers: list[Journey] = []
        self.probes: list[Journey] = []
        self.late_filing: Journey | None = None

    def prepare(self, stack: Stack) -> None:
        stack.add_admin("admin-timers", free_port(), TIMER_SLA)

    def shape(self, journeys: list[Journey]) -> tuple[list[Journey], list[Journey]]:
        n_timers = max(1, min(10, len(journeys) // 20))
        n_probes = max(1, min(8, len(journeys) // 25))
        self.timers = journeys[:n_timers]
        for i, journey in enumerate(self.timers):
            journey.kind, journey.admin, journey.late_verify = Kind.TIMER, "admin-timers", i % 2 == 1
            journey.gate = asyncio.Event()  # filed only when the outage is near
        self.probes = journeys[n_timers : n_timers + n_probes]
        for journey in self.probes:
            journey.kind, journey.hold_at = Kind.EMAIL, "in_progress"
        self.late_filing = journeys[n_timers + n_probes]
        self.late_filing.kind = Kind.EMAIL
        bounded = journeys[n_timers + n_probes + 1 :]
        return bounded, self.timers + self.probes

    async def inject(self, ctx: Context) -> None:
        assert self.late_filing is not None
        loop = asyncio.get_running_loop()
        await asyncio.gather(*(p.reached.wait() for p in self.probes))
        for journey in self.timers:
            assert journey.gate is not None
            journey.gate.set()
        await asyncio.gather(*(j.filed.wait() for j in self.timers))
        await asyncio.sleep(self.OUTAGE_AFTER)
        stopped = datetime.now(UTC)
        await asyncio.to_thread(ctx.stack.stop_temporal)
        ctx.faults += 1
        back_at = loop.time() + self.OUTAGE
        held = [p for p in self.probes if p.failure is None and p.state and p.state["stage"] == "in_progress"]
        answers = await asyncio.gather(
            *(self._probe_decision(ctx, p) for p in held), self._probe_filing(ctx, self.late_filing)
        )
        clear = sum(1 for ok in answers if ok)
        await asyncio.sleep(max(0.0, back_at - loop.time()))
        restarting = datetime.now(UTC)
        await asyncio.to_thread(ctx.stack.start_temporal)
        # Not applied: each probe still in_progress with no resolve in its log.
        untouched = 0
        for probe in held:
            try:
                state = await ctx.driver.fetch(probe)
            except JourneyFailed as exc:
                ctx.problems.append(f"probe {probe.name}: unreadable after the restart: {exc}")
                continue
            if state["stage"] == "in_progress" and all(e["action"] != "resolve" for e in state["log"]):
                untouched += 1
            else:
                ctx.problems.append(
                    f"probe {probe.name}: the resolve sent during the outage was applied: {state['stage']}"
                )
        for probe in self.probes:
            probe.release.set()
        ctx.extra["outage_503"] = (f"{clear}/{len(answers)}", clear != len(answers))
        ctx.extra["not_applied"] = (f"{untouched}/{len(held)}", untouched != len(held) or not held)
        # Filing the same key now must create the complaint: the outage attempt left nothing.
        await ctx.driver.carry(self.late_filing)
        # Every timer fired; the ones that came due while the server was down, once it was back.
        await asyncio.gather(*(j.finished.wait() for j in self.timers))
        checked = [(j, self._timers(j, stopped, restarting)) for j in self.timers]
        fine = sum(1 for _, (wrong, _) in checked if not wrong)
        in_outage = sum(n for _, (_, n) in checked)
        ctx.extra["timers"] = (f"{fine}/{len(self.timers)}", fine != len(self.timers) or not in_outage)
        ctx.extra["timers_in_outage"] = (str(in_outage), not in_outage)
        ctx.problems += [f"timers of {j.name}: {'; '.join(wrong)}" for j, (wrong, _) in checked if wrong]

    @staticmethod
    def _timers(journey: Journey, stopped: datetime, restarting: datetime) -> tuple[list[str], int]:
        """What is wrong with the journey's timers (each must fire, none logged before it was
        due), and how many were due during the outage."""
        if journey.state is None:
            return ["never read"], 0
        fired = {e["action"]: e["at"] for e in journey.state["log"] if e["actor"]["role"] == "system"}
        expected = {"warning", "breach"} | ({"first_response_breach"} if journey.late_verify else set())
        due = {
            "first_response_breach": journey.state["first_response_due"],
            "warning": journey.state["warning_at"],
            "breach": journey.state["deadline"],
        }
        wrong = [f"{kind} never fired" for kind in sorted(expected - fired.keys())]
        in_outage = [kind for kind in expected if stopped <= datetime.fromisoformat(due[kind]) < restarting]
        # Never logged before it was due. (One due during the outage fires once the server is
        # back; its log entry carries the due time: the workflow's clock is not the wall clock.)
        wrong += [
            f"{kind} due {due[kind]} logged early, at {fired[kind]}"
            for kind in expected
            if kind in fired and datetime.fromisoformat(fired[kind]) < datetime.fromisoformat(due[kind])
        ]
        return wrong, len(in_outage)

    async def _probe_decision(self, ctx: Context, probe: Journey) -> bool:
        body = {"cause": "Đứt cáp", "resolution": "Nối lại cáp", "within_authority": True, "reply_draft": "Đã nối cáp."}
        url = f"{ctx.stack.admin_url()}/api/v1/complaints/{probe.complaint_id}/actions/resolve"
        return self._clear_503(
            ctx, probe.name, await ctx.driver.api.request("POST", url, ctx.driver.token(probe.department), body)
        )

    async def _probe_filing(self, ctx: Context, journey: Journey) -> bool:
        body = {
            "channel": "email",
            "customer": {"name": "Probe", "email": "probe@example.vn"},
            "body": "Thử khi máy chủ dừng",
        }
        url = f"{ctx.stack.admin_url()}/api/v1/complaints"
        headers = {"Idempotency-Key": journey.key}
        response = await ctx.driver.api.request("POST", url, ctx.driver.token("cs"), body, headers)
        return self._clear_503(ctx, f"filing {journey.key}", response)

    @staticmethod
    def _clear_503(ctx: Context, what: str, response: httpx.Response | None) -> bool:
        if response is None:
            ctx.problems.append(f"{what}: no answer during the Temporal outage (expected a 503)")
            return False
        try:
            body = response.json()
        except ValueError:
            body = None
        ok = response.status_code == 503 and isinstance(body, dict) and {"error", "message"} <= body.keys()
        if not ok:
            ctx.problems.append(f"{what}: answered {response.status_code} {response.text[:200]} during the outage")
        return ok


class SmtpDown(Scenario):
    """Stop the mail catcher for a while: mails wait (``pending`` on the complaint page) and are
    delivered once, with backoff, when it is back on the same port and directory."""

    name = "smtp-down"
    OUTAGE = 20.0

    async def inject(self, ctx: Context) -> None:
        await ctx.until_filed(0.25)
        before = {j.complaint_id for j in ctx.driver.journeys if j.complaint_id}
        await asyncio.to_thread(ctx.stack.stop_catcher)
        ctx.faults += 1
        loop = asyncio.get_running_loop()
        back_at = loop.time() + self.OUTAGE
        browser = Browser(ctx.stack.admin_url())
        pending_pages: set[str] = set()
        try:
            await browser.login(ctx.logins["cs"])
            while loop.time() < back_at - 2:
                await asyncio.sleep(3.0)
                fresh = [j.complaint_id for j in ctx.driver.journeys if j.complaint_id and j.complaint_id not in before]
                for cid in fresh[-5:]:
                    if "pending" in await browser.mail_statuses(cid):
                        pending_pages.add(cid)
        except (JourneyFailed, httpx.HTTPError) as exc:
            ctx.problems.append(f"complaint page during the SMTP outage: {exc!r}")
        finally:
            await browser.close()
        await asyncio.sleep(max(0.0, back_at - loop.time()))
        await asyncio.to_thread(ctx.stack.start_catcher)
        ctx.extra["pending_seen"] = (str(len(pending_pages)), not pending_pages)


class PostgresRestart(Scenario):
    """The store on PostgreSQL, stopped for a while mid-run and later restarted quickly."""

    name = "postgres-restart"
    store = "postgresql"
    OUTAGE = 10.0

    async def inject(self, ctx: Context) -> None:
        assert ctx.postgres is not None
        await ctx.until_filed(0.3)
        await asyncio.to_thread(ctx.postgres.stop)
        ctx.faults += 1
        await asyncio.sleep(self.OUTAGE)
        await asyncio.to_thread(ctx.postgres.start)
        await ctx.until_filed(0.65)
        if ctx.done.is_set():
            return
        # `pg_ctl restart -m fast`, as an operator applying a configuration change does.
        await asyncio.to_thread(ctx.postgres.stop)
        await asyncio.to_thread(ctx.postgres.start)
        ctx.faults += 1


TAKE_IN = {Activity.MAILBOX_TAKE_IN.value}  # fetches one message and files it
# Every step of the poll that talks to the IMAP server on the worker's connection.
POLL_STEPS = {Activity.MAILBOX_FETCH.value, Activity.MAILBOX_TAKE_IN.value, Activity.MAILBOX_MARK.value}


class MailboxFaults(Scenario):
    """Mail in: a mailbox on a real Dovecot, polled by the worker. The worker is SIGKILLed while
    a message is being fetched and filed (a take-in activity running), then the IMAP server is
    restarted while one is; each fault is injected again (up to TRIES times, with more mail)
    until Temporal's description of the poll confirms it cut a take-in in flight. A take-in's IMAP
    part lasts milliseconds: an IMAP restart that missed it but cut the worker's held connection
    under the poll's next step (that one failed and is retried) counts too, and says so
    ("tryN:next_mailbox_take_in"). Every message is filed once, none lost."""

    name = "mailbox"
    WITHIN = 240.0  # seconds for the whole mailbox to be taken in
    TRIES = 5  # each fault injected at most this many times, until one cut a take-in
    IN_FLIGHT_WITHIN = 30.0  # seconds to see a take-in running after new mail
    OUTAGE = 3.0  # seconds the IMAP server stays down

    def __init__(self) -> None:
        self.dovecot: DovecotServer | None = None

    def prepare(self, stack: Stack) -> None:
        self.dovecot = DovecotServer(directory=stack.directory / "dovecot")
        self.dovecot.create()
        atexit.register(self.dovecot.remove)  # also if the run fails before inject
        stack.env.update(
            {
                "COMPLAINTS_IMAP_HOST": self.dovecot.host,
                "COMPLAINTS_IMAP_PORT": str(self.dovecot.port),
                "COMPLAINTS_IMAP_USERNAME": self.dovecot.username,
                "COMPLAINTS_IMAP_PASSWORD": self.dovecot.password,
                "COMPLAINTS_IMAP_CA_FILE": str(self.dovecot.ca_file),
                "COMPLAINTS_IMAP_POLL_INTERVAL": "PT1S",
                "COMPLAINTS_IMAP_BATCH_SIZE": "5",
                "COMPLAINTS_IMAP_POLLS_PER_RUN": "4",  # continue-as-new under the faults too
                "COMPLAINTS_IMAP_TIMEOUT": "PT5S",  # a killed worker's take-in runs again after this
            }
        )

    async def inject(self, ctx: Context) -> None:
        assert self.dovecot is not None
        dovecot = self.dovecot
        count = max(30, ctx.count // 2)
        raws = [_mailbox_message(ctx.rng, n) for n in range(count)]
        settings = ctx.stack.settings()
        keys = [parse_with_settings(raw, settings).intake_key for raw in raws]
        workflow_id = poll_workflow_id(settings)
        pool = list(raws)  # delivered a chunk before each fault, the rest after them
        engine = make_engine(ctx.stack.env["COMPLAINTS_DATABASE_URL"])
        sessions = make_sessionmaker(engine)
        client = await connect(settings)
        try:
            await ctx.until_filed(0.1)
            killed = await self._mid_fetch(ctx, client, workflow_id, pool, self._kill_worker)
            ctx.extra["worker_killed_mid_fetch"] = (killed or "never", killed is None)
            # The mail so far taken in first: the restarted worker then fetches on a connection it
            # holds, which the IMAP restart must cut (not on its first connect).
            await _until_taken(sessions, keys, count - len(pool), self.WITHIN)
            restarted = await self._mid_fetch(ctx, client, workflow_id, pool, self._restart_imap)
            ctx.extra["imap_restarted_mid_fetch"] = (restarted or "never", restarted is None)
            await asyncio.to_thread(dovecot.append_all, pool)
            if await _until_taken(sessions, keys, count, self.WITHIN) < count:
                ctx.problems.append("lost: the mailbox was not all taken in")
            async with sessions() as session:
                taken = await mail_inbox.outcomes(session, keys)
            filed = {key: t.complaint_id for key, t in taken.items() if t.outcome == "filed" and t.complaint_id}
            ctx.other_complaints += sorted(set(filed.values()))
            doubled = [key for key in filed if await workflow_exists(client, complaint_id_for(key, 1))]
            ctx.problems += [f"duplicate: mail {key} filed twice" for key in doubled]
            ctx.problems += [f"lost: mail {key} not filed" for key in keys if key not in filed]
            if not await _until_mailed(sessions, sorted(set(filed.values())), self.WITHIN):
                ctx.problems.append("the acknowledgements of the mail complaints were not all sent")
            ctx.extra["mail_filed"] = (f"{len(filed)}/{count}", len(filed) != count)
            ctx.extra["mail_duplicated"] = (str(len(doubled)), bool(doubled))
        finally:
            await engine.dispose()
            await asyncio.to_thread(dovecot.remove)

    async def _mid_fetch(
        self,
        ctx: Context,
        client: Client,
        workflow_id: str,
        pool: list[bytes],
        fault: Callable[[Context, Client, str, PendingActivityInfo], Awaitable[str | None]],
    ) -> str | None:
        """Deliver a chunk of the pool, wait for a take-in to run, inject ``fault``; again (with
        more mail) until the fault confirms what it cut ("" that take-in, or which one).
        "tryN" (and which) when it did, else None."""
        chunk = max(5, len(pool) // 8)
        for attempt in range(1, self.TRIES + 1):
            delivery, pool[:chunk] = pool[:chunk], []
            if delivery:
                assert self.dovecot is not None
                await asyncio.to_thread(self.dovecot.append_all, delivery)
            seen = await activity_in_flight(client, workflow_id, TAKE_IN, self.IN_FLIGHT_WITHIN)
            if seen is None:
                continue
            cut = await fault(ctx, client, workflow_id, seen)
            if cut is not None:
                return f"try{attempt}" + (f":{cut}" if cut else "")
            await asyncio.sleep(1.0)
        return None

    async def _kill_worker(
        self, ctx: Context, client: Client, workflow_id: str, seen: PendingActivityInfo
    ) -> str | None:
        """SIGKILL the worker, start it again. It cut ``seen`` if Temporal still shows that attempt
        started once the worker is dead: its result never came (it runs again after its timeout)."""
        await asyncio.to_thread(ctx.stack.kill_worker)
        ctx.faults += 1
        after = await still_pending(client, workflow_id, seen)
        await asyncio.to_thread(ctx.stack.start_worker)
        cut = after is not None and after.attempt == seen.attempt and started(after)
        # Until Temporal gives up on the dead worker's attempt (its timeout): the next fault must
        # not take that stale attempt for one in flight.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.IN_FLIGHT_WITHIN
        while loop.time() < deadline:
            now = await still_pending(client, workflow_id, seen)
            if now is None or now.attempt != seen.attempt:
                break
            await asyncio.sleep(0.2)
        return "" if cut else None

    async def _restart_imap(
        self, ctx: Context, client: Client, workflow_id: str, seen: PendingActivityInfo
    ) -> str | None:
        """Stop the whole IMAP server (its connections with it), start it again after OUTAGE. It
        cut ``seen`` ("") if that take-in failed (an error, not a timeout) and is retried, rather
        than having finished; else it cut the worker's held connection under the poll's next step
        if that one failed so and is retried."""
        assert self.dovecot is not None
        await asyncio.to_thread(self.dovecot.stop)
        ctx.faults += 1
        await asyncio.sleep(self.OUTAGE)
        pending = await pending_activities(client, workflow_id)
        await asyncio.to_thread(self.dovecot.start)
        cut = [
            info
            for info in pending
            if info.activity_type.name in POLL_STEPS and info.attempt > 1 and failed_by_itself(info)
        ]
        if any(info.activity_id == seen.activity_id and info.attempt > seen.attempt for info in cut):
            return ""
        return f"next_{cut[0].activity_type.name}" if cut else None


def _mailbox_message(rng: random.Random, number: int) -> bytes:
    tag = f"{number}.{rng.getrandbits(64):016x}"
    return (
        f"From: Khách {number} <khach{number}@example.vn>\r\nTo: cskh@luarong.vn\r\n"
        f"Subject: Khiếu nại qua thư {number}\r\nMessage-ID: <{tag}@faults.example.vn>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        f"Mạng chập chờn từ hôm qua ({number}).\r\n"
    ).encode()


async def _until_taken(
    sessions: async_sessionmaker[AsyncSession], keys: list[str], at_least: int, within: float
) -> int:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        try:
            async with sessions() as session:
                taken = len(await mail_inbox.outcomes(session, keys))
        except DBAPIError:  # the worker has not made the store's tables yet
            taken = 0
        if taken >= at_least or loop.time() > deadline:
            return taken
        await asyncio.sleep(0.1)


async def _until_mailed(sessions: async_sessionmaker[AsyncSession], complaint_ids: list[str], within: float) -> bool:
    """Until the acknowledgements of these complaints have gone (count() checks them)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        async with sessions() as session:
            query = select(OutboxMail.complaint_id).where(
                OutboxMail.complaint_id.in_(complaint_ids), OutboxMail.status.in_(("sent", "sent_unconfirmed"))
            )
            if len(set((await session.scalars(query)).all())) == len(complaint_ids):
                return True
        await asyncio.sleep(0.5)
    return False


SCENARIOS: dict[str, type[Scenario]] = {
    s.name: s for s in (WorkerKill, TemporalRestart, SmtpDown, PostgresRestart, MailboxFaults)
}
