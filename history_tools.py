"""Reading workflow histories, live or archived: decrypting every payload in them (for an
export auditors can read) and the final state a completed run returned."""

from typing import Any

from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import History
from temporalio.client import WorkflowHistory
from temporalio.converter import DataConverter

from domain.models import ComplaintState


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
    """A copy of ``history`` with every payload decoded by the converter's codec."""
    proto = History()
    proto.events.extend(history.events)
    if converter.payload_codec:
        payloads = _payloads_in(proto)
        for payload, plain in zip(payloads, await converter.payload_codec.decode(payloads), strict=True):
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
