"""Workflow histories, live or archived: archiving a closed run into the store, decrypting
every payload (for an export auditors can read) and the final state a completed run returned."""

import asyncio
import contextlib
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

from google.protobuf.message import Message
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType, PendingActivityState
from temporalio.api.history.v1 import History
from temporalio.api.workflow.v1 import PendingActivityInfo
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHistory
from temporalio.converter import DataConverter, WorkflowSerializationContext
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from domain.models import ComplaintState
from domain.steps import ArchiveRequest
from store.archive import save_archive
from store.engine import transaction


async def workflow_exists(client: Client, workflow_id: str) -> bool:
    """Whether the server knows a workflow of this id (running or closed, within retention)."""
    try:
        await client.get_workflow_handle(workflow_id).describe()
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


async def pending_activities(client: Client, workflow_id: str) -> list[PendingActivityInfo]:
    """The activities the workflow's current run is waiting on (scheduled, started or between
    retries), as Temporal's describe shows them; none when it is unknown."""
    try:
        described = await client.get_workflow_handle(workflow_id).describe()
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            return []
        raise
    return list(described.raw_description.pending_activities)


def started(info: PendingActivityInfo) -> bool:
    """A worker has started this attempt and not answered yet."""
    return info.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED


def failed_by_itself(info: PendingActivityInfo) -> bool:
    """Its last attempt raised an error (rather than timing out, as a dead worker's does)."""
    return info.last_failure.HasField("application_failure_info")


async def activity_in_flight(
    client: Client, workflow_id: str, types: Collection[str], within: float
) -> PendingActivityInfo | None:
    """The first activity of ``types`` seen running in the workflow within ``within`` seconds
    (for the fault scenarios and tests that must cut one mid-flight)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        with contextlib.suppress(RPCError):  # a busy server: look again
            for info in await pending_activities(client, workflow_id):
                if info.activity_type.name in types and started(info):
                    return info
        await asyncio.sleep(0.005)
    return None


async def still_pending(client: Client, workflow_id: str, seen: PendingActivityInfo) -> PendingActivityInfo | None:
    """The activity ``seen`` earlier, as it is now, if the run still waits on it (activity ids
    restart with each run: the type is compared too)."""
    for info in await pending_activities(client, workflow_id):
        if info.activity_id == seen.activity_id and info.activity_type.name == seen.activity_type.name:
            return info
    return None


def _payloads_in(message: Message) -> list[Payload]:
    """Every Payload inside ``message``, at any depth (repeated fields and maps included)."""
    found: list[Payload] = []
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        is_map = field.message_type.GetOptions().map_entry
        if field.is_repeated:  # type: ignore[attr-defined]
            items = value.values() if is_map else value
        else:
            items = [value]
        for item in items:
            if isinstance(item, Payload):
                found.append(item)
            elif isinstance(item, Message):
                found.extend(_payloads_in(item))
    return found


async def decrypted(history: WorkflowHistory, converter: DataConverter) -> WorkflowHistory:
    """A copy of ``history`` with every payload decoded by the converter's codec, in the
    workflow's own context: a payload the product did not write for it (a forged or copied
    signal, which Temporal records though the workflow drops it) comes out ``binary/refused``,
    not decrypted into another complaint's export."""
    proto = History()
    proto.events.extend(history.events)
    if converter.payload_codec:
        context = WorkflowSerializationContext(namespace="", workflow_id=history.workflow_id)
        the_codec = converter.with_context(context).payload_codec
        assert the_codec is not None
        payloads = _payloads_in(proto)
        for payload, plain in zip(payloads, await the_codec.decode(payloads), strict=True):
            payload.CopyFrom(plain)
    return WorkflowHistory(history.workflow_id, list(proto.events))


async def final_state(history: WorkflowHistory, converter: DataConverter) -> ComplaintState | None:
    """The state a completed complaint run returned (its whole log, with the hash chain)."""
    for event in reversed(history.events):
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
            payloads = event.workflow_execution_completed_event_attributes.result.payloads
            values: list[Any] = await converter.decode(list(payloads), [ComplaintState])
            return values[0] if values else None
    return None


async def archive_run(client: Client, sessions: async_sessionmaker[AsyncSession], request: ArchiveRequest) -> bool:
    """Store the run's full history as Temporal exports it (payloads stay encrypted).

    Raises a retryable error while the run is still open: the archive is of the whole
    history, completion event included.
    """
    handle = client.get_workflow_handle(request.complaint_id, run_id=request.run_id)
    try:
        described = await handle.describe()
        if described.status in (None, WorkflowExecutionStatus.RUNNING):
            raise ApplicationError(f"{request.complaint_id} is still running", type="NotClosedYet")
        history = await handle.fetch_history()
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            raise ApplicationError(
                f"{request.complaint_id} run {request.run_id} is gone from Temporal",
                type="HistoryGone",
                non_retryable=True,
            ) from exc
        raise
    async with transaction(sessions) as session:
        return await save_archive(
            session,
            complaint_id=request.complaint_id,
            run_id=request.run_id,
            closed_at=described.close_time,
            archived_at=datetime.now(UTC),
            event_count=len(history.events),
            history_json=history.to_json(),
        )
