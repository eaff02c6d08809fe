"""``python -m bench.floor_worker QUEUE``: the floor workflow and its no-op activity, on the
worker settings our ``worker.build_worker`` uses (cache size, activity slots, sandbox...).

The settings are copied from a worker that ``build_worker`` builds (and never runs), so any
tuning the product adds there applies to the floor too. The client uses Temporal's default
data converter: conversion and encryption of our payloads count as our cost.
"""

import asyncio
import signal
import sys
from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from bench.floor import WORKFLOW, FloorWorkflow, noop
from config.settings import Settings
from store.engine import make_engine, make_sessionmaker
from workflows.job_order import JobsInOrderRunner


def floor_config(client: Client, settings: Settings, queue: str) -> dict[str, Any]:
    from activities.complaint_steps import ComplaintActivities
    from worker import build_worker

    # Never polls: only its configuration is read. The engine connects lazily, i.e. never.
    sessions = make_sessionmaker(make_engine("sqlite+aiosqlite:///:memory:"))
    template = build_worker(client, settings, ComplaintActivities(sessions, settings))
    config: dict[str, Any] = dict(template.config())
    config |= {"client": client, "task_queue": queue, "workflows": [FloorWorkflow], "activities": [noop]}
    runner = config.get("workflow_runner")
    if isinstance(runner, JobsInOrderRunner) and isinstance(runner.inner, SandboxedWorkflowRunner):
        # Ours passes its workflow modules through the sandbox and takes its jobs in order: so
        # does the floor, with its own modules and workflow.
        restrictions = runner.inner.restrictions.with_passthrough_modules("bench")
        config["workflow_runner"] = JobsInOrderRunner(SandboxedWorkflowRunner(restrictions=restrictions), [WORKFLOW])
    return config


def describe(config: dict[str, Any]) -> str:
    runner = type(config.get("workflow_runner")).__name__
    return (
        f"max_cached_workflows={config.get('max_cached_workflows')} "
        f"max_concurrent_activities={config.get('max_concurrent_activities')} workflow_runner={runner}"
    )


async def main(queue: str) -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    client = await Client.connect(settings.temporal_address, namespace=settings.temporal_namespace)
    config = floor_config(client, settings, queue)
    print(f"floor worker on {queue}: {describe(config)}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with Worker(**config):
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
