"""A workflow-only worker for a test to SIGKILL while it holds a complaint's workflow task.

    python -m tests.doomed_worker ADDRESS TASK_QUEUE STICKY_SECONDS [MODE]

Prints ``polling`` once it polls. Its short sticky timeout is what the server waits, after
the kill, before handing that complaint's next task (and queries) to another worker. MODE
picks its workflow runner (tests/job_order_race.py's RUNNERS; ours by default).
"""

import asyncio
import sys
from datetime import timedelta

from temporalio.client import Client

from config.settings import Settings
from temporal_client.connection import data_converter
from tests.job_order_race import workflow_worker


async def main(address: str, task_queue: str, sticky_seconds: float, mode: str) -> None:
    client = await Client.connect(address, data_converter=data_converter(Settings()))
    worker = workflow_worker(
        client, task_queue, mode, sticky_queue_schedule_to_start_timeout=timedelta(seconds=sticky_seconds)
    )
    async with worker:
        print("polling", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4] if len(sys.argv) > 4 else "ours"))
