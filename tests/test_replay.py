"""Recorded journey histories must keep replaying: a change to workflow logic that would break
a running complaint, mailbox poll or status-link mail fails here (patch or version it with workflow.patched)."""

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from tests.conftest import CONVERTER
from tests.record_histories import HISTORIES, JOURNEYS, MAILBOX_RUNS
from worker import STRICT_SANDBOX
from workflows.complaint import ComplaintWorkflow
from workflows.mailbox_poll import MailboxPollWorkflow
from workflows.status_link import StatusLinkWorkflow


def test_every_journey_has_a_recorded_history() -> None:
    assert {p.stem for p in HISTORIES.glob("*.json")} == set(JOURNEYS) | set(MAILBOX_RUNS)


@pytest.mark.parametrize("path", sorted(HISTORIES.glob("*.json")), ids=lambda p: p.stem)
async def test_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    replayer = Replayer(
        workflows=[ComplaintWorkflow, MailboxPollWorkflow, StatusLinkWorkflow],
        data_converter=CONVERTER,
        workflow_runner=STRICT_SANDBOX,
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None
