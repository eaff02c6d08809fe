"""``ComplaintWorkflow``: one durable workflow per complaint, id = complaint id.

Orchestration only. The rules (who may decide what, what each decision changes, which timer
is next) live in ``domain``; the side effects live in activities, called by name.
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
    from domain import search_index as sa
    from domain.lifecycle import (
        TimerKind,
        apply_decision,
        apply_timer,
        assign_department,
        new_state,
        next_timer,
        target_department,
    )
    from domain.models import ComplaintStart, ComplaintState, Decision, LogEntry
    from domain.steps import (
        ARCHIVE_WORKFLOW,
        COMPLAINT_WORKFLOW,
        Activity,
        ArchiveRequest,
        Audience,
        MailRequest,
        StepInput,
        StepResult,
        archive_workflow_id,
    )
    from domain.transitions import TRANSITIONS, check
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

C, D, E, S = Audience.CUSTOMER, Audience.DEPARTMENT, Audience.ESCALATION, Audience.CS_SUPERVISOR


# The customer's mail when a complaint closes straight from intake.
CLOSING_MAIL = {"reject": "rejected", "resolve_on_spot": "resolved_on_spot"}


def _mails(*pairs: tuple[str, Audience]) -> list[MailRequest]:
    return [MailRequest(purpose=p, audience=a) for p, a in pairs]


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
        await self._project(Activity.RECEIVE, mails=_mails(("acknowledgement", C)))
        self._index_changes()
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
                    self._index_changes()
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
        refusal = check(name, payload, self._state, workflow.now())
        if refusal is not None:
            raise ApplicationError(refusal.message, type=refusal.code.value, non_retryable=True)

    async def _decide(self, name: str, payload: Decision) -> ComplaintState:
        await workflow.wait_condition(lambda: self._received)
        async with self._lock:
            # Checked again under the lock: another decision may have moved the stage meanwhile.
            self._validate(name, payload)
            try:
                await self._apply(name, payload)
            finally:
                self._index_changes()
            return self._state

    async def _signalled(self, name: str, payload: Decision) -> None:
        try:
            await self._decide(name, payload)
        except ApplicationError as refused:
            workflow.logger.warning("Signal %s refused: %s", name, refused)

    async def _apply(self, name: str, payload: Decision) -> None:
        was = self._state
        self._state = apply_decision(was, name, payload, workflow.now(), self._policy)
        stage = self._state.stage
        if name == "verify":
            await self._project(Activity.VERIFY)
            await self._route(payload, None)
        elif name in CLOSING_MAIL:
            await self._project(Activity.CLOSE, mails=_mails((CLOSING_MAIL[name], C)))
        elif name == "reroute" or (name == "decide" and target_department(payload)):
            await self._project(Activity.RECORD)
            reason = getattr(payload, "reason", None) or getattr(payload, "instructions", None)
            await self._route(payload, reason)
        elif name == "resolve":
            await self._project(Activity.RESOLVE)
            if stage is Stage.ESCALATED:  # beyond the department's authority
                await self._project(Activity.ESCALATE, mails=_mails(("escalated", E)))
        elif name == "escalate":
            await self._project(Activity.ESCALATE, mails=_mails(("escalated", E)))
        elif name == "sign_reply" and stage is Stage.REPLIED:
            await self._project(Activity.REPLY, mails=_mails(("reply", C)))
        elif name == "reply":
            mails = _mails(("reply", C)) if self._state.reply_method == "email" else []
            await self._project(Activity.REPLY, mails=mails)
        elif name == "close":
            await self._project(Activity.CLOSE, mails=_mails(("closing", C)))
        elif name == "reopen":
            await self._project(Activity.ESCALATE, mails=_mails(("reopened", C), ("escalated", E)))
        else:  # decide (approve/return), sign_reply refused, note
            await self._project(Activity.RECORD)

    async def _route(self, payload: Decision, reason: str | None) -> None:
        """The route activity picks the department and projects ``assign_department`` itself;
        applying the same pure function here with the same inputs keeps both sides equal."""
        now = workflow.now()
        template = LogEntry(
            seq=self._state.version + 1,
            at=now,
            action="route",
            actor=payload.actor,
            detail={"reason": reason} if reason else {},
        )
        result = await self._project(Activity.ROUTE, entry=template, requested_department=target_department(payload))
        if result.department is None:
            raise ApplicationError("routing gave no department", non_retryable=True)
        self._state = assign_department(self._state, result.department, payload.actor, now, reason)
        if not self._indexes_changes():
            self._upsert_search_attributes()

    async def _fire(self, kind: TimerKind, due: datetime) -> None:
        # Never logged before it was due: after a server restart workflow.now() has been seen to
        # lag behind the timer that just fired (the time of the previous workflow task).
        self._state = apply_timer(self._state, kind, max(workflow.now(), due))
        if kind is TimerKind.FIRST_RESPONSE:
            await self._project(Activity.RECORD, mails=_mails(("first_response_breach", S)))
        elif kind is TimerKind.WARNING:
            await self._project(Activity.RECORD, mails=_mails(("warning", D)))
        elif kind is TimerKind.BREACH:
            await self._project(Activity.ESCALATE, mails=_mails(("breach", E)))

    # --- side effects ---

    async def _project(
        self,
        activity: Activity,
        *,
        mails: list[MailRequest] | None = None,
        entry: LogEntry | None = None,
        requested_department: str | None = None,
    ) -> StepResult:
        """Run the step's activity on the current state, then deliver its mails in the background."""
        if not self._indexes_changes():
            self._upsert_search_attributes()
        state = self._state
        step = StepInput(
            # The last entry only: it carries the hash a step that logs (route) chains onto.
            state=state.model_copy(update={"log": state.log[-1:]}),
            entry=entry or state.log[-1],
            intake_key=self._start.intake.intake_key,
            mails=mails or [],
            requested_department=requested_department,
        )
        result = await workflow.execute_activity(
            activity.value,
            step,
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

    def _upsert_search_attributes(self) -> None:
        """Before INDEX_PATCH: every attribute, before every step."""
        if self._start.search_attributes:
            workflow.upsert_search_attributes(sa.updates(self._state))

    def _indexes_changes(self) -> bool:
        return self._start.search_attributes and workflow.patched(INDEX_PATCH)

    def _index_changes(self) -> None:
        """After a decision, a timer or the intake: upsert only the attributes that changed."""
        if self._indexes_changes():
            if changed := sa.updates(self._state, workflow.info().typed_search_attributes):
                workflow.upsert_search_attributes(changed)


def _decision_handlers(name: str, payload_type: type[Decision]) -> dict[str, Callable[..., Any]]:
    """The update (with its validator) and the signal of one decision: one code path for both."""

    async def update(self: ComplaintWorkflow, payload: Decision) -> ComplaintState:
        return await self._decide(name, payload)

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
