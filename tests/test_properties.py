"""Property-based test of the pure domain: a Hypothesis state machine drives one complaint through
the transition table (``domain/transitions.py``) and the lifecycle (``domain/lifecycle.py``).

Each step takes a decision from the table with a generated payload and a random actor (every role
and department, refused ones included), fires whatever timer ``next_timer`` says is due on a
simulated clock, lets time pass, or reopens a closed complaint inside / outside its window. The
workflow's own rules are mirrored: a decision is applied only when ``transitions.check`` allows it,
and ``verify`` / ``reroute`` / ``decide: reroute`` are followed by the route step
(``assign_department``) just as ``ComplaintWorkflow`` does. After every step the invariants of the
process are checked (see ``invariants``)."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from pydantic import ValidationError

from domain import lifecycle, transitions
from domain.audit_chain import GENESIS, detail_digest, entry_hash
from domain.lifecycle import TimerKind
from domain.models import (
    Actor,
    Assign,
    AttachmentRef,
    Close,
    ComplaintIntake,
    ComplaintStart,
    ComplaintState,
    Customer,
    CustomerMessage,
    Decide,
    Decision,
    Direction,
    Escalate,
    Note,
    Reject,
    Reopen,
    Reply,
    Reroute,
    Resolve,
    ResolveOnSpot,
    SignReply,
    Verify,
)
from domain.sla import VN_TZ, CalendarKind, SlaPolicy, vn_holidays
from domain.transitions import TRANSITIONS, RefusalCode, Scope
from domain.vocabulary import (
    CS_DEPARTMENT,
    DEFAULT_ROUTING,
    Category,
    Channel,
    Outcome,
    Priority,
    ReplyMethod,
    Role,
    Stage,
    SupervisorChoice,
)

COMPLAINT_ID = "KN-ABCDEF"
DEPARTMENTS = ["CS", "TECH", "BILLING", "SALES"]
USERS = ["lan.cs", "hung.cs", "minh.tech", "tuan.tech", "ha.billing", "quang.manager", "admin", "mallory"]
R, S = Role, Stage
ALL_STAFF = {R.CS_AGENT, R.DEPARTMENT_STAFF, R.SUPERVISOR, R.MANAGER}

# DESIGN.md's decision table, written out here rather than read from the module it checks.
SPEC: dict[str, tuple[set[Role], set[Stage]]] = {
    "verify": ({R.CS_AGENT}, {S.RECEIVED}),
    "reject": ({R.CS_AGENT, R.SUPERVISOR, R.MANAGER}, {S.RECEIVED}),
    "resolve_on_spot": ({R.CS_AGENT}, {S.RECEIVED}),
    "reroute": ({R.CS_AGENT, R.SUPERVISOR, R.MANAGER}, {S.IN_PROGRESS, S.ESCALATED}),
    "resolve": ({R.DEPARTMENT_STAFF}, {S.IN_PROGRESS}),
    "escalate": ({R.DEPARTMENT_STAFF}, {S.IN_PROGRESS}),
    "decide": ({R.SUPERVISOR, R.MANAGER}, {S.ESCALATED}),
    "sign_reply": ({R.SUPERVISOR, R.MANAGER}, {S.AWAITING_SIGNATURE}),
    "reply": ({R.CS_AGENT}, {S.READY_TO_REPLY}),
    "close": ({R.DEPARTMENT_STAFF, R.SUPERVISOR}, {S.REPLIED}),
    "reopen": ({R.CS_AGENT}, {S.CLOSED}),
    "note": (ALL_STAFF, set(S) - {S.CLOSED}),
    "assign": (ALL_STAFF, set(S) - {S.CLOSED}),
    # the customer's own channels (system) or a call CS notes; at every stage, closed included
    "customer_message": ({R.SYSTEM, R.CS_AGENT}, set(S)),
}
# ``assign``: the open stages each role assigns in (CS while the complaint is with CS; department
# staff, for themselves, while their department handles it; supervisors and the manager always).
ASSIGNS_IN: dict[Role, set[Stage]] = {
    R.CS_AGENT: {S.RECEIVED, S.READY_TO_REPLY},
    R.DEPARTMENT_STAFF: {S.IN_PROGRESS, S.ESCALATED},
    R.SUPERVISOR: set(S) - {S.CLOSED},
    R.MANAGER: set(S) - {S.CLOSED},
}

_HOLIDAYS = vn_holidays(range(2025, 2031))
POLICIES = st.sampled_from(
    [
        SlaPolicy(),
        SlaPolicy(calendar=CalendarKind.VN_WORKING_DAYS, holidays=_HOLIDAYS),
        # seconds-long, as used to watch the timers live
        SlaPolicy(
            resolution=timedelta(seconds=60),
            warning=timedelta(seconds=30),
            first_response=timedelta(seconds=10),
            reopen_window=timedelta(seconds=120),
            escalation_repeat=timedelta(seconds=20),
        ),
        # a warning at or after the bound is never sent
        SlaPolicy(resolution=timedelta(days=5), warning=timedelta(days=7), escalation_repeat=timedelta(hours=6)),
    ]
)
RECEIVED = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.sampled_from([UTC, VN_TZ])
)
# Every channel; in person (on the spot) and post (signed letters) more often: they have their own paths.
CHANNEL = st.sampled_from(list(Channel)) | st.sampled_from([Channel.IN_PERSON, Channel.POST])
TEXT = st.text(min_size=1, max_size=12).filter(lambda s: s.strip() != "")
# Whitespace only: stripped to nothing, which every required text field refuses.
BLANK = st.text(alphabet=" \t\n", max_size=4)
DEPARTMENT = st.sampled_from(DEPARTMENTS)
ANY_ACTOR = st.builds(
    Actor,
    user=st.sampled_from(USERS),
    role=st.sampled_from(list(Role)),
    department=st.sampled_from([None, *DEPARTMENTS]),
)
# How far the clock moves between two steps, as a share of the policy's bound (the timers due
# meanwhile fire in order): from an instant to one and a half bounds.
DELAY = st.one_of(st.just(0.0), st.floats(0, 0.1), st.floats(0, 1.5))
MAX_TIMERS_PER_WAIT = 100


def _fields(**strategies: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(strategies)


OPTIONAL_DEPARTMENT = st.sampled_from([None, *DEPARTMENTS])
ATTACHMENT = AttachmentRef(sha256="ab" * 32, name="hoa-don.pdf", content_type="application/pdf", size=1024)
# Valid fields (as far as the model goes) of each decision's payload, the actor aside.
FIELDS: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "verify": _fields(
        summary=TEXT,
        category=st.sampled_from(list(Category)),
        priority=st.sampled_from(list(Priority)),
        department=OPTIONAL_DEPARTMENT,
    ),
    "reject": _fields(reason=TEXT, duplicate_of=st.sampled_from([None, "KN-XYZ234", COMPLAINT_ID])),
    "resolve_on_spot": _fields(agreement=TEXT, cause=TEXT),
    "reroute": _fields(department=DEPARTMENT, reason=TEXT),
    "resolve": _fields(cause=TEXT, resolution=TEXT, within_authority=st.booleans(), reply_draft=TEXT),
    "escalate": _fields(reason=TEXT),
    "decide": _fields(
        decision=st.sampled_from([SupervisorChoice.APPROVE, SupervisorChoice.RETURN]),
        instructions=TEXT,
        department=OPTIONAL_DEPARTMENT,
    )
    | _fields(decision=st.just(SupervisorChoice.REROUTE), instructions=TEXT, department=DEPARTMENT),
    "sign_reply": _fields(approved=st.just(True), comment=st.none() | TEXT)
    | _fields(approved=st.just(False), comment=TEXT),
    "reply": _fields(method=st.sampled_from(list(ReplyMethod)), message=TEXT),
    "close": _fields(root_cause=TEXT, lessons_learned=TEXT, preventive_action=st.none() | TEXT),
    "reopen": _fields(reason=TEXT),
    "note": _fields(text=TEXT),
    "assign": _fields(assignee=st.sampled_from([None, *USERS, "someone", "owner"])),
    # few message ids, so the same message is delivered twice now and then
    "customer_message": _fields(
        text=TEXT,
        via=st.sampled_from(list(Channel)),
        reopen_requested=st.booleans(),
        message_id=st.sampled_from([None, "<m1@example.vn>", "<m2@example.vn>"]),
        attachments=st.lists(st.just(ATTACHMENT), max_size=2),
    ),
}
PICK = st.integers(min_value=0, max_value=2**16)
DECISION = st.sampled_from(list(TRANSITIONS))
ONE_IN_TEN = st.integers(0, 9)
PLAUSIBLE_ACTORS = [
    Actor(user="lan.cs", role=R.CS_AGENT, department="CS"),
    Actor(user="hung.cs", role=R.SUPERVISOR, department="CS"),
    Actor(user="quang.manager", role=R.MANAGER),
    *(Actor(user=f"staff.{d.lower()}", role=R.DEPARTMENT_STAFF, department=d) for d in DEPARTMENTS),
    *(Actor(user=f"sup.{d.lower()}", role=R.SUPERVISOR, department=d) for d in DEPARTMENTS),
]
# The decision that moves a complaint on from each stage, and who takes it (of its department).
FORWARD: dict[Stage, tuple[str, Role]] = {
    S.RECEIVED: ("verify", R.CS_AGENT),
    S.IN_PROGRESS: ("resolve", R.DEPARTMENT_STAFF),
    S.ESCALATED: ("decide", R.SUPERVISOR),
    S.AWAITING_SIGNATURE: ("sign_reply", R.SUPERVISOR),
    S.READY_TO_REPLY: ("reply", R.CS_AGENT),
    S.REPLIED: ("close", R.DEPARTMENT_STAFF),
    S.CLOSED: ("reopen", R.CS_AGENT),
}
ADMIN = Actor(user="admin", role=R.ADMIN)
REOPENER = st.just(PLAUSIBLE_ACTORS[0]) | ANY_ACTOR


def payload(data: st.DataObject, name: str, actor: Actor) -> Decision:
    """A payload of decision ``name`` by ``actor`` with generated fields."""
    return TRANSITIONS[name].payload(actor=actor, **data.draw(FIELDS[name]))


# The required text field of each decision, blanked by the ``blank_field_is_invalid`` rule.
REQUIRED_TEXT: dict[str, tuple[str, dict[str, Any]]] = {
    "verify": ("summary", {"category": "technical"}),
    "reject": ("reason", {}),
    "resolve_on_spot": ("cause", {"agreement": "a"}),
    "reroute": ("reason", {"department": "TECH"}),
    "resolve": ("reply_draft", {"cause": "c", "resolution": "r", "within_authority": True}),
    "escalate": ("reason", {}),
    "decide": ("instructions", {"decision": "approve"}),
    "sign_reply": ("comment", {"approved": False}),
    "reply": ("message", {"method": "email"}),
    "close": ("root_cause", {"lessons_learned": "l"}),
    "reopen": ("reason", {}),
    "note": ("text", {}),
    "assign": ("assignee", {}),
    "customer_message": ("text", {"via": "email"}),
}


def expected_actor_refusal(name: str, actor: Actor, state: ComplaintState, now: datetime) -> RefusalCode | None:
    """What the table says about ``actor`` taking ``name`` on ``state`` at ``now`` (payload aside), in the
    order the checks are documented: role, stage, department, channel, reopen window."""
    roles, stages = SPEC[name]
    if actor.role not in roles:
        return RefusalCode.WRONG_ROLE
    if state.stage not in stages:
        return RefusalCode.WRONG_STAGE
    if name == "assign" and state.stage not in ASSIGNS_IN[actor.role]:
        return RefusalCode.WRONG_STAGE
    if TRANSITIONS[name].scope is Scope.ASSIGNED_DEPARTMENT and actor.role in (R.DEPARTMENT_STAFF, R.SUPERVISOR):
        # CS triages everything: its supervisors may note, reroute and reject any complaint
        cs_triage = name in ("note", "reroute", "reject", "assign") and actor.department == CS_DEPARTMENT
        if actor.department != state.department and not cs_triage:
            return RefusalCode.WRONG_DEPARTMENT
    if name == "resolve_on_spot" and state.channel is not Channel.IN_PERSON:
        return RefusalCode.WRONG_STAGE
    if name == "reopen" and (state.reopen_until is None or now > state.reopen_until):
        return RefusalCode.REOPEN_WINDOW_CLOSED
    return None


def expected_refusal(name: str, payload: Decision, state: ComplaintState, now: datetime) -> RefusalCode | None:
    """The same with the payload: a payload of another decision first, then the payload rules last."""
    if not isinstance(payload, TRANSITIONS[name].payload):
        return RefusalCode.INVALID
    code = expected_actor_refusal(name, payload.actor, state, now)
    if code is not None:
        return code
    if isinstance(payload, Assign):
        if payload.assignee == state.assignee:
            return RefusalCode.INVALID  # no change
        me = payload.actor.user
        if payload.actor.role is R.DEPARTMENT_STAFF and not (
            (payload.assignee == me and state.assignee is None) or (payload.assignee is None and state.assignee == me)
        ):
            return RefusalCode.WRONG_ROLE  # they take an unassigned one for themselves, or give back their own
    if isinstance(payload, Reroute) and payload.department == state.department:
        return RefusalCode.INVALID
    if (
        isinstance(payload, Decide)
        and payload.decision is SupervisorChoice.REROUTE
        and payload.department == state.department
    ):
        return RefusalCode.INVALID
    if isinstance(payload, Reject) and payload.duplicate_of == state.complaint_id:
        return RefusalCode.INVALID
    if isinstance(payload, Reply) and payload.method is ReplyMethod.EMAIL and state.customer.email is None:
        return RefusalCode.INVALID  # no address to send it to
    return None


def expected_stage(payload: Decision, state: ComplaintState) -> Stage:
    """DESIGN.md's "to" column."""
    written = Stage.AWAITING_SIGNATURE if state.channel is Channel.POST else Stage.READY_TO_REPLY
    match payload:
        case Verify() | Reroute():
            return Stage.IN_PROGRESS
        case Reject() | ResolveOnSpot() | Close():
            return Stage.CLOSED
        case Resolve():
            return written if payload.within_authority else Stage.ESCALATED
        case Escalate() | Reopen():
            return Stage.ESCALATED
        case Decide():
            return written if payload.decision is SupervisorChoice.APPROVE else Stage.IN_PROGRESS
        case SignReply():
            return Stage.REPLIED if payload.approved else Stage.IN_PROGRESS
        case Reply():
            return Stage.REPLIED
        case Note() | Assign() | CustomerMessage():
            return state.stage
    raise AssertionError(payload)


def routed_to(name: str, payload: Decision) -> str | None:
    """The department the workflow's route step assigns after ``name`` (None: no route step).
    The route activity reads the (editable) routing table; the seeded one is DEFAULT_ROUTING."""
    if isinstance(payload, Verify):
        return payload.department or DEFAULT_ROUTING[payload.category]
    if isinstance(payload, Reroute):
        return payload.department
    if isinstance(payload, Decide) and payload.decision is SupervisorChoice.REROUTE:
        return payload.department
    return None


class ComplaintMachine(RuleBasedStateMachine):
    """One complaint, its policy and a simulated clock; mirrors ``ComplaintWorkflow``."""

    state: ComplaintState
    policy: SlaPolicy
    now: datetime

    def __init__(self) -> None:
        super().__init__()
        self.finished = False  # the reopen window ended: the workflow has completed

    @initialize(channel=CHANNEL, policy=POLICIES, received=RECEIVED, data=st.data())
    def receive(self, channel: Channel, policy: SlaPolicy, received: datetime, data: st.DataObject) -> None:
        # Only an e-mail complaint must come with the customer's address.
        emails = ["an@example.vn"] if channel is Channel.EMAIL else ["an@example.vn", None]
        customer = Customer(name="Nguyễn Văn An", email=data.draw(st.sampled_from(emails)), address="12 Lê Lợi, Q1")
        received_by = data.draw(st.none() | st.just(Actor(user="lan.cs", role=R.CS_AGENT, department="CS")))
        intake = ComplaintIntake(channel=channel, customer=customer, body="Mạng chậm", received_by=received_by)
        start = ComplaintStart(complaint_id=COMPLAINT_ID, intake=intake, received_at=received, policy=policy)
        self.policy, self.now = policy, received
        self.state = lifecycle.new_state(start)
        assert self.state.stage is Stage.RECEIVED and self.state.version == 1
        assert self.state.deadline == policy.add(received, policy.resolution)
        assert self.state.log[0].action == "receive"

    # --- steps -------------------------------------------------------------------------------

    def _step(self, after: ComplaintState, action: str) -> None:
        """Checks every step must pass, then make ``after`` the current state."""
        before = self.state
        assert after.version > before.version, (action, before.version, after.version)
        assert after.log[: len(before.log)] == before.log, "the log is append-only"
        for entry in after.log[len(before.log) :]:
            actor = (entry.actor.user, entry.actor.role.value, entry.actor.department)
            digest = detail_digest(entry.detail)
            assert entry.hash == entry_hash(
                after.complaint_id, entry.seq, entry.at, entry.action, actor, digest, entry.prev_hash or ""
            )
        assert after.escalation_level >= before.escalation_level, (action, "escalation level went down")
        if action != "reopen":
            assert after.deadline == before.deadline, (action, "deadline moved", before.deadline, after.deadline)
            assert after.bound_started_at == before.bound_started_at, action
            assert after.warning_at == before.warning_at, action
        assert after.complaint_id == before.complaint_id and after.channel is before.channel
        assert after.received_at == before.received_at and after.customer == before.customer
        assert after.reopen_count == before.reopen_count + (action == "reopen")
        self.state = after

    def teardown(self) -> None:
        # the state travels through Temporal (and the query) as JSON: it must come back equal
        if hasattr(self, "state"):
            assert ComplaintState.model_validate_json(self.state.model_dump_json()) == self.state

    def _attempt(self, name: str, payload: Decision) -> None:
        before = self.state
        snapshot = before.model_dump()
        refusal = transitions.check(name, payload, before, self.now)
        actor_refusal = transitions.check_actor(name, payload.actor, before, self.now)
        offered = name in transitions.available_decisions(payload.actor, before, self.now)
        assert before.model_dump() == snapshot, "checking a decision changed the state"

        expected = expected_refusal(name, payload, before, self.now)
        assert (refusal.code if refusal else None) == expected, (name, payload, before.stage, refusal)
        expected_for_actor = expected_actor_refusal(name, payload.actor, before, self.now)
        assert (actor_refusal.code if actor_refusal else None) == expected_for_actor, (name, payload.actor, before)
        assert offered == (actor_refusal is None), (name, payload.actor, before.stage)
        if actor_refusal is not None:
            # the payload-free check refuses for the same reason (it runs first in ``check``)
            assert refusal is not None and (refusal.code is actor_refusal.code or expected is RefusalCode.INVALID)
        if refusal is not None:
            assert refusal.message, refusal
            assert transitions.HTTP_STATUS[refusal.code] in (403, 404, 409, 422)
            event(f"refused {name}: {refusal.code.value}")
            return  # the workflow's validator rejects it: nothing is applied, nothing recorded
        if lifecycle.is_repeat(payload, before):
            # the same customer message delivered again: the workflow answers with the state as is
            assert isinstance(payload, CustomerMessage)
            assert [m.message_id for m in before.messages].count(payload.message_id) == 1
            event("repeated customer_message")
            return

        after = lifecycle.apply_decision(before, name, payload, self.now, self.policy)
        assert after.stage is expected_stage(payload, before), (name, payload, after.stage)
        assert after.version == before.version + 1
        entry = after.log[-1]
        assert (entry.seq, entry.action, entry.actor, entry.at) == (after.version, name, payload.actor, self.now)
        assert "actor" not in entry.detail
        if name in ("escalate", "reopen") or (isinstance(payload, Resolve) and not payload.within_authority):
            assert after.escalation_level >= 1
        if name == "reopen":
            assert after.bound_started_at == self.now
            assert after.deadline == self.policy.add(self.now, self.policy.resolution)
            assert after.deadline >= before.deadline, "a reopen gives a fresh bound, never a shorter one"
            assert not after.overdue and after.breaches == 0 and not after.warned
        if isinstance(payload, Assign):
            assert after.assignee == payload.assignee and entry.detail.get("assignee") == payload.assignee
        else:
            assert after.assignee == before.assignee, (name, "only assign and a routing change the assignee")
        self._check_conversation(name, payload, before, after)
        department = routed_to(name, payload)
        if department is not None:
            routed = lifecycle.assign_department(after, department, payload.actor, self.now, None)
            assert (routed.department, routed.stage, routed.log[-1].action) == (department, Stage.IN_PROGRESS, "route")
            # to another department: whoever worked on it is not the new department's
            moved = department != after.department
            assert routed.assignee == (None if moved else after.assignee)
            assert routed.log[-1].detail.get("unassigned") == (after.assignee if moved else None)
            # the workflow appends the activity's entry: the same state
            assert lifecycle.with_route_entry(after, routed.log[-1]) == routed
            after = routed
        self._step(after, name)
        event(f"applied {name}")

    def _check_conversation(self, name: str, payload: Decision, before: ComplaintState, after: ComplaintState) -> None:
        """A customer message adds one incoming message and never changes the stage; after closing
        the customer's own channel raises the flag for CS, CS's acting (a call it notes, a reopen)
        lowers it; nothing else touches the conversation (outgoing mails are the workflow's)."""
        if not isinstance(payload, CustomerMessage):
            assert after.messages == before.messages, name
            if name == "reopen":
                assert not after.wrote_after_closing and not after.reopen_requested
            else:
                assert (after.wrote_after_closing, after.reopen_requested) == (
                    before.wrote_after_closing,
                    before.reopen_requested,
                ), name
            return
        assert after.stage is before.stage
        assert after.messages[:-1] == before.messages
        added = after.messages[-1]
        assert (added.direction, added.via, added.text, added.seq, added.at) == (
            Direction.IN,
            payload.via,
            payload.text,
            after.version,
            self.now,
        )
        assert added.attachments == payload.attachments and added.message_id == payload.message_id
        assert added.noted_by == (None if payload.actor.role is R.SYSTEM else payload.actor.user)
        assert after.last_customer_message_at == self.now
        if before.stage is not Stage.CLOSED:
            assert (after.wrote_after_closing, after.reopen_requested) == (False, False)
        elif payload.actor.role is R.SYSTEM:
            assert after.wrote_after_closing
            assert after.reopen_requested == (before.reopen_requested or payload.reopen_requested)
        else:  # CS took the call
            assert not after.wrote_after_closing and after.reopen_requested == payload.reopen_requested

    def _fire_next(self) -> TimerKind:
        timer = lifecycle.next_timer(self.state, self.policy)
        assert timer is not None, "an unfinished complaint always has a timer"
        kind, at = timer
        self.now = max(self.now, at)
        if kind is TimerKind.REOPEN_WINDOW_END:
            # ComplaintWorkflow completes here (it does not record this timer).
            assert self.state.stage is Stage.CLOSED and at == self.state.reopen_until
            self.finished = True
            return kind
        before = self.state
        after = lifecycle.apply_timer(before, kind, self.now)
        assert after.stage is before.stage, "a timer never changes the stage"
        assert after.log[-1].actor.role is Role.SYSTEM and after.log[-1].action == kind.value
        if kind is TimerKind.BREACH:
            assert after.escalation_level == before.escalation_level + 1 and after.overdue
        else:
            assert after.escalation_level == before.escalation_level
        self._step(after, kind.value)
        return kind

    @precondition(lambda self: not self.finished)
    @rule(data=st.data(), name=DECISION, plausible=st.booleans())
    def decide(self, data: st.DataObject, name: str, plausible: bool) -> None:
        """Any decision of the table, by a random actor or by one of a role the table allows."""
        if plausible:
            roles = sorted(TRANSITIONS[name].roles)
            departments = sorted({d for d in (self.state.department, "CS") if d})
            role, department = roles[data.draw(PICK) % len(roles)], departments[data.draw(PICK) % len(departments)]
            actor = Actor(user="someone", role=role, department=department)
        else:
            actor = data.draw(ANY_ACTOR)
        # now and then a payload of another decision (the API could never send one; the check must refuse it)
        payload_of = data.draw(DECISION) if data.draw(ONE_IN_TEN) == 0 else name
        self._attempt(name, payload(data, payload_of, actor))

    @precondition(lambda self: not self.finished)
    @rule(data=st.data(), pick=PICK)
    def take_an_offered_decision(self, data: st.DataObject, pick: int) -> None:
        """A decision the UI would offer (``available_decisions``) to one of the usual staff, so the
        walk reaches the later stages; the payload rules may still refuse it. What is offered to each
        of them (and to an admin: nothing) is what the table says."""
        options = []
        for actor in [*PLAUSIBLE_ACTORS, ADMIN]:
            offered = transitions.available_decisions(actor, self.state, self.now)
            expected = [n for n in TRANSITIONS if expected_actor_refusal(n, actor, self.state, self.now) is None]
            assert offered == expected, (actor, self.state.stage, self.state.department, offered, expected)
            options += [(actor, name) for name in offered]
        assert options, f"nobody can act on a {self.state.stage} complaint"
        actor, name = options[pick % len(options)]
        self._attempt(name, payload(data, name, actor))

    @precondition(lambda self: not self.finished)
    @rule(data=st.data(), pick=PICK)
    def move_on(self, data: st.DataObject, pick: int) -> None:
        """The stage's next step of the procedure, by the right person: the walk reaches every stage.
        Now and then a received complaint is rejected or resolved on the spot instead of verified,
        and one in progress escalated instead of resolved."""
        name, role = FORWARD[self.state.stage]
        if self.state.stage is Stage.RECEIVED and pick % 4 == 0:
            name = "resolve_on_spot" if self.state.channel is Channel.IN_PERSON and pick % 8 == 0 else "reject"
        if self.state.stage is Stage.IN_PROGRESS and pick % 4 == 0:
            name = "escalate"
        self._attempt(name, payload(data, name, Actor(user="owner", role=role, department=self.state.department)))

    @precondition(lambda self: not self.finished)
    @rule()
    def fire_next_timer(self) -> None:
        """Whatever ``next_timer`` says is due, at its time."""
        self._fire_next()

    @precondition(lambda self: not self.finished)
    @rule(share=DELAY)
    def wait(self, share: float) -> None:
        """Time passes; every timer due meanwhile fires in order, as in the workflow."""
        until = self.now + self.policy.resolution * share
        for _ in range(MAX_TIMERS_PER_WAIT):
            timer = lifecycle.next_timer(self.state, self.policy)
            assert timer is not None
            if timer[1] > until or self.finished:
                break
            self._fire_next()
        if not self.finished:
            self.now = max(self.now, until)

    @precondition(lambda self: not self.finished and self.state.stage is Stage.CLOSED)
    @rule(data=st.data(), fraction=st.floats(0, 1))
    def reopen_inside_the_window(self, data: st.DataObject, fraction: float) -> None:
        """Reopen between now and the end of the window: allowed for a CS agent, with a fresh bound."""
        until = self.state.reopen_until
        assert until is not None and self.now <= until
        self.now += (until - self.now) * fraction
        actor = data.draw(REOPENER)
        reopen = Reopen(actor=actor, reason="Khách chưa hài lòng")
        was = self.state
        self._attempt("reopen", reopen)
        if actor.role is R.CS_AGENT:
            assert self.state is not was and self.state.stage is Stage.ESCALATED
            assert self.state.reopen_count == was.reopen_count + 1

    @precondition(lambda self: self.state.stage is Stage.CLOSED)
    @rule(late=st.timedeltas(min_value=timedelta(microseconds=1), max_value=timedelta(days=400)))
    def reopen_outside_the_window(self, late: timedelta) -> None:
        """Past the window a reopen is refused (409) whoever asks, and nothing changes."""
        until = self.state.reopen_until
        assert until is not None
        was = self.state.model_dump()
        cs = Actor(user="lan.cs", role=R.CS_AGENT, department="CS")
        refusal = transitions.check("reopen", Reopen(actor=cs, reason="Quá hạn"), self.state, until + late)
        assert refusal is not None and refusal.code is RefusalCode.REOPEN_WINDOW_CLOSED
        assert "reopen" not in transitions.available_decisions(cs, self.state, until + late)
        assert self.state.model_dump() == was

    @rule(name=DECISION, blank=BLANK, actor=ANY_ACTOR)
    def blank_field_is_invalid(self, name: str, blank: str, actor: Actor) -> None:
        """A required text left blank never makes a payload (the API answers 422 naming it)."""
        field, rest = REQUIRED_TEXT[name]
        with pytest.raises(ValidationError) as raised:
            TRANSITIONS[name].payload.model_validate({"actor": actor.model_dump(), field: blank} | rest)
        assert any(field in ".".join(map(str, e["loc"])) or e["loc"] == () for e in raised.value.errors())

    # --- invariants ----------------------------------------------------------------------------

    @invariant()
    def the_process_invariants(self) -> None:
        s, policy = self.state, self.policy
        assert isinstance(s.stage, Stage) and s.stage in set(Stage)
        # the version counts the log; the log's seq is contiguous from 1; time only moves forward
        assert s.version == len(s.log) and [e.seq for e in s.log] == list(range(1, s.version + 1))
        assert all(a.at <= b.at for a, b in zip(s.log, s.log[1:], strict=False))
        # the log is hash-chained: each entry points at the one before it
        assert [e.prev_hash for e in s.log] == [GENESIS, *(e.hash for e in s.log[:-1])]
        assert s.log[0].action == "receive"
        # a closed complaint says why: a root cause (close, or the on-the-spot cause) or a rejection reason
        if s.stage is Stage.CLOSED:
            assert s.root_cause or s.rejection_reason, s
            assert s.outcome is not None and s.closed_at is not None
            assert s.reopen_until == s.closed_at + policy.reopen_window
        else:
            assert s.outcome is None and s.closed_at is None and s.reopen_until is None
        if s.outcome is Outcome.REJECTED:
            assert s.rejection_reason
        if s.outcome is Outcome.RESOLVED:
            assert s.root_cause and s.lessons_learned
        if s.outcome is Outcome.RESOLVED_ON_SPOT:
            assert s.root_cause and s.department == CS_DEPARTMENT and s.channel is Channel.IN_PERSON
        # the bound is always the policy's, counted from when it (re)started
        assert s.deadline == policy.add(s.bound_started_at, policy.resolution)
        assert s.warning_at == policy.add(s.bound_started_at, policy.warning)
        assert s.received_at <= s.bound_started_at <= self.now
        # overdue comes from breaches only; every breach raised the level by one
        assert s.overdue == (s.breaches > 0)
        assert s.escalation_level >= s.breaches
        if s.stage is Stage.ESCALATED or s.overdue:
            assert s.escalation_level >= 1
        if s.stage is Stage.AWAITING_SIGNATURE:
            assert s.channel is Channel.POST
        if s.stage not in (Stage.RECEIVED, Stage.CLOSED):
            assert s.department in DEPARTMENTS, s.department
        if s.stage is Stage.REPLIED:
            assert s.reply_method
        assert s.reopen_count == sum(e.action == "reopen" for e in s.log)
        # the assignee is the last assign's, unless a routing to another department cleared it since
        assignee = None
        for e in s.log:
            if e.action == "assign":
                assignee = e.detail.get("assignee")
            elif e.action == "route" and "unassigned" in e.detail:
                assert e.detail["unassigned"] == assignee
                assignee = None
        assert s.assignee == assignee
        # the conversation: one incoming message per customer_message entry of the log, each id once
        incoming = [m for m in s.messages if m.direction is Direction.IN]
        assert [m.seq for m in incoming] == [e.seq for e in s.log if e.action == "customer_message"]
        ids = [m.message_id for m in incoming if m.message_id]
        assert len(ids) == len(set(ids))
        assert s.last_customer_message_at == (incoming[-1].at if incoming else None)
        if s.wrote_after_closing or s.reopen_requested:
            assert s.stage is Stage.CLOSED and s.closed_at is not None
        if s.wrote_after_closing and s.closed_at is not None:
            assert incoming[-1].noted_by is None and incoming[-1].at >= s.closed_at
        if not self.finished:
            assert lifecycle.next_timer(s, policy) is not None

    @invariant()
    def escalation_never_decreases_over_the_whole_log(self) -> None:
        levels = [e.detail["escalation_level"] for e in self.state.log if "escalation_level" in e.detail]
        assert levels == sorted(levels)


ComplaintMachine.TestCase.settings = settings(
    max_examples=100,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestComplaintMachine = ComplaintMachine.TestCase


def test_the_spec_written_here_is_the_table() -> None:
    """The oracle above reads DESIGN.md's table; the module must say the same."""
    assert set(SPEC) == set(TRANSITIONS)
    for name, (roles, stages) in SPEC.items():
        assert (set(TRANSITIONS[name].roles), set(TRANSITIONS[name].from_stages)) == (roles, stages), name


@pytest.mark.parametrize("name", list(SPEC))
def test_the_whole_role_matrix(name: str) -> None:
    """Every role of every department (and none) on a TECH complaint, at every stage and channel:
    the table says the same as the spec. (The API tests take one allowed and one refused user.)"""
    intake = ComplaintIntake(channel=Channel.EMAIL, customer=Customer(name="An", email="an@example.vn"), body="x")
    start = ComplaintStart(complaint_id=COMPLAINT_ID, intake=intake, received_at=datetime(2026, 1, 5, tzinfo=UTC),
                           policy=SlaPolicy())  # fmt: skip
    now = start.received_at + timedelta(days=1)
    checked = 0
    for stage in Stage:
        for channel in Channel:
            closed = {"closed_at": now, "reopen_until": now + timedelta(days=1)} if stage is Stage.CLOSED else {}
            update = {"stage": stage, "channel": channel, "department": "TECH"} | closed
            state = lifecycle.new_state(start).model_copy(update=update)
            for role in Role:
                for department in [None, *DEPARTMENTS]:
                    actor = Actor(user="someone", role=role, department=department)
                    refusal = transitions.check_actor(name, actor, state, now)
                    expected = expected_actor_refusal(name, actor, state, now)
                    assert (refusal.code if refusal else None) == expected, (name, stage, channel, actor)
                    checked += 1
    assert checked == len(Stage) * len(Channel) * len(Role) * (len(DEPARTMENTS) + 1)
