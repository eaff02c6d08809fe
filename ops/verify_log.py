"""``starter.py verify-log``: the complaint log's hash chain, row by row, and its agreement
with the archived workflow history (the final state's own chain)."""

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import WorkflowHistory
from temporalio.converter import DataConverter

from domain.audit_chain import GENESIS, detail_digest, entry_hash
from store.archive import load_archive, verify_digest
from store.complaint_keys import is_shredded
from store.projection import log_rows
from store.tables import ComplaintLog
from temporal_client.histories import final_state


@dataclass
class LogCheck:
    complaint_id: str
    rows: int = 0
    redacted: int = 0
    archived: bool = False
    # Anonymised: its data key is destroyed, so the archived history's final state no longer
    # reads; the log rows' chain (and the archive's SHA-256) are what is left to check.
    shredded: bool = False
    problems: list[str] = field(default_factory=list)


async def verify_complaint(session: AsyncSession, complaint_id: str, converter: DataConverter) -> LogCheck:
    check = LogCheck(complaint_id)
    rows = await log_rows(session, complaint_id)
    check.rows = len(rows)
    previous = GENESIS
    for expected_seq, row in enumerate(rows, start=1):
        where = f"seq {row.seq}"
        if row.seq != expected_seq:
            check.problems.append(f"{where}: expected seq {expected_seq} (a row is missing)")
        if row.prev_hash != previous:
            check.problems.append(f"{where}: does not chain onto the previous row")
        actor = (row.actor_user, row.actor_role, row.actor_department)
        recomputed = entry_hash(complaint_id, row.seq, row.at, row.action, actor, row.detail_digest, row.prev_hash)
        if recomputed != row.hash:
            check.problems.append(f"{where}: hash does not match its fields (changed after logging)")
        if row.redacted_at is not None:
            check.redacted += 1
        elif detail_digest(row.detail) != row.detail_digest:
            check.problems.append(f"{where}: detail changed after logging")
        previous = row.hash
    archive = await load_archive(session, complaint_id)
    if archive is not None:
        check.archived = True
        if not verify_digest(archive):
            check.problems.append("archived history: SHA-256 does not match (changed after archiving)")
        if await is_shredded(session, complaint_id):
            check.shredded = True
            return check
        state = await final_state(WorkflowHistory.from_json(complaint_id, archive.history_json), converter)
        if state is None:
            check.problems.append("archived history: no completion result")
        else:
            theirs = [(e.seq, e.hash) for e in state.log]
            ours = [(r.seq, r.hash) for r in rows]
            if theirs != ours:
                missing = sorted({s for s, _ in theirs} - {s for s, _ in ours})
                check.problems.append(
                    "log disagrees with the archived history"
                    + (f" (rows missing: {', '.join(map(str, missing))})" if missing else " (hashes differ)")
                )
    return check


async def complaint_ids(session: AsyncSession) -> list[str]:
    return list((await session.scalars(select(ComplaintLog.complaint_id).distinct().order_by("complaint_id"))).all())
