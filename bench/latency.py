"""2. Decision latency: POST /api/v1/complaints/{id}/actions/{decision} through the admin app
against a bare execute_update on the floor, one call at a time, the journey's four decisions
pooled. Beside them, to show where the difference goes: the same decisions as a bare
execute_update on our workflow, and a state query (the API made one before each update until
it checked access from the store row and left the rest to the workflow's validator)."""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from temporalio.client import WorkflowHandle

from bench import floor_client, journey
from bench.context import Bench
from bench.load import bounded, timed
from bench.report import Ratio, say, show
from bench.shape import activity_seconds
from bench.stats import Figure, percentile
from domain.models import ComplaintState

TARGET = 1.5
Handles = list[WorkflowHandle[Any, Any]]


async def _prepared(b: Bench, start: Callable[[int], Awaitable[WorkflowHandle[Any, Any]]]) -> Handles:
    """Workflows past intake, ready for their first decision (setup, not measured)."""
    handles: list[Any] = [None] * b.profile.latency_complaints

    async def one(i: int) -> None:
        handles[i] = await start(i)

    await bounded(len(handles), 10, one)
    await asyncio.sleep(b.profile.settle)  # intake projected: the first decision does not wait for it
    return handles


async def _http(b: Bench, http: dict[str, httpx.AsyncClient], handles: Handles) -> list[float]:
    samples = []
    for handle in handles:
        for step in journey.STEPS:
            url = f"/api/v1/complaints/{handle.id}/actions/{step.name}"
            started = asyncio.get_running_loop().time()
            response = await http[step.actor.user].post(url, json=step.body)
            samples.append(asyncio.get_running_loop().time() - started)
            if response.status_code != 200:
                raise RuntimeError(f"{step.name} on {handle.id}: {response.status_code} {response.text[:300]}")
    return samples


async def _run_mode(b: Bench, mode: str, run: int, http: dict[str, httpx.AsyncClient]) -> dict[str, list[float]]:
    if mode == "floor":
        handles = await _prepared(b, lambda i: floor_client.start(b.floor, b.plan, f"lat{run}.{i}"))
        steps = range(len(b.plan.updates))
        samples = {"floor": [await timed(floor_client.step(h, b.plan, index)) for h in handles for index in steps]}
        for handle in handles:
            for seconds in (await activity_seconds(handle)).values():
                samples["activity:floor no-op"] = samples.get("activity:floor no-op", []) + seconds
        return samples
    handles = await _prepared(b, lambda i: journey.file(b.ours, b.settings, f"lat{mode}{run}.{i}"))
    if mode == "client":
        samples = {"client": [await timed(journey.decide(h, step)) for h in handles for step in journey.STEPS]}
        await asyncio.sleep(b.profile.settle)  # the last mail deliveries finish
        for handle in handles:
            for name, seconds in (await activity_seconds(handle)).items():
                samples[f"activity:{name}"] = samples.get(f"activity:{name}", []) + seconds
        return samples
    samples = {"http": await _http(b, http, handles)}
    samples["query"] = [await timed(h.query("state", result_type=ComplaintState)) for h in handles]
    return samples


async def run(b: Bench) -> list[Ratio]:
    say("2. Decision latency (verify, resolve, reply, close pooled; one call at a time)")
    labels = {
        "http": "ours (HTTP API)",
        "client": "ours (bare execute_update)",
        "floor": "floor (bare execute_update)",
        "query": "state query on ours (no longer made before a decision)",
    }
    figures = {
        (key, pct): Figure(f"lat.{key}.p{pct}", f"{'decision' if key != 'query' else ''} p{pct} {label}".strip(), "ms")
        for key, label in labels.items()
        for pct in ((50, 95) if key != "query" else (50,))
    }
    http = {
        user: httpx.AsyncClient(base_url=b.admin_url, headers={"Authorization": f"Bearer {token}"}, timeout=60)
        for user, token in b.tokens.items()
    }
    modes = ["http", "floor", "client"]
    activities: dict[str, list[float]] = {}
    try:
        for r in range(b.profile.runs):
            for mode in modes[r % 3 :] + modes[: r % 3]:  # rotate who goes first
                for key, samples in (await _run_mode(b, mode, r, http)).items():
                    if key.startswith("activity:"):
                        activities.setdefault(key.removeprefix("activity:"), []).extend(samples)
                    for (name, pct), figure in figures.items():
                        if name == key:
                            figure.add(1000 * percentile(samples, pct))
                await asyncio.sleep(b.profile.settle)
    finally:
        for client in http.values():
            await client.aclose()
    calls = b.profile.latency_complaints * len(journey.STEPS)
    for (key, _), figure in figures.items():
        figure.note = f"{b.profile.latency_complaints if key == 'query' else calls} calls per run"
        show(figure)
    times = ", ".join(f"{name} {1000 * percentile(seconds, 50):.0f}" for name, seconds in activities.items())
    say(f"    activity run time p50 (ms, server clock): {times}")
    return [Ratio("decision p95 ours (API)/floor", figures[("http", 95)], figures[("floor", 95)], "<=", TARGET)]
