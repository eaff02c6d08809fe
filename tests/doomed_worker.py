"""A workflow-only worker for a test to SIGKILL while it holds a complaint's workflow task.

    python -m tests.doomed_worker ADDRESS TASK_QUEUE STICKY_SECONDS

Prints ``polling`` once it polls. Its short sticky timeout is what the server waits, after
the kill, before handing that complaint's next task (and queries) to another worker.
"""

import asyncio
import sys
from datetime import timedelta

from temporalio.client import Client
from temporalio.worker import Worker

from config.settings import Settings
from temporal_client.connection import data_converter
from worker import SANDBOX
from workflows.complaint import ComplaintWorkflow


async def main(address: str, task_queue: str, sticky_seconds: float) -> None:
    client = await Client.connect(address, data_converter=data_converter(Settings()))
    worker = Worker(
        client,
        task_queue=task_queue,
        workflows=[ComplaintWorkflow],
        workflow_runner=SANDBOX,
        sticky_queue_schedule_to_start_timeout=timedelta(seconds=sticky_seconds),
    )
    async with worker:
        print("polling", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3])))
