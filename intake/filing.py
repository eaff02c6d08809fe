"""Filing a complaint: start its workflow exactly once per intake key.

The complaint id is derived from the intake key (an email's Message-ID, an API
Idempotency-Key, an import row), so filing the same message twice finds the first complaint
instead of making a second one. Used by ``starter.py`` and the admin API alike.
"""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from config.settings import Settings
from domain import search_index as sa
from domain.ids import complaint_id_for
from domain.lifecycle import new_state
from domain.models import ComplaintIntake, ComplaintStart, ComplaintState
from domain.sla import SlaPolicy, build_policy
from domain.steps import COMPLAINT_WORKFLOW
from encryption.payload_codec import data_keys_of

MAX_ID_ATTEMPTS = 20
MEMO_INTAKE_KEY = "intake_key"
# A letter may be entered days after it arrived, never from the future (clock skew aside) nor
# from so long ago that its whole bound has passed many times over.
MAX_BACKDATE = timedelta(days=30)
CLOCK_SKEW = timedelta(minutes=5)


class IntakeRefused(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


def check_received_at(received_at: datetime, now: datetime) -> None:
    if received_at.tzinfo is None:
        raise IntakeRefused("received_at", "give a time zone (e.g. +07:00 or Z)")
    if received_at > now + CLOCK_SKEW:
        raise IntakeRefused("received_at", "is in the future")
    if received_at < now - MAX_BACKDATE:
        raise IntakeRefused("received_at", f"is more than {MAX_BACKDATE.days} days ago")


@dataclass(frozen=True)
class Filed:
    complaint_id: str
    created: bool  # False: this intake key had already been filed


def policy_from(settings: Settings, today: datetime) -> SlaPolicy:
    return build_policy(
        resolution=settings.sla_resolution,
        warning=settings.sla_warning,
        first_response=settings.sla_first_response,
        reopen_window=settings.sla_reopen_window,
        escalation_repeat=settings.sla_escalation_repeat,
        calendar=settings.sla_calendar,
        today=today.date(),
    )


async def file_complaint(
    client: Client, settings: Settings, intake: ComplaintIntake, *, search_attributes: bool = True
) -> Filed:
    now = datetime.now(UTC)
    if intake.intake_key is None:
        intake = intake.model_copy(update={"intake_key": f"uuid:{uuid.uuid4()}"})
    key = intake.intake_key
    assert key is not None
    received_at = intake.received_at or now
    check_received_at(received_at, now)
    policy = policy_from(settings, received_at)
    data_keys = data_keys_of(client.data_converter.payload_codec)
    for attempt in range(MAX_ID_ATTEMPTS):
        complaint_id = complaint_id_for(key, attempt)
        # Its own data key before anything is written for it (the start input is the first).
        made_key = await data_keys.create(complaint_id) if data_keys is not None else False
        start = ComplaintStart(
            complaint_id=complaint_id,
            intake=intake,
            received_at=received_at,
            policy=policy,
            search_attributes=search_attributes,
            step_timeout=settings.step_timeout,
        )
        try:
            await client.start_workflow(
                COMPLAINT_WORKFLOW,
                start,
                id=complaint_id,
                task_queue=settings.task_queue,
                task_timeout=settings.workflow_task_timeout,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                # In the memo, the key is readable from the server alone (no worker needed).
                memo={MEMO_INTAKE_KEY: key},
                # Indexed from the start: the workflow upserts only what its decisions change.
                search_attributes=sa.at_start(new_state(start)) if search_attributes else None,
            )
            return Filed(complaint_id, created=True)
        except WorkflowAlreadyStartedError:
            if made_key:  # the id is held by a complaint filed before data keys: leave it keyless
                await data_keys.discard(complaint_id)  # type: ignore[union-attr]
            described = await client.get_workflow_handle(complaint_id).describe()
            if await described.memo_value(MEMO_INTAKE_KEY, None) == key:
                return Filed(complaint_id, created=False)
            # A different message hashed to this id: take the next one; never merge two complaints.
    raise RuntimeError(f"no free complaint id for intake key {key!r} after {MAX_ID_ATTEMPTS} attempts")


async def complaint_state(handle: WorkflowHandle) -> ComplaintState:  # type: ignore[type-arg]
    return await handle.query("state", result_type=ComplaintState)
