"""CPU time per process over a measurement: where the time goes, and a figure that contention
on the machine distorts much less than wall-clock throughput does."""

import asyncio
import os
import time
from collections import defaultdict
from pathlib import Path

from bench.stack import Stack

CLK_TCK = os.sysconf("SC_CLK_TCK")
CLIENT = "bench client"


def cpu_seconds(pid: int) -> float:
    """User + system CPU of one process, from /proc/<pid>/stat (utime, stime)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


class CpuMeter:
    """Accumulates per-process CPU seconds over measured spans, and the jobs done in them."""

    def __init__(self, stack: Stack, names: tuple[str, ...]) -> None:
        self.stack, self.names = stack, names
        self.seconds: dict[str, float] = defaultdict(float)
        self.jobs = 0
        self._start: dict[str, float] = {}

    def _now(self) -> dict[str, float]:
        now = {p.name: cpu_seconds(p.pid) for p in self.stack.procs if p.name in self.names and p.alive}
        now[CLIENT] = time.process_time()
        return now

    def begin(self) -> None:
        self._start = self._now()

    def end(self, jobs: int) -> None:
        for name, value in self._now().items():
            if name in self._start:
                self.seconds[name] += value - self._start[name]
        self.jobs += jobs

    def per_job_ms(self) -> dict[str, float]:
        return {name: 1000 * s / self.jobs for name, s in self.seconds.items()} if self.jobs else {}

    def describe(self) -> str:
        parts = [f"{name} {ms:.0f}" for name, ms in self.per_job_ms().items()]
        return ", ".join(parts) + f" (total {sum(self.per_job_ms().values()):.0f})"


def ceiling(ours: CpuMeter, floor: CpuMeter, free: str = "worker") -> str | None:
    """Where the CPU-bound ratio would stand if our ``free`` process cost nothing: floor CPU per
    job over the rest of ours. Below the target, no work in that process alone can meet it."""
    mine, base = ours.per_job_ms(), floor.per_job_ms()
    rest = sum(ms for name, ms in mine.items() if name != free)
    if not rest or not base:
        return None
    return f"{sum(base.values()) / rest:.2f} (floor CPU over ours without the {free})"


async def until_quiet(stack: Stack, at_least: float, within: float = 60.0, busy: float = 0.1) -> float:
    """Wait at least ``at_least`` seconds, then until the stack's processes together use less
    than ``busy`` of one core over half a second (a backlog one side left, such as workflows
    started but not yet taken through their first step, is not charged to the next side).
    Gives up after ``within`` seconds; returns the seconds waited."""
    began = time.monotonic()
    await asyncio.sleep(at_least)
    window = 0.5
    while time.monotonic() - began < within:
        before = [(p, cpu_seconds(p.pid)) for p in stack.procs if p.alive]
        await asyncio.sleep(window)
        used = sum(cpu_seconds(p.pid) - seconds for p, seconds in before if p.alive)
        if used / window < busy:
            break
    return time.monotonic() - began
