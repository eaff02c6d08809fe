"""Driving the floor workflow through the client, as ours is driven."""

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from temporalio.client import Client, WorkflowHandle

from bench.floor import UPDATE, WORKFLOW
from bench.shape import FloorPlan
from bench.stack import FLOOR_QUEUE


async def start(client: Client, plan: FloorPlan, tag: str) -> WorkflowHandle[Any, Any]:
    return await client.start_workflow(
        WORKFLOW, plan.start, id=f"FLOOR-{tag}-{uuid.uuid4().hex[:10]}", task_queue=FLOOR_QUEUE
    )


async def step(handle: WorkflowHandle[Any, Any], plan: FloorPlan, index: int) -> None:
    await handle.execute_update(UPDATE, plan.updates[index], result_type=str)


async def journey(
    client: Client,
    plan: FloorPlan,
    tag: str,
    between: Callable[[WorkflowHandle[Any, Any]], Awaitable[None]] | None = None,
) -> WorkflowHandle[Any, Any]:
    handle = await start(client, plan, tag)
    for index in range(len(plan.updates)):
        if between:
            await between(handle)
        await step(handle, plan, index)
    return handle
