"""Issue 12, High: a decision is accepted only when the product made it.

On the real dev server with a worker that has the store: the stock CLI's forged update is
rejected before acceptance (no history event), the same as a signal is dropped, and an encrypted
update copied from another complaint's history is refused. Nothing sticks the complaint: it
takes a genuine decision afterwards.
"""

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.common import RawValue
from temporalio.testing import WorkflowEnvironment

from admin.services.complaints import ComplaintService
from admin.users import User
from config.settings import Settings
from domain.models import Note
from domain.vocabulary import Role, Stage
from intake.filing import file_complaint
from temporal_client.connection import data_converter
from tests.conftest import binary
from tests.journey import CS, TECH, intake, quiesce, running_worker, state_of
from tests.stages import VERIFY

STAFF = User("lan.cs", "Lan", Role.CS_AGENT, "CS", "vi")
FORGED = '{"actor":{"user":"forged.boss","role":"manager"},"text":"forged"}'


@pytest.fixture
async def product(dev_env: WorkflowEnvironment, settings: Settings, sessions: Any) -> AsyncIterator[Client]:
    """The product's client (codec with the store's data keys), as the admin and starter have it."""
    address = dev_env.client.service_client.config.target_host
    yield await Client.connect(address, data_converter=data_converter(settings, sessions))


def connected(client: Client) -> Callable[[], Awaitable[Client]]:
    async def get() -> Client:
        return client

    return get


async def filed_in_progress(client: Client, settings: Settings) -> WorkflowHandle[Any, Any]:
    filed = await file_complaint(client, settings, intake())
    handle = client.get_workflow_handle(filed.complaint_id)
    await handle.execute_update("verify", VERIFY, result_type=None)
    return handle


async def cli(client: Client, *args: str) -> tuple[int, str]:
    """The stock Temporal CLI, as anyone who reaches the frontend runs it (without blocking the
    event loop the in-process worker runs on)."""
    address = client.service_client.config.target_host
    proc = await asyncio.create_subprocess_exec(
        binary("temporal"), *args[:2], "--address", address, *args[2:],
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


async def test_the_stock_cli_cannot_forge_a_decision(
    product: Client, settings: Settings, sessions: async_sessionmaker[AsyncSession], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="encryption.codec")
    async with running_worker(product, settings, sessions):
        handle = await filed_in_progress(product, settings)
        before = await quiesce(handle)
        code, out = await cli(product, "workflow", "update", "execute", "--workflow-id", handle.id, "--name", "note",
                     "--input", FORGED)  # fmt: skip
        assert code != 0, out
        assert await quiesce(handle) == before  # rejected before acceptance: no history event
        assert any(r.name == "encryption.codec" and handle.id in r.getMessage() for r in caplog.records)
        state = await state_of(handle)
        assert all(entry.actor.user != "forged.boss" for entry in state.log)
        # Not stuck: a genuine decision goes through.
        await handle.execute_update("note", Note(actor=TECH, text="thật"), result_type=None)
        assert (await state_of(handle)).log[-1].actor == TECH


async def test_a_forged_signal_is_dropped_and_the_complaint_goes_on(
    product: Client, settings: Settings, sessions: async_sessionmaker[AsyncSession], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    async with running_worker(product, settings, sessions):
        handle = await filed_in_progress(product, settings)
        await quiesce(handle)
        seen = await state_of(handle)
        code, out = await cli(product, "workflow", "signal", "--workflow-id", handle.id, "--name", "note",
                              "--input", FORGED)  # fmt: skip
        assert code == 0, out  # the server takes any signal; the worker drops it
        await quiesce(handle)
        after = await state_of(handle)
        assert (after.stage, after.version, len(after.log)) == (seen.stage, seen.version, len(seen.log))
        assert all(entry.actor.user != "forged.boss" for entry in after.log)
        assert any("dropping the signal" in r.getMessage() for r in caplog.records)
        described = await handle.describe()
        assert not described.raw_description.HasField("pending_workflow_task")  # no failing task
        await handle.execute_update("note", Note(actor=CS, text="ghi chú thật"), result_type=None)
        assert (await state_of(handle)).log[-1].actor == CS
        assert (await state_of(handle)).stage is Stage.IN_PROGRESS
        # Temporal recorded the signal; the admin's audit trail shows it refused, not by "forged.boss".
        async with sessions() as session:
            trail = await ComplaintService(session, connected(product), settings).history(STAFF, handle.id)
        forged_events = [e for e in trail if e.kind == "signal"]
        assert forged_events and all(e.actor is None and "refused" in e.fields for e in forged_events)


async def _accepted_update_payload(handle: WorkflowHandle[Any, Any]) -> Any:
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
            return event.workflow_execution_update_accepted_event_attributes.accepted_request.input.args.payloads[0]
    raise AssertionError("no accepted update")


async def test_an_encrypted_decision_copied_to_another_complaint_is_refused(
    product: Client, settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> None:
    raw = await Client.connect(product.service_client.config.target_host)  # no codec: sends bytes as they are
    async with running_worker(product, settings, sessions):
        a = await filed_in_progress(product, settings)
        b = product.get_workflow_handle((await file_complaint(product, settings, intake())).complaint_id)
        copied = await _accepted_update_payload(a)  # A's verify, encrypted under A's data key
        before = await quiesce(b)
        assert (await state_of(b)).stage is Stage.RECEIVED  # where a verify would be accepted
        with pytest.raises(WorkflowUpdateFailedError):
            await raw.get_workflow_handle(b.id).execute_update("verify", RawValue(copied))
        assert await quiesce(b) == before
        # As a signal, dropped: B does not move.
        await raw.get_workflow_handle(b.id).signal("verify", RawValue(copied))
        await quiesce(b)
        assert (await state_of(b)).stage is Stage.RECEIVED
        # Not stuck: B takes its own genuine verify.
        await b.execute_update("verify", VERIFY, result_type=None)
        assert (await state_of(b)).stage is Stage.IN_PROGRESS
