"""Counting, once everything has settled: Temporal (the source of truth), the store (the
projection), the outbox and what the receiving SMTP server actually got, by Message-ID."""

import asyncio
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from email import policy
from email.parser import BytesParser
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client, WorkflowHistory, WorkflowQueryFailedError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Replayer

from domain.models import ComplaintState
from domain.vocabulary import Outcome, Stage
from faults.journeys import Journey
from store.tables import Complaint, ComplaintLog, Lesson, OutboxMail
from worker import STRICT_SANDBOX
from workflows.complaint import ComplaintWorkflow

WAITING = ("pending", "sending")  # outbox states that may still change
_HEADERS = BytesParser(policy=policy.default)


@dataclass
class Figures:
    scenario: str
    store: str
    complaints: int
    completed: int = 0
    lost: int = 0
    duplicate_mails: int = 0
    mismatches: int = 0
    mails_received: int = 0
    mails_expected: int = 0
    mails_flagged_missing: int = 0  # sent_unconfirmed and not received: staff were told
    faults: int = 0
    took: float = 0.0
    # scenario figures after the main ones: (value, bad?)
    extra: dict[str, tuple[str, bool]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (
            self.completed == self.complaints
            and self.lost == 0
            and self.duplicate_mails == 0
            and self.mismatches == 0
            and self.mails_received + self.mails_flagged_missing == self.mails_expected
            and not any(bad for _, bad in self.extra.values())
            and not self.problems
        )

    def line(self) -> str:
        extra = "".join(f" {name}={value}" for name, (value, _) in self.extra.items())
        return (
            f"{self.scenario:<16} store={self.store:<10} complaints={self.complaints} completed={self.completed} "
            f"lost={self.lost} duplicate_mails={self.duplicate_mails} mismatches={self.mismatches} "
            f"mails={self.mails_received}/{self.mails_expected} faults={self.faults} took={self.took:.0f}s{extra}"
        )


def received_message_ids(directory: Path) -> Counter[str]:
    """Message-IDs of every mail the catcher stored (one .eml file per mail received)."""
    counts: Counter[str] = Counter()
    for path in directory.glob("*.eml"):
        with path.open("rb") as raw:
            counts[str(_HEADERS.parse(raw, headersonly=True).get("Message-ID", "")).strip()] += 1
    return counts


async def settle(sessions: async_sessionmaker[AsyncSession], closed_ids: list[str], within: float) -> bool:
    """Wait until the store shows every closed complaint closed and no mail still to deliver
    (retries with backoff may take a while after an outage)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        async with sessions() as session:
            behind = await session.scalar(
                select(func.count())
                .select_from(Complaint)
                .where(Complaint.id.in_(closed_ids), Complaint.stage != Stage.CLOSED.value)
            )
            rows = await session.scalar(select(func.count()).select_from(Complaint).where(Complaint.id.in_(closed_ids)))
            waiting = await session.scalar(
                select(func.count())
                .select_from(OutboxMail)
                .where(OutboxMail.complaint_id.in_(closed_ids), OutboxMail.status.in_(WAITING))
            )
        if not behind and rows == len(closed_ids) and not waiting:
            return True
        if loop.time() > deadline:
            return False
        await asyncio.sleep(1.0)


async def workflow_states(client: Client, ids: list[str]) -> tuple[dict[str, ComplaintState | None], dict[str, str]]:
    """The ``state`` query of each complaint (None: not answered), and why each unanswered one
    was not: missing from Temporal, or the query's last failure (e.g. a replay that fails)."""
    gate = asyncio.Semaphore(16)
    why: dict[str, str] = {}

    async def one(cid: str) -> ComplaintState | None:
        async with gate:
            for _ in range(20):
                try:
                    state: ComplaintState = await client.get_workflow_handle(cid).query(
                        "state", result_type=ComplaintState
                    )
                    return state
                except RPCError as exc:
                    if exc.status is RPCStatusCode.NOT_FOUND:
                        why[cid] = "missing in Temporal"
                        return None
                    why[cid] = f"query failed: {exc.message[:200]}"
                except WorkflowQueryFailedError as exc:
                    why[cid] = f"query failed: {str(exc)[:200]}"
                await asyncio.sleep(1.0)  # e.g. a query on a dead worker's sticky queue
            return None

    states = await asyncio.gather(*(one(cid) for cid in ids))
    return dict(zip(ids, states, strict=True)), why


async def unreplayable(client: Client, ids: list[str]) -> dict[str, str]:
    """The complaints whose history fails to replay with today's workflow code under the
    strict sandbox: what an auditor's query on a closed complaint, or a worker restarting
    while it is open, would meet."""

    complaint_of: dict[str, str] = {}  # run id -> complaint id

    async def histories() -> AsyncIterator[WorkflowHistory]:
        for cid in ids:
            history = await client.get_workflow_handle(cid).fetch_history()
            complaint_of[history.run_id] = cid
            yield history

    replayer = Replayer(
        workflows=[ComplaintWorkflow], data_converter=client.data_converter, workflow_runner=STRICT_SANDBOX
    )
    results = await replayer.replay_workflows(histories(), raise_on_replay_failure=False)
    return {complaint_of[run]: str(failure)[:300] for run, failure in results.replay_failures.items()}


def compare(state: ComplaintState, row: Complaint, log: list[tuple[int, str]], lessons: int) -> list[str]:
    """Where the store's row and log disagree with the workflow's state."""
    pairs = {
        "stage": (state.stage.value, row.stage),
        "version": (state.version, row.version),
        "outcome": (state.outcome.value if state.outcome else None, row.outcome),
        "department": (state.department, row.department_code),
        "category": (state.category.value if state.category else None, row.category),
        "overdue": (state.overdue, row.overdue),
        "escalation_level": (state.escalation_level, row.escalation_level),
        "reopen_count": (state.reopen_count, row.reopen_count),
    }
    diffs = [
        f"{name} {mine!r} in Temporal, {theirs!r} in the store"
        for name, (mine, theirs) in pairs.items()
        if mine != theirs
    ]
    expected_log = [(entry.seq, entry.action) for entry in state.log]
    if log != expected_log:
        diffs.append(f"log {expected_log} in Temporal, {log} in the store")
    if state.outcome is Outcome.RESOLVED and lessons != 1:
        diffs.append(f"{lessons} lessons registered, expected 1")
    return diffs


async def count(
    figures: Figures,
    journeys: list[Journey],
    client: Client,
    sessions: async_sessionmaker[AsyncSession],
    mail_dir: Path,
    others: Sequence[str] = (),
) -> None:
    """Fill in completed, lost, duplicate mails, mismatches and mails received/expected.
    ``others``: complaints filed besides the journeys (mail in), counted and their mail checked."""
    problems = figures.problems
    journey_ids = [j.complaint_id for j in journeys if j.complaint_id]
    ids = journey_ids + [cid for cid in others if cid not in journey_ids]
    for journey in journeys:
        if journey.complaint_id is None:
            problems.append(f"lost: complaint #{journey.number} was never filed: {journey.failure}")
    states, unanswered = await workflow_states(client, journey_ids)
    async with sessions() as session:
        rows = {r.id: r for r in (await session.scalars(select(Complaint).where(Complaint.id.in_(ids)))).all()}
        logs: dict[str, list[tuple[int, str]]] = defaultdict(list)
        query = select(ComplaintLog.complaint_id, ComplaintLog.seq, ComplaintLog.action).where(
            ComplaintLog.complaint_id.in_(ids)
        )
        for complaint_id, seq, action in (await session.execute(query.order_by(ComplaintLog.seq))).all():
            logs[complaint_id].append((seq, action))
        lesson_query = select(Lesson.complaint_id, func.count()).where(Lesson.complaint_id.in_(ids))
        lessons = dict((await session.execute(lesson_query.group_by(Lesson.complaint_id))).tuples().all())
        outbox = list((await session.scalars(select(OutboxMail).where(OutboxMail.complaint_id.in_(ids)))).all())
        stored = await session.scalar(select(func.count()).select_from(Complaint))
    received = await asyncio.to_thread(received_message_ids, mail_dir)
    # One workflow and one row per complaint filed: a retried filing must not have made two.
    workflows = (await client.count_workflows("WorkflowType = 'ComplaintWorkflow'")).count
    if workflows != len(ids) or stored != len(ids):
        figures.mismatches += 1
        problems.append(f"mismatch: {len(ids)} complaints filed, {workflows} workflows, {stored} store rows")

    by_complaint: dict[str, list[OutboxMail]] = defaultdict(list)
    for mail in outbox:
        by_complaint[mail.complaint_id].append(mail)
    expected_ids = {mail.message_id for mail in outbox}
    missing_rows = 0  # mails the journey must have produced that have no outbox row at all
    for journey in journeys:
        cid = journey.complaint_id
        if cid is None:
            figures.lost += 1
            continue
        state, row = states.get(cid), rows.get(cid)
        if state is None or state.stage is not Stage.CLOSED or row is None:
            figures.lost += 1
            seen = unanswered.get(cid, "not answered") if state is None else f"stage {state.stage.value}"
            problems.append(f"lost: {cid} {seen}, store row {'present' if row else 'missing'}; {journey.failure or ''}")
            problems.append(f"  trail of {cid}: {' | '.join(journey.trail[-8:])}")
            if state is None or row is None:
                continue
        else:
            figures.completed += 1
        diffs = compare(state, row, logs.get(cid, []), lessons.get(cid, 0))
        if diffs:
            figures.mismatches += 1
            problems.append(f"mismatch: {cid}: {'; '.join(diffs)}")
        purposes = {mail.purpose for mail in by_complaint.get(cid, [])}
        for purpose in sorted(journey.expected_mails() - purposes):
            missing_rows += 1
            problems.append(f"mail missing: {cid} has no {purpose} mail in the outbox")

    # At most once per Message-ID (DESIGN.md): a mail whose transfer a SIGKILL cut off is
    # flagged sent_unconfirmed for staff to check, never resent. Flagged is not silent: it is
    # counted (unconfirmed, unconfirmed_not_received) but does not fail the scenario.
    unsent = [mail for mail in outbox if mail.status not in ("sent", "sent_unconfirmed")]
    flagged = [mail for mail in outbox if mail.status == "sent_unconfirmed"]
    flagged_missing = {mail.message_id for mail in flagged if not received[mail.message_id]}
    for mail in unsent:
        problems.append(
            f"mismatch: outbox {mail.message_id} is {mail.status} after {mail.attempts} attempts "
            f"(received {received[mail.message_id]}x): {mail.last_error}"
        )
    figures.mismatches += len(unsent)
    unknown = [mid for mid in received if mid not in expected_ids]
    for mid in unknown:
        problems.append(f"mismatch: received {mid}, which is in no outbox")
    figures.mismatches += len(unknown)
    duplicates = {mid: n for mid, n in received.items() if n > 1}
    for mid, n in sorted(duplicates.items()):
        problems.append(f"duplicate mail: {mid} received {n} times")
    figures.duplicate_mails = len(duplicates)
    figures.mails_expected = len(expected_ids) + missing_rows
    figures.mails_received = sum(1 for mid in expected_ids if received[mid] >= 1)
    figures.mails_flagged_missing = len(flagged_missing)
    for mid in sorted(expected_ids):
        if not received[mid] and mid not in flagged_missing:
            problems.append(f"mail lost: {mid} never reached the receiving server")
    failures = await unreplayable(client, ids)
    problems += [f"history does not replay: {cid}: {failure}" for cid, failure in failures.items()]
    figures.extra["unreplayable"] = (str(len(failures)), bool(failures))
    figures.extra["unconfirmed"] = (str(len(flagged)), False)
    figures.extra["unconfirmed_not_received"] = (str(len(flagged_missing)), False)
    figures.extra["mail_retries"] = (str(sum(1 for m in outbox if m.attempts > 1)), False)
