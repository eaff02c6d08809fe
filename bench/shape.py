"""Our journey's shape, read from the history of one real journey, and the floor plan that
repeats it: per segment (the start, then each update) the activities in order with their
payload sizes (awaited, or started in the background like mail deliveries), the timer
restarts, and the update's argument and result sizes."""

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle
from temporalio.converter import DataConverter

from bench.floor import FloorSegment, FloorTask

# Our workflow starts these without awaiting them (workflows/complaint.py: self._deliveries).
BACKGROUND_ACTIVITIES = frozenset({"deliver_mail"})


def size(payloads: Sequence[Payload]) -> int:
    return sum(p.ByteSize() for p in payloads)


@dataclass
class Activity:
    name: str
    background: bool
    input_bytes: int
    result_bytes: int = 0


@dataclass
class Segment:
    name: str  # "start" or the update's name
    request_bytes: int = 0
    result_bytes: int = 0
    ops: list[Activity | str] = field(default_factory=list)  # "bump" = one timer restart
    timers_started: int = 0
    upserts: int = 0

    @property
    def activities(self) -> list[Activity]:
        return [op for op in self.ops if isinstance(op, Activity)]

    @property
    def bumps(self) -> int:
        return sum(op == "bump" for op in self.ops)

    def describe(self) -> str:
        acts = ", ".join(a.name + ("(bg)" if a.background else "") for a in self.activities)
        return (
            f"{self.name:<8} in {self.request_bytes:>5} B, out {self.result_bytes:>5} B; "
            f"activities [{acts}]; timers started {self.timers_started} (restarts {self.bumps}); "
            f"search-attribute upserts {self.upserts}"
        )


@dataclass
class Shape:
    segments: list[Segment]
    events: int = 0
    workflow_tasks: int = 0

    @property
    def start(self) -> Segment:
        return self.segments[0]

    @property
    def updates(self) -> list[Segment]:
        return self.segments[1:]

    def totals(self) -> str:
        acts = [a for s in self.segments for a in s.activities]
        return (
            f"{len(acts)} activities ({sum(a.background for a in acts)} in the background), "
            f"{len(self.updates)} updates, {sum(s.timers_started for s in self.segments)} timers started, "
            f"{sum(s.upserts for s in self.segments)} search-attribute upserts (ours only)"
        )


async def quiesce(handle: WorkflowHandle[Any, Any], within: float = 60) -> None:
    """Wait until the workflow's background work (mail deliveries) is done."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    last = -1
    while loop.time() < deadline:
        described = await handle.describe()
        count = len([e async for e in handle.fetch_history_events()])
        if not described.raw_description.pending_activities and count == last:
            return
        last = count
        await asyncio.sleep(0.2)
    raise RuntimeError(f"{handle.id} kept changing for {within:.0f}s")


async def read_shape(handle: WorkflowHandle[Any, Any]) -> Shape:
    await quiesce(handle)
    segments = [Segment("start")]
    by_schedule: dict[int, Activity] = {}
    batch = 0  # a workflow task's commands share a batch; a timer restart goes before its batch's activities
    placed: list[tuple[Segment, int, int, Activity | str]] = []
    events = 0
    async for event in handle.fetch_history_events():
        kind, seg = event.event_type, segments[-1]
        events += 1
        if kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            seg.request_bytes = size(event.workflow_execution_started_event_attributes.input.payloads)
        elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            batch += 1
        elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
            request = event.workflow_execution_update_accepted_event_attributes.accepted_request
            segments.append(Segment(request.input.name, request_bytes=size(request.input.args.payloads)))
        elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED:
            outcome = event.workflow_execution_update_completed_event_attributes.outcome
            seg.result_bytes = size(outcome.success.payloads)
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attrs = event.activity_task_scheduled_event_attributes
            name = attrs.activity_type.name
            act = Activity(name, name in BACKGROUND_ACTIVITIES, size(attrs.input.payloads))
            by_schedule[event.event_id] = act
            placed.append((seg, batch, 1, act))
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            attrs2 = event.activity_task_completed_event_attributes
            if attrs2.scheduled_event_id in by_schedule:
                by_schedule[attrs2.scheduled_event_id].result_bytes = size(attrs2.result.payloads)
        elif kind == EventType.EVENT_TYPE_TIMER_STARTED:
            seg.timers_started += 1
        elif kind == EventType.EVENT_TYPE_TIMER_CANCELED:
            placed.append((seg, batch, 0, "bump"))
        elif kind == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
            seg.upserts += 1
    order = {id(s): i for i, s in enumerate(segments)}
    for seg, _, _, op in sorted(placed, key=lambda p: (order[id(p[0])], p[1], p[2])):
        seg.ops.append(op)
    return Shape(segments, events, batch)


# --- the floor's inputs, padded to the same payload sizes under the default converter ---

_CONVERTER = DataConverter.default.payload_converter


def _bytes(value: Any) -> int:
    return size(_CONVERTER.to_payloads([value]))


def _chars_for(result_bytes: int) -> int:
    """Length of the "x…" string whose payload is ``result_bytes`` (as the floor returns)."""
    return max(0, result_bytes - _bytes(""))


def _op(act: Activity) -> str:
    result = _chars_for(act.result_bytes)
    pad = max(0, act.input_bytes - _bytes(FloorTask(pad="", result=result)))
    return f"{'bg' if act.background else 'act'}:{pad}:{result}"


def floor_segment(seg: Segment) -> FloorSegment:
    ops = [op if isinstance(op, str) else _op(op) for op in seg.ops]
    bare = FloorSegment(ops=ops, result=_chars_for(seg.result_bytes))
    bare.pad = "x" * max(0, seg.request_bytes - _bytes(bare))
    return bare


@dataclass(frozen=True)
class FloorPlan:
    start: FloorSegment
    updates: list[FloorSegment]


def floor_plan(shape: Shape) -> FloorPlan:
    return FloorPlan(floor_segment(shape.start), [floor_segment(s) for s in shape.updates])


async def activity_seconds(handle: WorkflowHandle[Any, Any]) -> dict[str, list[float]]:
    """How long each activity ran (started → completed, by the server's clock), by type."""
    names: dict[int, str] = {}
    started: dict[int, float] = {}
    took: dict[str, list[float]] = {}
    async for event in handle.fetch_history_events():
        at = event.event_time.ToMicroseconds() / 1e6
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            names[event.event_id] = event.activity_task_scheduled_event_attributes.activity_type.name
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            started[event.activity_task_started_event_attributes.scheduled_event_id] = at
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            scheduled = event.activity_task_completed_event_attributes.scheduled_event_id
            if scheduled in started:
                took.setdefault(names.get(scheduled, "?"), []).append(at - started[scheduled])
    return took
