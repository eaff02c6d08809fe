"""A rule added once runs had been recorded (an e-mail reply needs the customer's address)
refuses the decision in new runs whichever way it comes (update or signal), and never on the
replay of a run that took it before the rule: that run's history still replays
(tests/histories/reply_by_email_without_an_address.json, and this test's own history)."""

import asyncio

from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.worker import Replayer

from config.settings import Settings
from domain.vocabulary import Channel, Stage
from tests.conftest import CONVERTER, Sessions
from tests.journey import decide, intake, running_worker, start, state_of
from tests.stages import REPLY, RESOLVE, VERIFY
from worker import STRICT_SANDBOX
from workflows.complaint import ComplaintWorkflow


async def test_the_rule_refuses_an_update_and_a_signal_and_the_run_replays(
    client: Client, settings: Settings, sessions: Sessions
) -> None:
    async with running_worker(client, settings, sessions):
        handle = await start(client, settings, intake(Channel.PHONE, email=None))
        await decide(handle, "verify", VERIFY)
        await decide(handle, "resolve", RESOLVE)
        try:
            await decide(handle, "reply", REPLY)  # by e-mail, and the customer has no address
        except WorkflowUpdateFailedError as refused:
            assert "no e-mail address" in str(refused.cause)
        else:
            raise AssertionError("an e-mail reply to no address was accepted")
        await handle.signal("reply", REPLY)
        await asyncio.sleep(1)  # the signal is taken (and dropped) in the next workflow task
        state = await state_of(handle)
        assert state.stage is Stage.READY_TO_REPLY and state.reply_method is None
        history = await handle.fetch_history()
    replayer = Replayer(workflows=[ComplaintWorkflow], data_converter=CONVERTER, workflow_runner=STRICT_SANDBOX)
    assert (await replayer.replay_workflow(history, raise_on_replay_failure=False)).replay_failure is None
