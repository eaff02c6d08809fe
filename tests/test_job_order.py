"""A worker killed while it holds a complaint's workflow task must not leave a history that
fails to replay (workflows/job_order.py). The race and how it is played: tests/job_order_race.py.
"""

from typing import Any

from temporalio.testing import WorkflowEnvironment

from config.settings import Settings
from tests.job_order_race import has_race, play_race, replay_failure, timeline
from worker import STRICT_SANDBOX
from workflows.job_order import passes

ATTEMPTS = 3


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


async def test_a_query_and_a_decision_while_the_worker_is_dead_leave_a_history_that_replays(
    dev_env: WorkflowEnvironment, settings: Settings, sessions: Any
) -> None:
    # The race hangs on the server's timing (whether it still counts on the dead sticky worker
    # when the result lands): played again, on a queue of its own, until it happens.
    for attempt in range(ATTEMPTS):
        queue = settings.model_copy(update={"task_queue": f"{settings.task_queue}-{attempt}"})
        history = await play_race(dev_env.client, queue, sessions)
        if has_race(history):
            break
    # The race did happen: the dead worker's task timed out, and the task that accepted the
    # update had already scheduled the acknowledgement mail (applied when the query came).
    assert has_race(history), f"no race in {ATTEMPTS} attempts; the last:\n" + timeline(history)
    failure = await replay_failure(history, STRICT_SANDBOX)
    assert failure is None, failure
