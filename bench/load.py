"""Driving load: n jobs through c concurrent callers, timing the whole or each call."""

import asyncio
import time
from collections.abc import Awaitable, Callable


async def throughput(n: int, concurrency: int, job: Callable[[int], Awaitable[object]]) -> float:
    """Jobs per second for ``n`` jobs run by ``concurrency`` callers."""
    jobs = iter(range(n))

    async def caller() -> None:
        for i in jobs:  # shared iterator: each job is taken once
            await job(i)

    started = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(min(concurrency, n))))
    return n / (time.perf_counter() - started)


async def timed(call: Awaitable[object]) -> float:
    """Seconds one awaited call took."""
    started = time.perf_counter()
    await call
    return time.perf_counter() - started


async def bounded(n: int, concurrency: int, job: Callable[[int], Awaitable[object]]) -> None:
    """Run ``n`` jobs, at most ``concurrency`` at a time (setup work, not measured)."""
    await throughput(n, concurrency, job)
