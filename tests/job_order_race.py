"""The job-order race (workflows/job_order.py), played on a real dev server, and its recording.

The worker dies just after the receive step was scheduled; staff open the complaint (a query)
and verify it (an update) while the server still waits on the dead worker's sticky queue. The
query reaches a fresh worker first, which applies the receive result on its own; the update
comes with the next task. The live history then holds the acknowledgement mail before the
update's acceptance, and replay must give it back in that order.

    .venv/bin/python -m tests.job_order_race [MODE]

records the race with the workers in MODE (see RUNNERS; default ``ours``), prints how it
replays under the stock runner and ours, and, if the race was met (timing: not every time),
stores it decrypted in RACE_HISTORIES (the negative controls in
tests/test_job_order_replay.py). Run it only to add such a control.
"""

import asyncio
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, Worker, WorkflowRunner
from temporalio.worker._workflow_instance import _WorkflowLogicFlag

from activities.complaint_steps import ComplaintActivities
from config.settings import Settings
from domain import search_index
from domain.steps import Activity, StepInput, StepResult
from localstack.mailcatcher import MailCatcher
from store.engine import make_engine, make_sessionmaker
from store.migrate import upgrade
from temporal_client.histories import decrypted
from tests.conftest import CONVERTER, binary
from tests.journey import decide, intake, start, state_of
from tests.stages import VERIFY
from worker import SANDBOX, STRICT_SANDBOX
from workflows.complaint import ComplaintWorkflow

STICKY = 3.0  # seconds the server waits on the dead worker's sticky queue
QUERY_HEAD_START = 0.5  # seconds the query waits on that queue before the receive result lands
RACES = Path(__file__).resolve().parent / "histories" / "races"
# The recorded races, by the live workers' mode.
RACE_HISTORIES = {
    "ours": RACES / "receive_result_before_verify.json",
    "sdk-batch": RACES / "receive_result_before_verify_single_batch.json",
}
# The live workers' runners: ours; the SDK's stock sandbox (what JobsInOrderRunner wraps); the
# stock sandbox with the SDK's own PROCESS_WORKFLOW_ACTIVATION_JOBS_AS_SINGLE_BATCH logic flag on.
RUNNERS: dict[str, WorkflowRunner] = {"ours": SANDBOX, "stock": SANDBOX.inner, "sdk-batch": SANDBOX.inner}
SINGLE_BATCH = _WorkflowLogicFlag.PROCESS_WORKFLOW_ACTIVATION_JOBS_AS_SINGLE_BATCH


def workflow_worker(client: Client, task_queue: str, mode: str, **options: Any) -> Worker:
    worker = Worker(client, task_queue=task_queue, workflows=[ComplaintWorkflow], workflow_runner=RUNNERS[mode],
                    **options)  # fmt: skip
    if mode == "sdk-batch":
        worker._set_default_workflow_logic_flag(SINGLE_BATCH, enabled=True)
    return worker


def kinds(history: WorkflowHistory) -> list[str]:
    return [EventType.Name(e.event_type).removeprefix("EVENT_TYPE_") for e in history.events]


def timeline(history: WorkflowHistory) -> str:
    """The events, seconds from the start, up to the update's acceptance (for a failure message)."""
    start = history.events[0].event_time.ToNanoseconds()
    lines = []
    for event in history.events:
        name = EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")
        lines.append(f"{(event.event_time.ToNanoseconds() - start) / 1e9:7.2f} {name}")
        if name == "WORKFLOW_EXECUTION_UPDATE_ACCEPTED":
            break
    return "\n".join(lines)


def logic_flags(history: WorkflowHistory) -> set[int]:
    """The SDK logic flags the run's workflow tasks recorded (the SDK applies them on replay)."""
    return {
        flag
        for event in history.events
        for flag in event.workflow_task_completed_event_attributes.sdk_metadata.lang_used_flags
    }


def has_race(history: WorkflowHistory) -> bool:
    """The dead worker's task timed out, and the task that accepted the update had already
    scheduled the acknowledgement mail (applied when the query came)."""
    names = kinds(history)
    accepted = names.index("WORKFLOW_EXECUTION_UPDATE_ACCEPTED")
    completed = max(i for i in range(accepted) if names[i] == "WORKFLOW_TASK_COMPLETED")
    return "WORKFLOW_TASK_TIMED_OUT" in names[:completed] and "ACTIVITY_TASK_SCHEDULED" in names[completed:accepted]


async def play_race(
    client: Client, settings: Settings, sessions: async_sessionmaker[AsyncSession], mode: str = "ours"
) -> WorkflowHistory:
    """Play the race with both workflow workers (the doomed one and the fresh one) in ``mode``."""
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
        [sys.executable, "-m", "tests.doomed_worker", address, settings.task_queue, str(STICKY), mode],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert doomed.stdout is not None and doomed.stdout.readline().strip() == "polling"
        # Built (the sandbox checks the workflow, seconds on a loaded machine) before the kill,
        # started after it: the server stops counting on a sticky worker it has not heard from
        # for a few seconds, and then no task waits on the dead one's queue (no race).
        fresh = workflow_worker(client, settings.task_queue, mode)
        async with Worker(client, task_queue=settings.task_queue, activities=[receive, *others]):
            handle = await start(client, settings, intake(), search_attributes=True)
            await scheduled.wait()  # the doomed worker completed the first task
            await asyncio.sleep(0.3)
            doomed.kill()
            doomed.wait()
            async with fresh:
                query = asyncio.create_task(state_of(handle))  # waits STICKY on the dead queue
                await asyncio.sleep(QUERY_HEAD_START)
                release.set()  # the receive result lands while the query is still waiting
                await asyncio.sleep(0.5)
                verified = await decide(handle, "verify", VERIFY)
                await query
                assert verified.department == "TECH"
            return await handle.fetch_history()
    finally:
        doomed.kill()
        doomed.wait()


async def replay_failure(history: WorkflowHistory, runner: WorkflowRunner) -> str | None:
    """Why ``history`` fails to replay under ``runner`` (None: it replays). A replayer needs no
    logic flag turned on: the SDK applies on replay exactly those the history recorded."""
    replayer = Replayer(workflows=[ComplaintWorkflow], data_converter=CONVERTER, workflow_runner=runner)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    return None if result.replay_failure is None else str(result.replay_failure)


async def main(mode: str) -> None:
    with tempfile.TemporaryDirectory() as tmp, MailCatcher(port=0) as catcher:
        url = f"sqlite+aiosqlite:///{tmp}/store.db"
        await upgrade(url)
        engine = make_engine(url)
        env = await WorkflowEnvironment.start_local(
            dev_server_existing_path=binary("temporal"),
            data_converter=CONVERTER,
            search_attributes=list(search_index.ALL),
            dev_server_database_filename=f"{tmp}/temporal.db",
            ui=False,
        )
        try:
            settings = Settings(database_url=url, data_dir=Path(tmp), task_queue=f"race-{uuid.uuid4()}",
                                smtp_host="127.0.0.1", smtp_port=catcher.port)  # fmt: skip
            history = await play_race(env.client, settings, make_sessionmaker(engine), mode)
        finally:
            await env.shutdown()
            await engine.dispose()
    print(f"recorded with {mode}: {len(history.events)} events, race {'met' if has_race(history) else 'missed'}")
    names = kinds(history)
    print(f"  SDK logic flags the history recorded: {logic_flags(history)}")
    print("  up to the acceptance:", " ".join(names[: names.index("WORKFLOW_EXECUTION_UPDATE_ACCEPTED") + 2]))
    for name, runner in (("the stock runner", STRICT_SANDBOX.inner), ("ours", STRICT_SANDBOX)):
        failure = await replay_failure(history, runner)
        print(f"  replay under {name}: {'passes' if failure is None else 'FAILS: ' + failure[:160]}")
    if mode in RACE_HISTORIES and has_race(history):
        RACES.mkdir(exist_ok=True)
        RACE_HISTORIES[mode].write_text((await decrypted(history, CONVERTER)).to_json())
        print(f"stored {RACE_HISTORIES[mode]}")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "ours"))
