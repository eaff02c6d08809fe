"""The floor: a workflow with our journey's shape and nothing else.

It runs, per segment (the start, then each update), the same number of activities with the
same payload sizes (no-op activities returning a payload of the recorded size), starts the
same background activities, and restarts its one long timer as often as ours does (a
"bump" wakes the main loop, which cancels its timer and starts a new one). What is left
between ours and this is the cost of our workflow code, activities and data conversion.

Only the standard library, temporalio and the job-order marker here: this module is
re-imported in the workflow sandbox for every floor workflow, as ours is.
"""

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from temporalio import activity, workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from workflows.job_order import mark_jobs_in_order

WORKFLOW = "BenchFloorWorkflow"
UPDATE = "step"
ACTIVITY = "bench_floor_noop"
# As long as our SLA timers: the timer never fires during a run.
TIMER = timedelta(days=1)
# Our steps' options (workflows/complaint.py): the same start-to-close and retry policy.
STEP_TIMEOUT = timedelta(seconds=15)
STEP_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0)


@dataclass
class FloorTask:
    """A no-op activity's input: padding to our activity's input size, and the size to return."""

    pad: str
    result: int


@dataclass
class FloorSegment:
    """Ops, in order: "bump" (wake the main loop: its timer is cancelled and started again),
    "act:<pad>:<result>" (a no-op activity, awaited) and "bg:<pad>:<result>" (started in the
    background, like our mail deliveries), with the characters of padding that make its input,
    and of result, as large as ours; ``pad`` and ``result`` do the same for the update."""

    ops: list[str] = field(default_factory=list)
    result: int = 0
    pad: str = ""


@activity.defn(name=ACTIVITY)
async def noop(task: FloorTask) -> str:
    return "x" * task.result


@workflow.defn(name=WORKFLOW)
class FloorWorkflow:
    def __init__(self) -> None:
        self._version = 0
        self._background: list[Any] = []
        self._started = False

    @workflow.run
    async def run(self, start: FloorSegment) -> None:
        mark_jobs_in_order()  # as ours: the same marker, the same runner
        await self._run_ops(start.ops)
        self._started = True
        while True:  # like ours: wait for "state changed or the next timer", forever

            def changed(seen: int = self._version) -> bool:
                return self._version != seen

            try:
                await workflow.wait_condition(changed, timeout=TIMER)
            except TimeoutError:
                pass

    @workflow.update(name=UPDATE)
    async def step(self, segment: FloorSegment) -> str:
        # As ours: a decision waits until intake is projected.
        await workflow.wait_condition(lambda: self._started)
        await self._run_ops(segment.ops)
        return "x" * segment.result

    @step.validator
    def validate_step(self, segment: FloorSegment) -> None:
        if not isinstance(segment.ops, list):
            raise ValueError("ops must be a list")

    async def _run_ops(self, ops: list[str]) -> None:
        for op in ops:
            if op == "bump":
                self._version += 1
                continue
            kind, size_in, size_out = op.split(":")
            task = FloorTask(pad="x" * int(size_in), result=int(size_out))
            if kind == "act":
                await workflow.execute_activity(
                    ACTIVITY, task, start_to_close_timeout=STEP_TIMEOUT, retry_policy=STEP_RETRY
                )
            else:
                background = workflow.start_activity(
                    ACTIVITY, task, start_to_close_timeout=STEP_TIMEOUT, retry_policy=STEP_RETRY
                )
                self._background.append(background)
