"""Bring up the stack for the Temporal measurements and derive the floor from one real journey."""

import asyncio
from pathlib import Path

from temporalio.client import Client

from bench import floor_client, journey
from bench.accounts import api_tokens
from bench.context import Bench
from bench.load import bounded
from bench.profile import Profile
from bench.report import note, say
from bench.shape import Shape, floor_plan, quiesce, read_shape
from bench.stack import FLOOR_QUEUE, Stack, wait_for_pollers
from config.settings import Settings
from store.migrate import upgrade
from temporal_client.connection import connect

WARM_UP = 5  # journeys of each kind before anything is measured (imports, caches, connections)


def _matches(ours: Shape, floor: Shape) -> list[str]:
    """Where the floor's recorded history differs from ours in counts or sizes (±5%)."""
    problems = []
    if len(ours.segments) != len(floor.segments):
        return [f"{len(ours.updates)} updates in ours, {len(floor.updates)} in the floor"]
    for mine, base in zip(ours.segments, floor.segments, strict=True):
        for what, a, b in (
            ("activities", len(mine.activities), len(base.activities)),
            ("timers started", mine.timers_started, base.timers_started),
        ):
            if a != b:
                problems.append(f"{mine.name}: {what} {a} vs {b}")
        sizes = [("argument", mine.request_bytes, base.request_bytes), ("result", mine.result_bytes, base.result_bytes)]
        sizes += [
            (f"{x.name} input", x.input_bytes, y.input_bytes)
            for x, y in zip(mine.activities, base.activities, strict=False)
        ]
        for what, a, b in sizes:
            if abs(a - b) > max(8, 0.05 * a):
                problems.append(f"{mine.name}: {what} {a} B vs {b} B")
    return problems


async def up(stack: Stack, profile: Profile, temporal_db: Path | None, mailbox: bool = False) -> Bench:
    """``mailbox``: a Dovecot too, polled by the worker (the mail intake phase)."""
    stack.start_temporal(temporal_db)
    stack.start_mailcatcher()
    imap_env = stack.start_dovecot() if mailbox else {}
    stack.adopt_env()
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    # Migrated once here, before the worker and the admin start (each would migrate at start).
    await upgrade(settings.effective_database_url)
    tokens = await api_tokens(settings.effective_database_url, journey.STAFF)
    worker = stack.start_worker(extra_env=imap_env)
    stack.start_floor_worker()
    _, admin_url = stack.start_admin("admin")
    ours = await connect(settings)
    floor = await Client.connect(stack.temporal_address, namespace=settings.temporal_namespace)
    await wait_for_pollers(ours, settings.task_queue)
    await wait_for_pollers(floor, FLOOR_QUEUE)
    floor_log = [line for line in (stack.tmp / "floor-worker.log").read_text().splitlines() if line.strip()]
    settings_line = next((line for line in floor_log if not line.startswith("=====")), "?")  # past the start header
    say(f"Worker settings (ours, copied to the floor's worker): {settings_line.split(': ', 1)[-1]}")

    # The shape of one real journey, and the floor built from it (checked against its own history).
    # Each segment settles before the next starts, so that every event lands in its own segment.
    shape = await read_shape(await journey.full_journey(ours, settings, "shape", between=quiesce))
    plan = floor_plan(shape)
    floor_shape = await read_shape(await floor_client.journey(floor, plan, "shape", between=quiesce))
    say("Journey shape matched by the floor (from our history):")
    for segment in shape.segments:
        say(f"  {segment.describe()}")
    say(f"  total: {shape.totals()}")
    problems = _matches(shape, floor_shape)
    verdict = "same counts and sizes" if not problems else "DIFFERS: " + "; ".join(problems)
    say(f"  floor's own history: {verdict}")
    say(
        f"  history events ours {shape.events}, floor {floor_shape.events}; "
        f"workflow tasks ours {shape.workflow_tasks}, floor {floor_shape.workflow_tasks}"
    )

    async def warm(i: int) -> None:
        await asyncio.gather(
            journey.full_journey(ours, settings, f"warm{i}"), floor_client.journey(floor, plan, f"warm{i}")
        )

    await bounded(WARM_UP, WARM_UP, warm)
    note("stack up and warm")
    imap = None
    if (dovecot := stack.dovecot) is not None:  # what the worker was given in imap_env, typed
        imap = settings.model_copy(
            update={"imap_host": dovecot.host, "imap_port": dovecot.port, "imap_username": dovecot.username,
                    "imap_password": dovecot.password, "imap_ca_file": dovecot.ca_file}
        )  # fmt: skip
    return Bench(profile, stack, settings, ours, floor, worker, admin_url, shape, plan, tokens, imap)
