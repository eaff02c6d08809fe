"""``starter.py reconcile``: compare every complaint in the store with its workflow's state
(Temporal is the source of truth) and repair the store.

- a workflow with no row: the row is written;
- a row that differs from the state (any projected column, the page's view, or a version
  ahead of the workflow's): it is rewritten from the state;
- log rows the workflow has and the store lacks: appended (the log is append-only, so
  nothing is ever rewritten there);
- a row with no workflow: kept; fine if its history is archived (past retention), else
  reported as an orphan for a person to look at.
Anonymised rows are left as they are (a personal data request outranks the projection).
"""

import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.service import RPCError

from domain.models import ComplaintState
from intake.filing import MEMO_INTAKE_KEY
from store.archive import archived_runs
from store.complaint_keys import all_shredded
from store.engine import transaction
from store.projection import append_log, complaint_values, log_rows, project_complaint
from store.tables import Complaint

log = logging.getLogger("reconcile")
UNKNOWN_STAGE = "unknown"  # a restored log row's stage after it is not in the workflow's log


@dataclass
class Report:
    workflows: int = 0
    rows: int = 0
    matching: int = 0
    inserted: list[str] = field(default_factory=list)
    repaired: dict[str, list[str]] = field(default_factory=dict)
    log_rows_restored: int = 0
    anonymised_skipped: int = 0
    archived_only: int = 0
    orphans: list[str] = field(default_factory=list)
    unreadable: dict[str, str] = field(default_factory=dict)

    @property
    def mismatches(self) -> int:
        return len(self.inserted) + len(self.repaired) + len(self.orphans) + len(self.unreadable)


def differences(row: Complaint, values: dict[str, Any]) -> list[str]:
    return [name for name, value in values.items() if name != "intake_key" and getattr(row, name) != value]


async def _reconcile_one(
    session: AsyncSession, state: ComplaintState, intake_key: str | None, report: Report, repair: bool
) -> None:
    row = await session.get(Complaint, state.complaint_id)
    values = complaint_values(state, intake_key)
    if row is None:
        report.inserted.append(state.complaint_id)
        if repair:
            await project_complaint(session, state, intake_key)
    elif row.anonymised_at is not None:
        report.anonymised_skipped += 1
        return
    else:
        changed = differences(row, values)
        if changed:
            report.repaired[state.complaint_id] = changed
            if repair:  # rewritten whatever its version says: a version ahead of the workflow's is corrupt too
                await session.execute(
                    update(Complaint)
                    .where(Complaint.id == state.complaint_id)
                    .values({k: v for k, v in values.items() if k not in ("id", "intake_key")})
                )
        else:
            report.matching += 1
    have = {r.seq for r in await log_rows(session, state.complaint_id)}
    for entry in state.log:
        if entry.seq not in have:
            report.log_rows_restored += 1
            if repair:
                last = entry.seq == state.log[-1].seq
                await append_log(session, state.complaint_id, entry, state.stage.value if last else UNKNOWN_STAGE)


async def reconcile(
    client: Client, sessions: async_sessionmaker[AsyncSession], task_queue: str, repair: bool = True
) -> Report:
    report = Report()
    seen: set[str] = set()
    async with sessions() as session:
        # Anonymised, data key destroyed: the workflow cannot read its own history any more.
        shredded = await all_shredded(session)
    query = f"WorkflowType = 'ComplaintWorkflow' AND TaskQueue = '{task_queue}'"
    async for execution in client.list_workflows(query):
        if execution.id in seen:  # an older run of a reused id: the newest comes first
            continue
        seen.add(execution.id)
        report.workflows += 1
        if execution.id in shredded:
            report.anonymised_skipped += 1
            continue
        handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
        try:
            state = await handle.query("state", result_type=ComplaintState)
            memo = await execution.memo()
        except RPCError as exc:
            report.unreadable[execution.id] = exc.message
            continue
        key = memo.get(MEMO_INTAKE_KEY)
        async with transaction(sessions) as session:
            await _reconcile_one(session, state, str(key) if key else None, report, repair)
    async with sessions() as session:
        stored = list((await session.scalars(select(Complaint.id))).all())
        report.rows = len(stored)
        lonely = [cid for cid in stored if cid not in seen]
        archived = {cid for cid, _ in await archived_runs(session, lonely)}
    report.archived_only = len(archived)
    report.orphans = [cid for cid in lonely if cid not in archived]
    for cid in report.orphans:
        log.warning("Store row %s has no workflow and no archived history", cid)
    return report
