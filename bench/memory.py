"""5. Open complaints held: the worker's resident memory with a small and a large number of
complaints open and waiting on their (default, days-long) timers.

A fresh worker process is started for this, so only these complaints are in its cache. They
are filed by phone (no acknowledgement mail: the receive step only), then the worker settles
and its VmRSS is sampled once a second."""

import asyncio
import time

from sqlalchemy import text

from bench import journey
from bench.context import Bench
from bench.cpu import CpuMeter
from bench.load import bounded
from bench.report import Ratio, count, note, say, show
from bench.stack import rss_mib, wait_for_pollers
from bench.stats import Figure
from localstack.processes import Process
from store.engine import make_engine

TARGET = 1.3
TAG = "mem"
SAMPLES = 5
STALL = 120  # seconds without one more complaint taken in


async def _projected(url: str) -> int:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            query = text("SELECT count(*) FROM complaints WHERE intake_key LIKE :key")
            found = await conn.scalar(query, {"key": f"bench:{TAG}:%"})
            return int(found or 0)
    finally:
        await engine.dispose()


async def _fill_to(b: Bench, have: int, want: int) -> None:
    """File complaints until ``want`` are open, and wait until the worker has taken each in."""

    async def file(i: int) -> None:
        await journey.file(b.ours, b.settings, TAG, email=False)

    started = time.perf_counter()
    meter = CpuMeter(b.stack, (b.worker.name, "temporal"))
    meter.begin()
    await bounded(want - have, 50, file)
    # The worker takes them in at its own pace (minutes for thousands): give up only when it stalls.
    done, progressed = 0, time.monotonic()
    while done < want:
        await asyncio.sleep(0.5)
        now = await _projected(b.settings.effective_database_url)
        if now > done:
            done, progressed = now, time.monotonic()
        elif time.monotonic() - progressed > STALL:
            raise RuntimeError(f"only {done} of {want} complaints taken in, none in the last {STALL}s")
    meter.end(want - have)
    elapsed = time.perf_counter() - started
    note(f"{want - have:,} complaints filed and taken in in {elapsed:.1f}s; CPU ms per complaint: {meter.describe()}")


async def _sample(worker: Process, figure: Figure) -> Figure:
    """Once RSS holds still (the last workflow tasks done, a fresh worker's lazy start-up over)."""
    last = rss_mib(worker)
    for _ in range(30):
        await asyncio.sleep(1)
        now = rss_mib(worker)
        if abs(now - last) < 1:
            break
        last = now
    for _ in range(SAMPLES):
        figure.add(rss_mib(worker))
        await asyncio.sleep(1)
    return show(figure)


async def run(b: Bench) -> list[Ratio]:
    small, large = b.profile.memory_sizes
    cache = b.settings.max_cached_workflows
    say(f"5. Open complaints held (worker RSS; max_cached_workflows={cache:,})")
    # A fresh worker: the earlier phases' workflows are not in its cache.
    b.stack.stop(b.worker)
    b.worker = b.stack.start_worker("worker-memory")
    await wait_for_pollers(b.ours, b.settings.task_queue)
    await _sample(b.worker, Figure("mem.idle", "worker RSS, fresh, nothing open", "MiB", repeats="samples"))
    await _fill_to(b, 0, small)
    low = await _sample(b.worker, Figure("mem.small", f"worker RSS, {small:,} open", "MiB", repeats="samples"))
    await _fill_to(b, small, large)
    high = await _sample(b.worker, Figure("mem.large", f"worker RSS, {large:,} open", "MiB", repeats="samples"))
    per = (high.median - low.median) * 1024 / (large - small)
    if cache >= large:
        base = low.median - per * small / 1024
        # RSS(large) ≈ base + per·min(large, cache): the largest cache that keeps the ratio on target.
        fits = int((TARGET * low.median - base) * 1024 / per) if per > 0 else large
        say(
            f"  → every open complaint stays in the worker's cache: {per:,.0f} KiB each, about {base:,.0f} MiB "
            f"without any; a cache above ~{fits:,} cannot keep {count(large)}/{count(small)} ≤ {TARGET} (an upper "
            f"bound: evicted ones still cost a little; measure with --env COMPLAINTS_MAX_CACHED_WORKFLOWS=N)"
        )
    else:
        say(f"  → the cache holds at most {cache:,} workflows; {per:,.0f} KiB per open complaint beyond that")
    return [Ratio(f"worker RSS {count(large)}/{count(small)} open", high, low, "<=", TARGET)]
