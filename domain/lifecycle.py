"""How each decision and timer changes a complaint's state: pure functions of (state, input, now).

The workflow calls these and then runs the activities that project the result; keeping the
rules here means they are tested without Temporal and read the same everywhere.
"""

from datetime import datetime
from enum import StrEnum
from typing import Any

from domain.audit_chain import GENESIS, detail_digest, entry_hash
from domain.models import (
    SYSTEM_ACTOR,
    Actor,
    Assign,
    Close,
    ComplaintStart,
    ComplaintState,
    CustomerMessage,
    Decide,
    Decision,
    Direction,
    LogEntry,
    Message,
    Reject,
    Reopen,
    Reply,
    Reroute,
    Resolution,
    Resolve,
    ResolveOnSpot,
    SignReply,
    Verify,
)
from domain.sla import SlaPolicy
from domain.transitions import next_stage
from domain.vocabulary import CS_DEPARTMENT, Outcome, Role, Stage, SupervisorChoice


class TimerKind(StrEnum):
    FIRST_RESPONSE = "first_response_breach"
    WARNING = "warning"
    BREACH = "breach"
    REOPEN_WINDOW_END = "reopen_window_end"


def new_state(start: ComplaintStart) -> ComplaintState:
    intake, policy, received = start.intake, start.policy, start.received_at
    state = ComplaintState(
        complaint_id=start.complaint_id,
        intake_key=intake.intake_key,
        channel=intake.channel,
        customer=intake.customer,
        subject=intake.subject,
        body=intake.body,
        received_at=received,
        **_bound(policy, received),
        first_response_due=policy.add(received, policy.first_response),
    )
    actor = intake.received_by or SYSTEM_ACTOR
    return record(state, "receive", actor, received, {"channel": intake.channel.value})


def _bound(policy: SlaPolicy, start: datetime) -> dict[str, Any]:
    return {
        "bound_started_at": start,
        "deadline": policy.add(start, policy.resolution),
        "warning_at": policy.add(start, policy.warning),
    }


def record(
    state: ComplaintState, action: str, actor: Actor, now: datetime, detail: dict[str, Any], **changes: Any
) -> ComplaintState:
    """A new state with ``changes`` applied, the version bumped and one log entry appended."""
    version = state.version + 1
    prev = (state.log[-1].hash if state.log else None) or GENESIS
    actor_key = (actor.user, actor.role.value, actor.department)
    digest = detail_digest(detail)
    entry = LogEntry(
        seq=version,
        at=now,
        action=action,
        actor=actor,
        detail=detail,
        prev_hash=prev,
        hash=entry_hash(state.complaint_id, version, now, action, actor_key, digest, prev),
    )
    return state.model_copy(update={**changes, "version": version, "log": [*state.log, entry]})


def decision_detail(payload: Decision) -> dict[str, Any]:
    return payload.model_dump(mode="json", exclude={"actor"}, exclude_none=True)


def apply_decision(
    state: ComplaintState, name: str, payload: Decision, now: datetime, policy: SlaPolicy
) -> ComplaintState:
    """The state after decision ``name`` (already checked by ``transitions.check``)."""
    stage = next_stage(name, payload, state)
    changes: dict[str, Any] = {"stage": stage}
    match payload:
        case Verify():
            changes |= {"summary": payload.summary, "category": payload.category, "priority": payload.priority}
        case Reject():
            changes |= {
                "outcome": Outcome.REJECTED,
                "rejection_reason": payload.reason,
                "duplicate_of": payload.duplicate_of,
            }
        case ResolveOnSpot():
            changes |= {"outcome": Outcome.RESOLVED_ON_SPOT, "root_cause": payload.cause, "department": CS_DEPARTMENT}
        case Resolve():
            changes["resolution"] = Resolution(
                cause=payload.cause,
                resolution=payload.resolution,
                within_authority=payload.within_authority,
                reply_draft=payload.reply_draft,
                department=state.department,
            )
            if not payload.within_authority:
                changes["escalation_level"] = max(state.escalation_level, 1)
        case Assign():
            changes["assignee"] = payload.assignee
        case Decide():
            changes["supervisor_instructions"] = payload.instructions
        case SignReply(approved=True):
            changes |= {"signed_by": payload.actor.user, "reply_method": "letter"}
            if state.resolution:
                changes["reply_message"] = state.resolution.reply_draft
        case Reply():
            changes |= {"reply_method": payload.method.value, "reply_message": payload.message}
        case Close():
            changes |= {
                "outcome": Outcome.RESOLVED,
                "root_cause": payload.root_cause,
                "lessons_learned": payload.lessons_learned,
                "preventive_action": payload.preventive_action,
            }
        case CustomerMessage():
            changes |= _customer_message(state, payload, now)
        case Reopen():
            changes |= {
                # CS has acted on what the customer wrote after closing.
                "wrote_after_closing": False,
                "reopen_requested": False,
                **_bound(policy, now),
                "outcome": None,
                "closed_at": None,
                "reopen_until": None,
                "overdue": False,
                "warned": False,
                "breaches": 0,
                "escalation_level": max(state.escalation_level, 1),
                "reopen_count": state.reopen_count + 1,
                "department": state.department or CS_DEPARTMENT,
            }
        case _:
            pass
    if name == "escalate":
        changes["escalation_level"] = max(state.escalation_level, 1)
    if stage is Stage.CLOSED:
        changes |= {"closed_at": now, "reopen_until": now + policy.reopen_window}
    return record(state, name, payload.actor, now, decision_detail(payload), **changes)


def _customer_message(state: ComplaintState, payload: CustomerMessage, now: datetime) -> dict[str, Any]:
    by_staff = payload.actor.role is not Role.SYSTEM
    message = Message(
        direction=Direction.IN,
        via=payload.via,
        at=now,
        text=payload.text,
        seq=state.version + 1,
        noted_by=payload.actor.user if by_staff else None,
        message_id=payload.message_id,
        attachments=payload.attachments,
        reopen_requested=payload.reopen_requested,
    )
    changes: dict[str, Any] = {"messages": [*state.messages, message], "last_customer_message_at": now}
    if state.stage is Stage.CLOSED:
        if by_staff:  # CS took the call: what the customer wrote before is handled
            changes |= {"wrote_after_closing": False, "reopen_requested": payload.reopen_requested}
        else:
            changes |= {
                "wrote_after_closing": True,
                "reopen_requested": state.reopen_requested or payload.reopen_requested,
            }
    return changes


def is_repeat(payload: Decision, state: ComplaintState) -> bool:
    """The same customer message delivered again (by its message id): the workflow adds it once."""
    if not isinstance(payload, CustomerMessage) or payload.message_id is None:
        return False
    return any(m.message_id == payload.message_id for m in state.messages if m.direction is Direction.IN)


def assign_department(
    state: ComplaintState, department: str, actor: Actor, now: datetime, reason: str | None
) -> ComplaintState:
    detail: dict[str, Any] = {"department": department, "previous": state.department}
    if reason:
        detail["reason"] = reason
    changes: dict[str, Any] = {"department": department, "stage": Stage.IN_PROGRESS}
    if state.assignee is not None and department != state.department:
        # The workflow holds no staff directory: whoever worked on it in its former department
        # (or in CS, before verification) is not the new department's; its supervisor assigns anew.
        detail["unassigned"] = state.assignee
        changes["assignee"] = None
    return record(state, "route", actor, now, detail, **changes)


def with_route_entry(state: ComplaintState, entry: LogEntry) -> ComplaintState:
    """The state after a routing the route activity computed with :func:`assign_department`
    (``entry`` is that routing's log entry), without computing it a second time."""
    cleared = {"assignee": None} if "unassigned" in entry.detail else {}
    return state.model_copy(
        update={
            **cleared,
            "department": entry.detail["department"],
            "stage": Stage.IN_PROGRESS,
            "version": entry.seq,
            "log": [*state.log, entry],
        }
    )


def target_department(payload: Decision) -> str | None:
    """The department a decision explicitly sends the complaint to, if any."""
    if isinstance(payload, (Verify, Reroute)):
        return payload.department
    if isinstance(payload, Decide) and payload.decision is SupervisorChoice.REROUTE:
        return payload.department
    return None


def next_timer(state: ComplaintState, policy: SlaPolicy) -> tuple[TimerKind, datetime] | None:
    """The earliest timer still to fire for ``state``, if any."""
    due: list[tuple[datetime, TimerKind]] = []
    if state.stage is Stage.CLOSED:
        if state.reopen_until is not None:
            due.append((state.reopen_until, TimerKind.REOPEN_WINDOW_END))
    else:
        if state.stage is Stage.RECEIVED and not state.first_response_breached:
            due.append((state.first_response_due, TimerKind.FIRST_RESPONSE))
        if not state.warned and state.warning_at < state.deadline:
            due.append((state.warning_at, TimerKind.WARNING))
        due.append((state.deadline + state.breaches * policy.escalation_repeat, TimerKind.BREACH))
    if not due:
        return None
    at, kind = min(due)
    return kind, at


def apply_timer(state: ComplaintState, kind: TimerKind, now: datetime) -> ComplaintState:
    match kind:
        case TimerKind.FIRST_RESPONSE:
            return record(
                state,
                kind.value,
                SYSTEM_ACTOR,
                now,
                {"due": state.first_response_due.isoformat()},
                first_response_breached=True,
            )
        case TimerKind.WARNING:
            return record(state, kind.value, SYSTEM_ACTOR, now, {"deadline": state.deadline.isoformat()}, warned=True)
        case TimerKind.BREACH:
            level = state.escalation_level + 1
            return record(
                state,
                kind.value,
                SYSTEM_ACTOR,
                now,
                {"deadline": state.deadline.isoformat(), "escalation_level": level},
                overdue=True,
                escalation_level=level,
                breaches=state.breaches + 1,
            )
        case TimerKind.REOPEN_WINDOW_END:
            return record(state, kind.value, SYSTEM_ACTOR, now, {})
