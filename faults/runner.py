"""One scenario from start to figures: the stack up, the journeys driven while the fault is
injected, everything settled, counted, and the stack taken down."""

import asyncio
import random
import re
import time
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client
from temporalio.service import RPCError

from config.settings import Settings
from faults.checks import Figures, count, settle
from faults.journeys import Api, Driver, Stats, plan
from faults.scenarios import Context, Scenario
from faults.stack import Stack
from faults.staff import create_staff
from localstack.ports import free_port
from localstack.postgres import PostgresCluster
from store.engine import make_engine, make_sessionmaker
from temporal_client.connection import connect

DRIVER_LIMIT = 480.0  # seconds; a driver still busy after this has lost complaints
SETTLE_LIMIT = 150.0  # mail retries back off up to a minute and more after an outage


def summarize(what: str, errors: list[str]) -> list[str]:
    """One line per kind of error (complaint ids and ports folded), with a count and an example."""
    kinds: dict[str, list[str]] = {}
    for error in errors:
        kinds.setdefault(re.sub(r"KN-[A-Z0-9]+|:\d{2,5}/", "…", error)[:160], []).append(error)
    return [f"{what}: {len(found)}× {kind}" for kind, found in kinds.items()]


async def connect_when_ready(settings: Settings, within: float = 60.0) -> Client:
    """A client once the dev server answers for our namespace (it registers it at start)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        try:
            client = await connect(settings)
            request = DescribeNamespaceRequest(namespace=settings.temporal_namespace)
            await client.workflow_service.describe_namespace(request)
            return client
        except (RuntimeError, RPCError):
            if loop.time() > deadline:
                raise
            await asyncio.sleep(0.5)


async def watchdog(stack: Stack, ctx: Context) -> None:
    """A process that exits on its own is a finding; start it again so the run can go on."""
    while not ctx.done.is_set():
        for crash in await asyncio.to_thread(stack.revive):
            ctx.problems.append(f"crash: {crash}")
        await asyncio.sleep(1.0)


async def inject(scenario: Scenario, ctx: Context) -> None:
    try:
        await scenario.inject(ctx)
    except Exception as exc:  # the figures must still be counted; the failure is a problem
        ctx.problems.append(f"fault injection failed: {exc!r}")


def _report(directory: Path, figures: Figures, stats: Stats, ctx: Context | None) -> Path:
    lines = [figures.line(), "", f"HTTP statuses: {dict(stats.statuses)}", ""]
    lines += ["Problems:", *figures.problems, ""]
    lines += ["5xx answers other than 503:", *stats.server_errors, ""]
    lines += ["503 without the JSON error body:", *stats.bad_503, ""]
    lines += ["Applied although answered 503:", *stats.applied_after_503, ""]
    if ctx is not None:
        for journey in ctx.driver.journeys:
            lines.append(f"{journey.name} {journey.kind.value} {journey.department}: {' | '.join(journey.trail)}")
    path = directory / "report.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


async def run(scenario: Scenario, complaints: int, seed: int, base: Path, concurrency: int) -> tuple[Figures, Path]:
    began = time.monotonic()
    rng = random.Random(f"{seed}:{scenario.name}")
    directory = base / scenario.name
    directory.mkdir(parents=True)
    directory.chmod(0o755)  # the postgres account must reach its cluster inside
    figures = Figures(scenario.name, scenario.store, complaints)
    postgres: PostgresCluster | None = None
    if scenario.store == "postgresql":
        postgres = PostgresCluster(directory / "postgres", free_port())
        await asyncio.to_thread(postgres.create)
        url = postgres.url
    else:
        url = f"sqlite+aiosqlite:///{directory / 'data' / 'complaints.db'}"
    stack = Stack(directory, url)
    scenario.prepare(stack)
    stats = Stats()
    api = Api(stats)
    engine: AsyncEngine | None = None
    ctx: Context | None = None
    try:
        logins = await create_staff(url)
        await asyncio.to_thread(stack.start_temporal)
        # Connecting first also makes this process the one that creates any development
        # secret kept in the data directory, before the worker and the admin read it.
        client = await connect_when_ready(stack.settings())
        await asyncio.to_thread(stack.start_services)
        driver = Driver(api, {name: stack.admin_url(name) for name in stack.admins}, logins)
        journeys = plan(complaints, rng, f"{seed}-{int(time.time())}")
        bounded, side = scenario.shape(journeys)
        ctx = Context(stack, driver, logins, rng, complaints, stats, postgres)
        injector = asyncio.create_task(inject(scenario, ctx))
        guard = asyncio.create_task(watchdog(stack, ctx))
        driving = asyncio.create_task(driver.run(bounded, side, concurrency))
        await asyncio.wait({driving, guard}, timeout=DRIVER_LIMIT, return_when=asyncio.FIRST_COMPLETED)
        if not driving.done():
            figures.problems.append(f"the driver was still busy after {DRIVER_LIMIT:.0f}s")
            driving.cancel()
        ctx.done.set()
        await asyncio.gather(driving, injector, guard, return_exceptions=True)
        if guard.done() and not guard.cancelled() and guard.exception() is not None:
            raise RuntimeError(f"stopped: {guard.exception()}")
        # Whatever a fault left down runs again before counting (the count needs it).
        for crash in await asyncio.to_thread(stack.revive):
            figures.problems.append(f"crash: {crash}")
        if postgres is not None and not postgres.running:
            await asyncio.to_thread(postgres.start)
        engine = make_engine(url)
        sessions = make_sessionmaker(engine)
        closed = [j.complaint_id for j in journeys if j.closed and j.complaint_id]
        if not await settle(sessions, closed, SETTLE_LIMIT):
            figures.problems.append(f"the store and outbox had not settled after {SETTLE_LIMIT:.0f}s")
        await count(figures, journeys, client, sessions, stack.mail, ctx.other_complaints)
        figures.faults = ctx.faults
        figures.extra = ctx.extra | figures.extra
        figures.problems += ctx.problems
        figures.problems += summarize("5xx other than 503", stats.server_errors)
        figures.problems += [f"503 without the JSON body: {error}" for error in stats.bad_503]
        figures.problems += [f"answered 503 but applied: {error}" for error in stats.applied_after_503]
        figures.extra["retried"] = (str(stats.retried), False)
        figures.extra["http_503"] = (str(stats.unavailable), False)
        figures.extra["no_answer"] = (str(stats.no_answer), False)
        figures.extra["http_5xx_other"] = (str(len(stats.server_errors)), bool(stats.server_errors))
        # A 503 says "nothing was applied, try again": a decision it answered must not have been.
        figures.extra["applied_after_503"] = (str(len(stats.applied_after_503)), bool(stats.applied_after_503))
    except Exception as exc:
        figures.problems.append(f"the scenario could not run: {exc!r}")
        figures.problems += ctx.problems if ctx is not None else []
        figures.lost = max(figures.lost, complaints - figures.completed)
    finally:
        await api.close()
        if engine is not None:
            await engine.dispose()
        await asyncio.to_thread(stack.stop_all)
        if postgres is not None:
            await asyncio.to_thread(postgres.stop)
        figures.took = time.monotonic() - began
    return figures, _report(directory, figures, stats, ctx)
