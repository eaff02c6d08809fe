"""The transition table: the one source of who may take which decision from which stage.

The workflow's update validators, the admin UI's available actions and the API's error codes
all read this module, so a rule is written once.
"""

from dataclasses import dataclass
from datetime import datetime
from enum import Enum, StrEnum

from domain.models import (
    Actor,
    Assign,
    Close,
    ComplaintState,
    CustomerMessage,
    Decide,
    Decision,
    EditDraft,
    Escalate,
    Note,
    Rate,
    Reject,
    Reopen,
    Reply,
    Reroute,
    Resolve,
    ResolveOnSpot,
    Satisfaction,
    SignReply,
    Verify,
)
from domain.vocabulary import (
    CS_DEPARTMENT,
    OPEN_STAGES,
    Channel,
    ReplyMethod,
    Role,
    Stage,
    SupervisorChoice,
)


class Scope(Enum):
    """Whose complaints a role acts on."""

    ANY = "any"
    # Department staff and supervisors act on their own department's complaints; managers on all.
    ASSIGNED_DEPARTMENT = "assigned_department"


@dataclass(frozen=True)
class Transition:
    name: str
    payload: type[Decision]
    roles: frozenset[Role]
    from_stages: frozenset[Stage]
    scope: Scope = Scope.ANY


def _t(
    name: str, payload: type[Decision], roles: set[Role], stages: set[Stage], scope: Scope = Scope.ANY
) -> Transition:
    return Transition(name, payload, frozenset(roles), frozenset(stages), scope)


S, R = Stage, Role
STAFF = {R.CS_AGENT, R.DEPARTMENT_STAFF, R.SUPERVISOR, R.MANAGER}

TRANSITIONS: dict[str, Transition] = {
    t.name: t
    for t in (
        _t("verify", Verify, {R.CS_AGENT}, {S.RECEIVED}),
        _t("reject", Reject, {R.CS_AGENT, R.SUPERVISOR, R.MANAGER}, {S.RECEIVED}, Scope.ASSIGNED_DEPARTMENT),
        _t("resolve_on_spot", ResolveOnSpot, {R.CS_AGENT}, {S.RECEIVED}),
        _t(
            "reroute",
            Reroute,
            {R.CS_AGENT, R.SUPERVISOR, R.MANAGER},
            {S.IN_PROGRESS, S.ESCALATED},
            Scope.ASSIGNED_DEPARTMENT,
        ),
        _t("resolve", Resolve, {R.DEPARTMENT_STAFF}, {S.IN_PROGRESS}, Scope.ASSIGNED_DEPARTMENT),
        _t("escalate", Escalate, {R.DEPARTMENT_STAFF}, {S.IN_PROGRESS}, Scope.ASSIGNED_DEPARTMENT),
        _t("decide", Decide, {R.SUPERVISOR, R.MANAGER}, {S.ESCALATED}, Scope.ASSIGNED_DEPARTMENT),
        _t("sign_reply", SignReply, {R.SUPERVISOR, R.MANAGER}, {S.AWAITING_SIGNATURE}, Scope.ASSIGNED_DEPARTMENT),
        _t("reply", Reply, {R.CS_AGENT}, {S.READY_TO_REPLY}),
        _t("close", Close, {R.DEPARTMENT_STAFF, R.SUPERVISOR}, {S.REPLIED}, Scope.ASSIGNED_DEPARTMENT),
        _t("reopen", Reopen, {R.CS_AGENT}, {S.CLOSED}),
        _t("note", Note, STAFF, set(OPEN_STAGES), Scope.ASSIGNED_DEPARTMENT),
        _t("assign", Assign, STAFF, set(OPEN_STAGES), Scope.ASSIGNED_DEPARTMENT),
        # The customer's words: from their channels (the system actor) or a call CS notes for
        # them; at every stage, closed included (a message after closing is how a reopen is asked).
        _t("customer_message", CustomerMessage, {R.SYSTEM, R.CS_AGENT}, set(Stage)),
        # The supervisor's own wording of the department's reply draft, where a superior reads it
        # before it goes on: the approval of a resolution beyond authority, and the signature of a
        # written reply. The draft is what ``decide: approve`` and ``sign_reply`` carry forward.
        _t(
            "edit_draft",
            EditDraft,
            {R.SUPERVISOR, R.MANAGER},
            {S.ESCALATED, S.AWAITING_SIGNATURE},
            Scope.ASSIGNED_DEPARTMENT,
        ),
        # The customer's satisfaction, sent by the system actor for them (the status page).
        _t("rate", Rate, {R.SYSTEM}, {S.CLOSED}),
    )
}

# ``assign``: the stages each role assigns in. CS assigns while the complaint is with CS (taken
# in, and its answer); department staff take one (for themselves only) while their department
# handles it; supervisors (CS supervisors: any department) and the manager at every open stage.
ASSIGN_STAGES: dict[Role, frozenset[Stage]] = {
    R.CS_AGENT: frozenset({S.RECEIVED, S.READY_TO_REPLY}),
    R.DEPARTMENT_STAFF: frozenset({S.IN_PROGRESS, S.ESCALATED}),
    R.SUPERVISOR: OPEN_STAGES,
    R.MANAGER: OPEN_STAGES,
}


class RefusalCode(StrEnum):
    """Why a decision is refused; the API maps these to HTTP statuses."""

    UNKNOWN_DECISION = "unknown_decision"  # 404
    WRONG_ROLE = "wrong_role"  # 403
    WRONG_DEPARTMENT = "wrong_department"  # 403
    WRONG_STAGE = "wrong_stage"  # 409
    REOPEN_WINDOW_CLOSED = "reopen_window_closed"  # 409
    ALREADY_RATED = "already_rated"  # 409
    INVALID = "invalid"  # 422


HTTP_STATUS: dict[RefusalCode, int] = {
    RefusalCode.UNKNOWN_DECISION: 404,
    RefusalCode.WRONG_ROLE: 403,
    RefusalCode.WRONG_DEPARTMENT: 403,
    RefusalCode.WRONG_STAGE: 409,
    RefusalCode.REOPEN_WINDOW_CLOSED: 409,
    RefusalCode.ALREADY_RATED: 409,
    RefusalCode.INVALID: 422,
}


# Also a msgid of admin/locale: the complaint page shows it translated beside the refusal.
NO_EMAIL_FOR_REPLY = "the customer has no e-mail address: choose another reply method"
REPLY_NEEDS_AN_ADDRESS = "reply-by-email-needs-an-address"
# Also a msgid of admin/locale (admin.forms.RULES shows it beside the category field).
NO_CATEGORY_ON_SPOT = "a complaint resolved on the spot needs its category"
ON_SPOT_NEEDS_A_CATEGORY = "resolve-on-spot-needs-a-category"
# Rules of the payload added once runs had been recorded, by the patch id that gates them.
LATER_RULES = frozenset({REPLY_NEEDS_AN_ADDRESS, ON_SPOT_NEEDS_A_CATEGORY})
# Decisions added once runs had been recorded, by the patch id that gates their signals: a
# worker without the decision buffers such a signal unhandled, and the run must replay so.
LATER_DECISIONS: dict[str, str] = {
    "edit_draft": "edit-draft-decision",
    "customer_message": "customer-message-decision",
    "rate": "rate-decision",
}


@dataclass(frozen=True)
class Refusal:
    code: RefusalCode
    message: str
    # A rule added after runs were recorded names itself (a workflow patch id): a signal such a
    # run already applied must apply again on replay (see LATER_RULES).
    rule: str | None = None

    def __str__(self) -> str:
        return f"{self.code.value}: {self.message}"


def check(name: str, payload: Decision, state: ComplaintState, now: datetime) -> Refusal | None:
    """``None`` if ``payload.actor`` may take decision ``name`` on ``state`` now, else why not."""
    transition = TRANSITIONS.get(name)
    if transition is not None and not isinstance(payload, transition.payload):
        return Refusal(RefusalCode.INVALID, f"{name} expects a {transition.payload.__name__} payload")
    return check_actor(name, payload.actor, state, now) or _state_rule(payload, state) or _payload_rule(payload, state)


def recheck(name: str, payload: Decision, state: ComplaintState, now: datetime) -> Refusal | None:
    """``check`` again for a decision its validator already accepted, once the workflow holds its
    lock: only what another decision may have changed in between (stage, department). The rules
    of the payload alone need no second look, and leaving them out lets a rule added later never
    refuse, on replay, a decision an older run accepted."""
    return check_actor(name, payload.actor, state, now) or _state_rule(payload, state)


def check_actor(name: str, actor: Actor, state: ComplaintState, now: datetime) -> Refusal | None:
    """The table's rules that do not depend on the payload: role, stage, department, window."""
    transition = TRANSITIONS.get(name)
    if transition is None:
        return Refusal(RefusalCode.UNKNOWN_DECISION, f"unknown decision {name!r}")
    if actor.role not in transition.roles:
        allowed = ", ".join(sorted(r.value for r in transition.roles))
        return Refusal(RefusalCode.WRONG_ROLE, f"{name} is for {allowed}, not {actor.role.value}")
    if state.stage not in transition.from_stages:
        allowed = ", ".join(sorted(s.value for s in transition.from_stages))
        return Refusal(RefusalCode.WRONG_STAGE, f"{name} needs stage {allowed}; the complaint is {state.stage.value}")
    if name == "assign" and state.stage not in ASSIGN_STAGES.get(actor.role, frozenset()):
        allowed = ", ".join(sorted(s.value for s in ASSIGN_STAGES.get(actor.role, frozenset())))
        return Refusal(
            RefusalCode.WRONG_STAGE,
            f"{actor.role.value} assigns at stage {allowed}; the complaint is {state.stage.value}",
        )
    if (
        transition.scope is Scope.ASSIGNED_DEPARTMENT
        and actor.role in (Role.DEPARTMENT_STAFF, Role.SUPERVISOR)
        and not _in_scope(name, actor, state)
    ):
        return Refusal(
            RefusalCode.WRONG_DEPARTMENT,
            f"{name} is for the assigned department {state.department}, not {actor.department}",
        )
    if name == "resolve_on_spot" and state.channel is not Channel.IN_PERSON:
        return Refusal(RefusalCode.WRONG_STAGE, "only a complaint made in person can be resolved on the spot")
    if name == "edit_draft" and state.resolution is None:
        return Refusal(RefusalCode.WRONG_STAGE, "there is no reply draft to edit: the department has not resolved it")
    if name == "reopen" and not in_reopen_window(state, now):
        return Refusal(RefusalCode.REOPEN_WINDOW_CLOSED, "the reopen window of this complaint has passed")
    if name == "rate" and rating_of_this_closing(state) is not None:
        return Refusal(RefusalCode.ALREADY_RATED, "this closing of the complaint has already been rated")
    return None


def in_reopen_window(state: ComplaintState, now: datetime) -> bool:
    """A closed complaint may still be reopened (and its workflow still runs)."""
    return state.reopen_until is not None and now <= state.reopen_until


def rating_of_this_closing(state: ComplaintState) -> Satisfaction | None:
    """The customer's rating of the complaint's latest closing, if given (one per closing)."""
    rated = state.satisfaction
    return rated if rated is not None and rated.closed_at == state.closed_at else None


def _in_scope(name: str, actor: Actor, state: ComplaintState) -> bool:
    if actor.department == state.department:
        return True
    # CS triages everything (a complaint has no department before verification): rejecting,
    # rerouting and noting by a CS supervisor are part of that.
    return name in ("note", "reroute", "reject", "assign") and actor.department == CS_DEPARTMENT


def _state_rule(payload: Decision, state: ComplaintState) -> Refusal | None:
    """Rules that depend on what decisions change (the department, the assignee)."""
    if isinstance(payload, Assign):
        return _assign_rule(payload, state)
    if (
        isinstance(payload, EditDraft)
        and state.resolution is not None
        and payload.reply_draft == state.resolution.reply_draft
    ):
        return Refusal(RefusalCode.INVALID, "the draft is unchanged")
    if isinstance(payload, (Reroute, Decide)) and payload.department and payload.department == state.department:
        if isinstance(payload, Reroute) or payload.decision is SupervisorChoice.REROUTE:
            return Refusal(RefusalCode.INVALID, f"the complaint is already with {state.department}")
    return None


def _assign_rule(payload: Assign, state: ComplaintState) -> Refusal | None:
    if payload.assignee == state.assignee:
        whom = f"assigned to {state.assignee}" if state.assignee else "unassigned"
        return Refusal(RefusalCode.INVALID, f"the complaint is already {whom}")
    actor = payload.actor
    # Department staff take an unassigned complaint for themselves and give back their own; who
    # works on what beyond that is their supervisor's call.
    if actor.role is Role.DEPARTMENT_STAFF:
        takes = payload.assignee == actor.user and state.assignee is None
        gives_back = payload.assignee is None and state.assignee == actor.user
        if not (takes or gives_back):
            return Refusal(
                RefusalCode.WRONG_ROLE, "department staff take an unassigned complaint for themselves, no one else's"
            )
    return None


def _payload_rule(payload: Decision, state: ComplaintState) -> Refusal | None:
    """Rules of the payload against what does not change (the complaint's id, its customer)."""
    if isinstance(payload, Reject) and payload.duplicate_of == state.complaint_id:
        return Refusal(RefusalCode.INVALID, "a complaint cannot duplicate itself")
    if isinstance(payload, Reply) and payload.method is ReplyMethod.EMAIL and not state.customer.email:
        # Accepted, it would be recorded as replied while no mail can be sent.
        return Refusal(RefusalCode.INVALID, NO_EMAIL_FOR_REPLY, rule=REPLY_NEEDS_AN_ADDRESS)
    if isinstance(payload, ResolveOnSpot) and payload.category is None:
        # Resolved on the spot, it is never verified: without this, it would count in no category.
        return Refusal(RefusalCode.INVALID, NO_CATEGORY_ON_SPOT, rule=ON_SPOT_NEEDS_A_CATEGORY)
    return None


def available_decisions(actor: Actor, state: ComplaintState, now: datetime) -> list[str]:
    """Decisions ``actor`` could take now (payload fields aside): what the UI offers."""
    return [name for name in TRANSITIONS if check_actor(name, actor, state, now) is None]


def _reply_or_signature(state: ComplaintState) -> Stage:
    # A written complaint gets a written, supervisor-signed answer (seed step 04).
    return Stage.AWAITING_SIGNATURE if state.channel is Channel.POST else Stage.READY_TO_REPLY


def next_stage(name: str, payload: Decision, state: ComplaintState) -> Stage:
    """The stage decision ``name`` leads to (already checked as allowed)."""
    match payload:
        case Verify() | Reroute():
            return Stage.IN_PROGRESS
        case Reject() | ResolveOnSpot() | Close():
            return Stage.CLOSED
        case Resolve(within_authority=True):
            return _reply_or_signature(state)
        case Resolve() | Escalate() | Reopen():
            return Stage.ESCALATED
        case Decide(decision=SupervisorChoice.APPROVE):
            return _reply_or_signature(state)
        case Decide():
            return Stage.IN_PROGRESS
        case SignReply(approved=True) | Reply():
            return Stage.REPLIED
        case SignReply():
            return Stage.IN_PROGRESS
        case Note() | Assign() | CustomerMessage() | EditDraft() | Rate():
            return state.stage
    raise ValueError(f"no transition for {name}")
