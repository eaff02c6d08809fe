"""What each decision and timer sets in motion beyond the state: the step activity that projects
it (store row, complaint log, queued mail) and who is mailed. The workflow reads this table;
``domain.transitions`` says who may decide what, ``domain.lifecycle`` what the state becomes.

The order of the steps is part of every recorded history: changing it needs a workflow patch.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from domain.lifecycle import TimerKind, target_department
from domain.models import Assign, ComplaintState, CustomerMessage, Decide, Decision, Direction, Message, Reroute
from domain.steps import Activity, Audience, MailRequest
from domain.vocabulary import Channel, ReplyMethod, Stage

# Every mail the process sends, by purpose, and to whom.
MAILS: dict[str, Audience] = {
    "acknowledgement": Audience.CUSTOMER,
    "rejected": Audience.CUSTOMER,
    "resolved_on_spot": Audience.CUSTOMER,
    "reply": Audience.CUSTOMER,
    "closing": Audience.CUSTOMER,
    "reopened": Audience.CUSTOMER,
    "escalated": Audience.ESCALATION,
    "breach": Audience.ESCALATION,
    "warning": Audience.DEPARTMENT,
    "first_response_breach": Audience.CS_SUPERVISOR,
    "assigned": Audience.ASSIGNEE,
    "customer_message": Audience.HANDLER,
}
CUSTOMER_MAILS = frozenset(purpose for purpose, audience in MAILS.items() if audience is Audience.CUSTOMER)


@dataclass(frozen=True)
class Step:
    activity: Activity
    mails: tuple[MailRequest, ...] = ()


@dataclass(frozen=True)
class Effects:
    steps: tuple[Step, ...]
    # After the steps, send the complaint to a department (the routing table's, or the one the
    # decision names), with this reason in the log.
    route: bool = False
    route_reason: str | None = None


def step(activity: Activity, *purposes: str) -> Step:
    return Step(activity, tuple(MailRequest(purpose=purpose, audience=MAILS[purpose]) for purpose in purposes))


def _verify(payload: Decision, state: ComplaintState) -> Effects:
    return Effects((step(Activity.VERIFY),), route=True)


def _reroute(payload: Decision, state: ComplaintState) -> Effects:
    reason = payload.reason if isinstance(payload, Reroute) else getattr(payload, "instructions", None)
    return Effects((step(Activity.RECORD),), route=True, route_reason=reason)


def _decide(payload: Decision, state: ComplaintState) -> Effects:
    if isinstance(payload, Decide) and target_department(payload):
        return _reroute(payload, state)  # the supervisor sends it to another department
    return Effects((step(Activity.RECORD),))  # approve, or return to the department


def _resolve(payload: Decision, state: ComplaintState) -> Effects:
    if state.stage is Stage.ESCALATED:  # beyond the department's authority: to its superior
        return Effects((step(Activity.RESOLVE), step(Activity.ESCALATE, "escalated")))
    return Effects((step(Activity.RESOLVE),))


def _sign_reply(payload: Decision, state: ComplaintState) -> Effects:
    if state.stage is Stage.REPLIED:  # signed: the written answer is issued
        return Effects((step(Activity.REPLY, "reply"),))
    return Effects((step(Activity.RECORD),))  # refused: back to the department


def _reply(payload: Decision, state: ComplaintState) -> Effects:
    if state.reply_method == ReplyMethod.EMAIL.value:
        return Effects((step(Activity.REPLY, "reply"),))
    return Effects((step(Activity.REPLY),))  # phone, livechat, in person: logged


def _assign(payload: Decision, state: ComplaintState) -> Effects:
    if isinstance(payload, Assign) and payload.assignee and payload.assignee != payload.actor.user:
        return Effects((step(Activity.RECORD, "assigned"),))
    return Effects((step(Activity.RECORD),))  # unassigned, or taken for oneself: nobody to tell


def _customer_message(payload: Decision, state: ComplaintState) -> Effects:
    if isinstance(payload, CustomerMessage) and state.assignee is not None and state.assignee == payload.actor.user:
        return Effects((step(Activity.RECORD),))  # the assignee noted the call: nobody else to tell
    return Effects((step(Activity.RECORD, "customer_message"),))


def _fixed(*steps: Step) -> Callable[[Decision, ComplaintState], Effects]:
    effects = Effects(steps)
    return lambda payload, state: effects


# decision name -> its effects, given the payload and the state after the decision.
DECISION_EFFECTS: dict[str, Callable[[Decision, ComplaintState], Effects]] = {
    "verify": _verify,
    "reject": _fixed(step(Activity.CLOSE, "rejected")),
    "resolve_on_spot": _fixed(step(Activity.CLOSE, "resolved_on_spot")),
    "reroute": _reroute,
    "resolve": _resolve,
    "escalate": _fixed(step(Activity.ESCALATE, "escalated")),
    "decide": _decide,
    "sign_reply": _sign_reply,
    "reply": _reply,
    "close": _fixed(step(Activity.CLOSE, "closing")),
    "reopen": _fixed(step(Activity.ESCALATE, "reopened", "escalated")),
    "note": _fixed(step(Activity.RECORD)),
    "assign": _assign,
    "customer_message": _customer_message,
}

RECEIVE = step(Activity.RECEIVE, "acknowledgement")  # the receipt the ICT rules ask for

TIMER_EFFECTS: dict[TimerKind, Step] = {
    TimerKind.FIRST_RESPONSE: step(Activity.RECORD, "first_response_breach"),
    TimerKind.WARNING: step(Activity.RECORD, "warning"),
    TimerKind.BREACH: step(Activity.ESCALATE, "breach"),
}


def decision_effects(name: str, payload: Decision, state_after: ComplaintState) -> Effects:
    return DECISION_EFFECTS[name](payload, state_after)


def with_customer_mails(state: ComplaintState, steps: tuple[Step, ...], now: datetime) -> ComplaintState:
    """The state with the mails these steps send the customer as outgoing messages of the
    conversation (same version: they are part of the change the steps project). A customer
    without an address gets no mail, so no entry."""
    if not state.customer.email:
        return state
    sent = [
        Message(
            direction=Direction.OUT,
            via=Channel.EMAIL,
            at=now,
            # The reply's own words; the other mails are the process's standard texts.
            text=(state.reply_message or "") if mail.purpose == "reply" else "",
            seq=state.version,
            purpose=mail.purpose,
        )
        for s in steps
        for mail in s.mails
        if mail.audience is Audience.CUSTOMER
    ]
    return state.model_copy(update={"messages": [*state.messages, *sent]}) if sent else state
