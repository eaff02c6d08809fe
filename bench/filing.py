"""3. Intake: POST /api/v1/complaints per second against a bare start_workflow of the floor
(with a start input of our size), at the same concurrency. Between measurements the stack is
left to go quiet: the workflows one side started are still being taken through their first
step, and that backlog would otherwise be charged to whichever side runs next."""

import httpx

from bench import floor_client, journey
from bench.context import Bench
from bench.cpu import CpuMeter, ceiling, until_quiet
from bench.load import throughput
from bench.report import Ratio, say, show
from bench.stats import Figure

TARGET = 0.8


def api(b: Bench) -> httpx.AsyncClient:
    """The admin API as the CS agent."""
    token = b.tokens[journey.CS_AGENT.user]
    return httpx.AsyncClient(base_url=b.admin_url, headers={"Authorization": f"Bearer {token}"}, timeout=60)


async def file_one(http: httpx.AsyncClient, i: int) -> None:
    response = await http.post("/api/v1/complaints", json=journey.api_intake(f"in{i}"))
    if response.status_code != 201:
        raise RuntimeError(f"intake: {response.status_code} {response.text[:300]}")


def api_figure() -> Figure:
    return Figure("intake.ours", "intake ours (POST /api/v1/complaints)", "filed/s")


async def run(b: Bench) -> list[Ratio]:
    p = b.profile
    say(f"3. Intake (concurrency {p.intake_concurrency})")
    mine = api_figure()
    base = Figure("intake.floor", "intake floor (start_workflow)", "started/s")
    async with api(b) as http:

        async def ours(i: int) -> None:
            await file_one(http, i)

        async def floor(i: int) -> None:
            await floor_client.start(b.floor, b.plan, f"in{i}")

        meters = {
            "ours": CpuMeter(b.stack, ("admin", "temporal", "worker", "mailcatcher")),
            "floor": CpuMeter(b.stack, ("temporal", "floor-worker")),
        }
        await until_quiet(b.stack, p.settle)
        for r in range(p.runs):
            pairs = [("ours", mine, ours), ("floor", base, floor)]
            for who, figure, job in pairs if r % 2 == 0 else reversed(pairs):
                meters[who].begin()
                figure.add(await throughput(p.intake_requests, p.intake_concurrency, job))
                await until_quiet(b.stack, p.settle)  # what the intakes left running is theirs
                meters[who].end(p.intake_requests)
    mine.note = base.note = f"{p.intake_requests} per run"
    show(mine)
    show(base)
    b.figures[mine.key] = mine  # mail intake (3b) is set beside it
    for who, meter in meters.items():
        say(f"    CPU ms per intake, until the stack is quiet again, {who:<5}: {meter.describe()}")
    if bound := ceiling(meters["ours"], meters["floor"]):
        say(f"    ceiling if our worker cost nothing: {bound}")
    return [Ratio("intake ours/floor", mine, base, ">=", TARGET)]
