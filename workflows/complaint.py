"""``ComplaintWorkflow``: one durable workflow per complaint, id = complaint id.

The company's procedure (../shared/seed), step by step, and where each lives:

  01 Receive           ``run``: the intake is projected and acknowledged (the ``receive`` step)
  02 Check & classify  decision ``verify`` (CS confirms and classifies), then routing to a department;
                       ``reject`` (e.g. a duplicate), or ``resolve_on_spot`` for a customer in person
  03 Handle            ``resolve`` by the department (beyond its authority: escalated), ``escalate``,
                       the supervisor's ``decide`` (approve, return, reroute), ``reroute``
  04 Answer            ``reply`` by CS; a written complaint's letter is signed: ``sign_reply``
  05 Close             ``close`` with root cause and lessons; ``reopen`` within the window
  Never past 20 days   the timers in ``run``: first response, day-15 warning, day-20 breach (repeated)
  At any open stage    ``note``: an internal note; ``assign``: to a person; the stage unchanged
  At any stage         ``customer_message``: the customer's words (mail, status page, livechat, a call
                       CS notes); after closing, CS sees it and confirms a reopen asked for
  Before it goes on    ``edit_draft``: the supervisor's own version of the reply draft (approval, signature)
  After closing        ``rate``: the customer's satisfaction (1-5), once per closing, from the status page

Orchestration only: who may decide what is ``domain.transitions``, what the state becomes is
``domain.lifecycle``, which step and mails follow is ``domain.effects``; the side effects live
in activities, called by name.
"""

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from domain import effects
    from domain import search_index as sa
    from domain.lifecycle import (
        TimerKind,
        apply_decision,
        apply_timer,
        assign_department,
        is_repeat,
        new_state,
        next_timer,
        target_department,
        with_route_entry,
    )
    from domain.models import ComplaintStart, ComplaintState, Decision
    from domain.steps import (
        ARCHIVE_WORKFLOW,
        COMPLAINT_WORKFLOW,
        Activity,
        ArchiveRequest,
        RouteRequest,
        StepInput,
        StepResult,
        archive_workflow_id,
    )
    from domain.transitions import LATER_DECISIONS, LATER_RULES, TRANSITIONS, Refusal, RefusalCode, check, recheck
    from domain.vocabulary import Stage
    from workflows.job_order import mark_jobs_in_order

MAIL_TIMEOUT = timedelta(seconds=25)  # above the SMTP client's own timeout
# Store or SMTP outages are retried patiently: a complaint is never dropped for a flaky dependency.
STEP_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), backoff_coefficient=2.0, maximum_interval=timedelta(minutes=1)
)
MAIL_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=5),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=10),
    non_retryable_error_types=["MailRejected"],
)

# Runs that completed before archiving existed replay without the child (workflow.patched).
ARCHIVE_PATCH = "archive-history-on-completion"
# Since this patch the index is upserted once per decision or timer, and only what changed
# (the intake sets it at start); older runs replay their upsert before every step.
INDEX_PATCH = "search-attributes-on-change"
# Since this patch the mails sent to the customer are also outgoing messages of the state's
# conversation; older runs replay with the state they had (no such entries).
CONVERSATION_PATCH = "conversation-outgoing-mails"


# Decorated with @workflow.defn at the bottom, once the table's handlers are attached.
class ComplaintWorkflow:
    @workflow.init
    def __init__(self, start: ComplaintStart) -> None:
        self._start = start
        self._policy = start.policy
        self._state = new_state(start)
        self._lock = asyncio.Lock()
        self._deliveries: list[Any] = []
        # Decisions wait until intake is projected, so the log always starts with "receive".
        self._received = False

    @workflow.run
    async def run(self, start: ComplaintStart) -> ComplaintState:
        mark_jobs_in_order()
        self._note_customer_mails((effects.RECEIVE,))
        await self._project(effects.RECEIVE)
        self._upsert_changed_search_attributes()
        self._received = True
        while True:
            timer = next_timer(self._state, self._policy)
            if timer is None:  # unreachable with the current rules; kept as a guard
                break
            kind, at = timer
            version = self._state.version

            def changed(seen: int = version) -> bool:
                return self._state.version != seen

            timeout = max((at - workflow.now()).total_seconds(), 0.0)
            try:
                await workflow.wait_condition(changed, timeout=timeout, timeout_summary=kind.value)
                continue  # something changed: recompute the next timer
            except TimeoutError:
                pass
            if kind is TimerKind.REOPEN_WINDOW_END:
                # No reopen can start after this point (the validator refuses it), so finish.
                async with self._lock:
                    if self._state.stage is Stage.CLOSED and workflow.now() >= at:
                        break
                continue
            async with self._lock:
                try:
                    await self._fire(kind, at)
                finally:
                    self._upsert_changed_search_attributes()
        await workflow.wait_condition(workflow.all_handlers_finished)
        await asyncio.gather(*self._deliveries, return_exceptions=True)
        if self._start.archive_history and workflow.patched(ARCHIVE_PATCH):
            await self._archive_when_closed()
        return self._state

    async def _archive_when_closed(self) -> None:
        """Hand the history to an abandoned child that archives it once this run has closed,
        so the audit trail outlives the namespace's retention."""
        info = workflow.info()
        await workflow.start_child_workflow(
            ARCHIVE_WORKFLOW,
            ArchiveRequest(complaint_id=info.workflow_id, run_id=info.run_id),
            id=archive_workflow_id(info.workflow_id),
            parent_close_policy=ParentClosePolicy.ABANDON,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        )

    @workflow.query(name="state")
    def state(self) -> ComplaintState:
        return self._state

    # --- decisions: every row of the transition table is an update and a signal (see below) ---

    def _validate(self, name: str, payload: Decision) -> None:
        """An update's validator (never run on replay)."""
        _refuse(check(name, payload, self._state, workflow.now()))

    async def _decide(self, name: str, payload: Decision, validated: bool) -> ComplaintState:
        await workflow.wait_condition(lambda: self._received)
        async with self._lock:
            if validated:  # an update: again what another decision may have changed meanwhile
                refusal = recheck(name, payload, self._state, workflow.now())
            else:  # a signal: everything, here (but a rule a recorded run predates, not on its replay)
                refusal = check(name, payload, self._state, workflow.now())
                if refusal is not None and refusal.rule in LATER_RULES and not workflow.patched(refusal.rule):
                    refusal = None
                # A decision the run's worker did not have yet: it left the signal unhandled.
                if refusal is None and name in LATER_DECISIONS and not workflow.patched(LATER_DECISIONS[name]):
                    refusal = Refusal(RefusalCode.UNKNOWN_DECISION, f"{name} came before the decision existed")
            _refuse(refusal)
            if is_repeat(payload, self._state):  # the same message delivered again: added once
                return self._state
            try:
                await self._apply(name, payload)
            finally:
                self._upsert_changed_search_attributes()
            return self._state

    async def _signalled(self, name: str, payload: Decision) -> None:
        try:
            await self._decide(name, payload, validated=False)
        except ApplicationError as refused:
            workflow.logger.warning("Signal %s refused: %s", name, refused)

    async def _apply(self, name: str, payload: Decision) -> None:
        self._state = apply_decision(self._state, name, payload, workflow.now(), self._policy)
        then = effects.decision_effects(name, payload, self._state)
        self._note_customer_mails(then.steps)
        for step in then.steps:
            await self._project(step)
        if then.route:
            await self._route(payload, then.route_reason)

    def _note_customer_mails(self, steps: tuple[effects.Step, ...]) -> None:
        if workflow.patched(CONVERSATION_PATCH):
            self._state = effects.with_customer_mails(self._state, steps, workflow.now())

    async def _route(self, payload: Decision, reason: str | None) -> None:
        """The route activity picks the department and projects the routed state; the workflow
        appends the routing's log entry from its result."""
        request = RouteRequest(
            actor=payload.actor, at=workflow.now(), reason=reason, requested_department=target_department(payload)
        )
        result = await self._project(effects.Step(Activity.ROUTE), route=request)
        if result.department is None:
            raise ApplicationError("routing gave no department", non_retryable=True)
        if result.route_entry is not None:
            self._state = with_route_entry(self._state, result.route_entry)
        else:  # a result recorded before the activity returned its entry: the same pure function
            self._state = assign_department(self._state, result.department, request.actor, request.at, reason)
        if not self._upserts_only_changes():
            self._upsert_all_search_attributes()

    async def _fire(self, kind: TimerKind, due: datetime) -> None:
        # Never logged before it was due: after a server restart workflow.now() has been seen to
        # lag behind the timer that just fired (the time of the previous workflow task).
        self._state = apply_timer(self._state, kind, max(workflow.now(), due))
        if (step := effects.TIMER_EFFECTS.get(kind)) is not None:
            await self._project(step)

    # --- side effects ---

    async def _project(self, step: effects.Step, *, route: RouteRequest | None = None) -> StepResult:
        """Run the step's activity on the current state, then deliver its mails in the background."""
        if not self._upserts_only_changes():
            self._upsert_all_search_attributes()
        state = self._state
        step_input = StepInput(
            # The last entry only: it carries the hash a step that logs (route) chains onto.
            state=state.model_copy(update={"log": state.log[-1:]}),
            entry=state.log[-1],
            intake_key=self._start.intake.intake_key,
            mails=list(step.mails),
            route=route,
        )
        result = await workflow.execute_activity(
            step.activity.value,
            step_input,
            result_type=StepResult,
            start_to_close_timeout=self._start.step_timeout,
            retry_policy=STEP_RETRY,
        )
        for message_id in result.message_ids:
            self._deliveries.append(
                workflow.start_activity(
                    Activity.DELIVER_MAIL.value,
                    message_id,
                    start_to_close_timeout=MAIL_TIMEOUT,
                    retry_policy=MAIL_RETRY,
                )
            )
        return result

    def _upserts_only_changes(self) -> bool:
        """Since INDEX_PATCH the search attributes are set at start and upserted after each
        decision or timer, only what changed; runs from before upsert all of them before each step."""
        return self._start.search_attributes and workflow.patched(INDEX_PATCH)

    def _upsert_all_search_attributes(self) -> None:
        """Before INDEX_PATCH: every attribute, before every step."""
        if self._start.search_attributes:
            workflow.upsert_search_attributes(sa.updates(self._state))

    def _upsert_changed_search_attributes(self) -> None:
        """After a decision, a timer or the intake: upsert only the attributes that changed."""
        if self._upserts_only_changes():
            if changed := sa.updates(self._state, workflow.info().typed_search_attributes):
                workflow.upsert_search_attributes(changed)


def _refuse(refusal: Refusal | None) -> None:
    if refusal is not None:
        raise ApplicationError(refusal.message, type=refusal.code.value, non_retryable=True)


def _decision_handlers(name: str, payload_type: type[Decision]) -> dict[str, Callable[..., Any]]:
    """The update (with its validator) and the signal of one decision: one code path for both."""

    async def update(self: ComplaintWorkflow, payload: Decision) -> ComplaintState:
        return await self._decide(name, payload, validated=True)

    def validate(self: ComplaintWorkflow, payload: Decision) -> None:
        self._validate(name, payload)

    async def signal(self: ComplaintWorkflow, payload: Decision) -> None:
        await self._signalled(name, payload)

    for fn, suffix in ((update, ""), (validate, "_validator"), (signal, "_signal")):
        fn.__name__ = fn.__qualname__ = f"{name}{suffix}"
        fn.__annotations__ = {"payload": payload_type, "return": ComplaintState if fn is update else None}
    update_handler = workflow.update(name=name)(update)
    update_handler.validator(validate)  # type: ignore[attr-defined]
    return {name: update_handler, f"{name}_validator": validate, f"{name}_signal": workflow.signal(name=name)(signal)}


# Attach the handlers before @workflow.defn reads the class: the table is the only list.
for _name, _transition in TRANSITIONS.items():
    for _attr, _fn in _decision_handlers(_name, _transition.payload).items():
        setattr(ComplaintWorkflow, _attr, _fn)
workflow.defn(name=COMPLAINT_WORKFLOW)(ComplaintWorkflow)
