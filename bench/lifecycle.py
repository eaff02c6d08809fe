"""1. Lifecycle throughput: complaints carried file → verify → resolve → reply → close per
second, through the Temporal client, ours against the floor at each concurrency."""

import asyncio

from bench import floor_client, journey
from bench.context import Bench
from bench.cpu import CpuMeter, ceiling
from bench.load import throughput
from bench.report import Ratio, say, show
from bench.stats import Figure

TARGET = 0.8


async def run(b: Bench) -> list[Ratio]:
    say("1. Lifecycle throughput (file → verify → resolve → reply → close, through the client)")

    async def ours(i: int) -> None:
        await journey.full_journey(b.ours, b.settings, f"life{i}")

    async def floor(i: int) -> None:
        await floor_client.journey(b.floor, b.plan, f"life{i}")

    ratios = []
    for concurrency, n in b.profile.journeys.items():
        mine = Figure(f"life.ours.{concurrency}", f"lifecycle c={concurrency:<2} ours", "journeys/s")
        base = Figure(f"life.floor.{concurrency}", f"lifecycle c={concurrency:<2} floor", "journeys/s")
        meters = {
            "ours": CpuMeter(b.stack, ("worker", "temporal", "mailcatcher")),
            "floor": CpuMeter(b.stack, ("floor-worker", "temporal")),
        }
        for r in range(b.profile.runs):
            pairs = [("ours", mine, ours), ("floor", base, floor)]
            for who, figure, job in pairs if r % 2 == 0 else reversed(pairs):  # alternate who goes first
                meters[who].begin()
                figure.add(await throughput(n, concurrency, job))
                await asyncio.sleep(b.profile.settle)  # background mail of the last journeys included
                meters[who].end(n)
        mine.note = base.note = f"{n} journeys per run"
        show(mine)
        show(base)
        for who, meter in meters.items():
            say(f"    CPU ms per journey, {who:<5}: {meter.describe()}")
        ours_ms, floor_ms = (sum(m.per_job_ms().values()) for m in meters.values())
        if ours_ms:
            # Where throughput tends when the CPU is the limit (it is, on 2 shared cores).
            say(f"    CPU per journey floor/ours: {floor_ms / ours_ms:.2f}")
        if bound := ceiling(meters["ours"], meters["floor"]):
            say(f"    ceiling if our worker cost nothing: {bound}")
        ratios.append(Ratio(f"lifecycle c={concurrency} ours/floor", mine, base, ">=", TARGET))
    return ratios
