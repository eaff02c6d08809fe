"""Runs the Temporal worker for complaints: ``python worker.py``.

SIGINT/SIGTERM stop polling and let running activities finish (graceful shutdown), so a
deploy or a Ctrl-C never cuts a step in half; a crash is covered by Temporal's retries.
"""

import asyncio
import logging
import signal
from datetime import timedelta

from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.complaint_steps import ComplaintActivities
from settings import Settings, get_settings
from store.engine import make_engine, make_sessionmaker
from store.migrate import upgrade
from temporal_client import connect
from workflows.complaint import ComplaintWorkflow

log = logging.getLogger("worker")

# Our pure modules and pydantic are deterministic: pass them through rather than re-import
# them in every workflow sandbox (faster, and one copy of the pydantic classes).
SANDBOX = SandboxedWorkflowRunner(
    restrictions=SandboxRestrictions.default.with_passthrough_modules(
        "domain", "pydantic", "pydantic_core", "email_validator", "idna", "annotated_types"
    )
)


def build_worker(client: Client, settings: Settings, activities: ComplaintActivities) -> Worker:
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[ComplaintWorkflow],
        activities=activities.all(),
        workflow_runner=SANDBOX,
        max_concurrent_activities=settings.max_concurrent_activities,
        max_cached_workflows=settings.max_cached_workflows,
        graceful_shutdown_timeout=timedelta(seconds=30),
    )


async def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = get_settings()
    url = settings.effective_database_url
    await upgrade(url)
    engine = make_engine(url)
    client = await connect(settings)
    worker = build_worker(client, settings, ComplaintActivities(make_sessionmaker(engine), settings))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info(
        "Worker polling %s on %s (namespace %s)",
        settings.task_queue,
        settings.temporal_address,
        settings.temporal_namespace,
    )
    async with worker:
        await stop.wait()
        log.info("Shutting down: finishing running activities")
    await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
