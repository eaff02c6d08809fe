"""A worker killed while it holds a complaint's workflow task must not leave a history that
fails to replay (workflows/job_order.py).

The race, as ``make faults`` met it: the worker dies just after the receive step was
scheduled; staff open the complaint (a query) and verify it (an update) while the server
still waits on the dead worker's sticky queue. The query reaches a fresh worker first, which
applies the receive result on its own; the update comes with the next task. The live history
then holds the acknowledgement mail before the update's acceptance, and replay must give it
back in that order.
"""

import asyncio
import subprocess
import sys
from typing import Any

from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, Worker

from activities.complaint_steps import ComplaintActivities
from config.settings import Settings
from domain.steps import Activity, StepInput, StepResult
from tests.conftest import CONVERTER
from tests.journey import decide, intake, start, state_of
from tests.stages import VERIFY
from worker import SANDBOX, STRICT_SANDBOX
from workflows.complaint import ComplaintWorkflow
from workflows.job_order import passes

STICKY = 3.0  # seconds the server waits on the dead worker's sticky queue


def test_passes_take_jobs_one_at_a_time_with_updates_last() -> None:
    from temporalio.bridge.proto.workflow_activation import (
        DoUpdate,
        FireTimer,
        NotifyHasPatch,
        ResolveActivity,
        SignalWorkflow,
    )
    from temporalio.bridge.proto.workflow_activation import WorkflowActivationJob as Job

    patch = Job(notify_has_patch=NotifyHasPatch(patch_id="p"))
    update = Job(do_update=DoUpdate(id="u", name="verify"))
    resolve = Job(resolve_activity=ResolveActivity(seq=1))
    signal = Job(signal_workflow=SignalWorkflow(signal_name="note"))
    timer = Job(fire_timer=FireTimer(seq=2))
    assert passes([update, resolve, patch, signal, timer]) == [[patch, resolve], [signal], [timer], [update]]
    assert passes([patch]) == [[patch]]
    assert passes([]) == []
    # Split anywhere before the updates, the passes of the parts add up to those of the whole.
    jobs = [resolve, signal, timer, update]
    for cut in range(len(jobs)):
        assert passes(jobs[:cut]) + passes(jobs[cut:]) == passes(jobs)


def _kinds(history: WorkflowHistory) -> list[str]:
    return [EventType.Name(e.event_type).removeprefix("EVENT_TYPE_") for e in history.events]


async def test_a_query_and_a_decision_while_the_worker_is_dead_leave_a_history_that_replays(
    dev_env: WorkflowEnvironment, settings: Settings, sessions: Any
) -> None:
    client = dev_env.client
    steps = ComplaintActivities(sessions, settings)
    scheduled, release = asyncio.Event(), asyncio.Event()

    @activity.defn(name=Activity.RECEIVE.value)
    async def receive(step: StepInput) -> StepResult:
        scheduled.set()
        await release.wait()
        result: StepResult = await steps.receive(step)
        return result

    others = [fn for fn in steps.all() if fn.__name__ != "receive"]
    address = client.service_client.config.target_host
    doomed = subprocess.Popen(
        [sys.executable, "-m", "tests.doomed_worker", address, settings.task_queue, str(STICKY)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert doomed.stdout is not None and doomed.stdout.readline().strip() == "polling"
        async with Worker(client, task_queue=settings.task_queue, activities=[receive, *others]):
            handle = await start(client, settings, intake(), search_attributes=True)
            await scheduled.wait()  # the doomed worker completed the first task
            await asyncio.sleep(0.3)
            doomed.kill()
            doomed.wait()
            fresh = Worker(
                client, task_queue=settings.task_queue, workflows=[ComplaintWorkflow], workflow_runner=SANDBOX
            )
            async with fresh:
                query = asyncio.create_task(state_of(handle))  # waits STICKY on the dead queue
                await asyncio.sleep(STICKY / 2)
                release.set()  # the receive result lands while the query is still waiting
                await asyncio.sleep(0.5)
                verified = await decide(handle, "verify", VERIFY)
                await query
                assert verified.department == "TECH"
            history = await handle.fetch_history()
    finally:
        doomed.kill()
        doomed.wait()

    kinds = _kinds(history)
    accepted = kinds.index("WORKFLOW_EXECUTION_UPDATE_ACCEPTED")
    completed = max(i for i in range(accepted) if kinds[i] == "WORKFLOW_TASK_COMPLETED")
    # The race did happen: the dead worker's task timed out, and the task that accepted the
    # update had already scheduled the acknowledgement mail (applied when the query came).
    assert "WORKFLOW_TASK_TIMED_OUT" in kinds[:completed]
    assert "ACTIVITY_TASK_SCHEDULED" in kinds[completed:accepted], kinds
    replayer = Replayer(workflows=[ComplaintWorkflow], data_converter=CONVERTER, workflow_runner=STRICT_SANDBOX)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure
