"""Negative controls for workflows/job_order.py: recorded histories of the race (an activity
result applied in a task of its own, before the update that came with the next task) fail
replay under the SDK's stock sandbox runner and pass under ours.

Two recordings (tests/job_order_race.py): one by our workers, one by stock workers with the
SDK's own PROCESS_WORKFLOW_ACTIVATION_JOBS_AS_SINGLE_BATCH flag on, which the SDK then
applies on every replay of that run; the flag does not prevent the failure
(docs/temporal-sdk.md). If the stock runner starts to pass, the SDK changed the job order it
feeds a workflow: the custom runner may no longer be needed, or may no longer match.
"""

import pytest
from temporalio.client import WorkflowHistory

from tests.job_order_race import RACE_HISTORIES, SINGLE_BATCH, has_race, logic_flags, replay_failure
from worker import STRICT_SANDBOX


def _race(mode: str) -> WorkflowHistory:
    path = RACE_HISTORIES[mode]
    return WorkflowHistory.from_json(path.stem, path.read_text())


@pytest.mark.parametrize("mode", RACE_HISTORIES)
def test_the_recorded_history_holds_the_race(mode: str) -> None:
    history = _race(mode)
    assert has_race(history)
    assert (SINGLE_BATCH in logic_flags(history)) == (mode == "sdk-batch")


@pytest.mark.parametrize("mode", RACE_HISTORIES)
async def test_the_race_fails_replay_under_the_stock_runner(mode: str) -> None:
    failure = await replay_failure(_race(mode), STRICT_SANDBOX.inner)
    assert failure is not None and "Nondeterminism" in failure, failure


@pytest.mark.parametrize("mode", RACE_HISTORIES)
async def test_the_race_replays_under_our_runner(mode: str) -> None:
    assert await replay_failure(_race(mode), STRICT_SANDBOX) is None
