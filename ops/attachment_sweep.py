"""Removes attachment files that no message references (issue 14).

A file is written before the decision that references it is sent, so some stay behind with
nothing pointing at them: a staff message the workflow then refuses, a mail reply to a complaint
that turns out missing or ended (its files and full text were stored under that id before the
mail was filed anew), a public-form or status-page message whose update failed, a crash between
the write and the decision, or a write cut short (a ``.tmp-`` file). They are encrypted, but they
are still personal data kept for no purpose.

A file goes only when all of these hold:

- it is older than ``attachment_sweep_grace`` (default 24 h): a request whose decision is still
  on its way is never touched. ``store.attachments`` touches an existing file when the same
  content is saved again, so a file about to be referenced again is young again;
- the complaint's row in the store (its projected state) does not reference it;
- when a Temporal client is given, the workflow's own state does not either (the projection may
  lag behind the workflow); if the workflow cannot be asked, the complaint's files are kept. An
  anonymised complaint's row is final: its files are meant to be gone (erasure removes its
  folder; this catches a removal that did not happen).

Before deleting, the file is renamed aside and its time looked at again, so a save that touched
it in between wins (the rename is atomic; a save after it writes the file anew).

Logs counts only: no complaint id, name or hash of a customer's file.
"""

import asyncio
import logging
import os
import re
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from domain.ids import is_complaint_id
from domain.models import ComplaintState
from store.tables import Complaint

log = logging.getLogger("attachment_sweep")

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
TEMP_PREFIX = ".tmp-"  # store.attachments writes beside and renames
ASIDE_PREFIX = ".sweep-"
QUERY_TIMEOUT = 10.0


@dataclass
class AttachmentSweep:
    files: int = 0  # files looked at
    referenced: int = 0
    young: int = 0  # unreferenced, or not looked up, but within the grace
    kept_unsure: int = 0  # the workflow could not be asked: kept
    removed: int = 0


@dataclass(frozen=True)
class _Old:
    path: Path
    mtime: float


def _scan(folder: Path, cutoff: float) -> tuple[int, list[_Old]]:
    """The files of one complaint's folder: how many are young, and the old ones."""
    young, old = 0, []
    for entry in os.scandir(folder):
        if not entry.is_file(follow_symlinks=False):
            continue
        name = entry.name
        if not (_SHA256.match(name) or name.startswith((TEMP_PREFIX, ASIDE_PREFIX))):
            continue
        mtime = entry.stat(follow_symlinks=False).st_mtime
        if mtime >= cutoff:
            young += 1
        else:
            old.append(_Old(Path(entry.path), mtime))
    return young, old


def _folders(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    return sorted(Path(e.path) for e in os.scandir(root) if e.is_dir(follow_symlinks=False) and is_complaint_id(e.name))


def _hashes(state: ComplaintState) -> set[str]:
    return {a.sha256 for m in state.messages for a in m.attachments}


async def _row_references(sessions: async_sessionmaker[AsyncSession], complaint_id: str) -> tuple[set[str], bool]:
    """The hashes the complaint's row references, and whether it was anonymised (its files are
    unreadable and meant to be gone, whatever the workflow's history still names)."""
    async with sessions() as session:
        found = (
            await session.execute(select(Complaint.state, Complaint.anonymised_at).where(Complaint.id == complaint_id))
        ).first()
    if found is None:
        return set(), False
    document, anonymised_at = found
    return _referenced(document), anonymised_at is not None


def _referenced(document: object) -> set[str]:
    if not document:
        return set()
    messages = document.get("messages") if isinstance(document, dict) else None
    if not isinstance(messages, list):
        return set()
    return {
        str(a["sha256"])
        for m in messages
        if isinstance(m, dict)
        for a in m.get("attachments") or []
        if isinstance(a, dict) and "sha256" in a
    }


async def _workflow_references(client: Client, complaint_id: str) -> set[str] | None:
    """The hashes the workflow's state references; empty if there is no such workflow (never
    filed, or past Temporal's retention: then the row is the record); None if unknown."""
    handle = client.get_workflow_handle(complaint_id)
    try:
        state = await asyncio.wait_for(handle.query("state", result_type=ComplaintState), QUERY_TIMEOUT)
    except RPCError as exc:
        return set() if exc.status is RPCStatusCode.NOT_FOUND else None
    except Exception:  # a query failed for another reason (no worker, timeout, an old state): keep
        return None
    return _hashes(state)


def _hash_of(path: Path) -> str:
    """The content hash a file is stored under ('' for a temporary file)."""
    name = path.name.removeprefix(ASIDE_PREFIX)
    return name if _SHA256.match(name) else ""


def _put_back(path: Path) -> None:
    """A referenced file left aside by a sweep that stopped half-way goes back to its name."""
    if path.name.startswith(ASIDE_PREFIX):
        original = path.with_name(_hash_of(path))
        if original.exists():
            path.unlink(missing_ok=True)  # the same content was saved again meanwhile
        else:
            os.replace(path, original)


def _remove(old: _Old, cutoff: float) -> bool:
    """Delete an old file unless a save touched it meanwhile (renamed aside first: atomic)."""
    aside = old.path.with_name(f"{ASIDE_PREFIX}{old.path.name}")
    if old.path.name.startswith((TEMP_PREFIX, ASIDE_PREFIX)):
        aside = old.path
    else:
        try:
            os.rename(old.path, aside)
        except FileNotFoundError:
            return False  # another sweeper (another worker) took it
    try:
        if aside.stat().st_mtime >= cutoff:  # touched by a save just before the rename: put back
            if aside != old.path:
                os.replace(aside, old.path)
            return False
        aside.unlink()
    except FileNotFoundError:
        return False
    return True


async def sweep_attachments(
    root: Path,
    sessions: async_sessionmaker[AsyncSession],
    grace: timedelta,
    *,
    client: Client | None = None,
    now: float | None = None,
) -> AttachmentSweep:
    """One pass over ``root`` (COMPLAINTS_ATTACHMENT_DIR); what it found and removed."""
    cutoff = (time.time() if now is None else now) - grace.total_seconds()
    result = AttachmentSweep()
    for folder in await asyncio.to_thread(_folders, root):
        young, old = await asyncio.to_thread(_scan, folder, cutoff)
        result.files += young + len(old)
        result.young += young
        if not old:
            continue
        complaint_id = folder.name
        referenced, anonymised = await _row_references(sessions, complaint_id)
        candidates = [f for f in old if _hash_of(f.path) not in referenced]
        if client is not None and not anonymised and any(_hash_of(f.path) for f in candidates):
            in_workflow = await _workflow_references(client, complaint_id)
            if in_workflow is None:
                result.kept_unsure += len(candidates)
                result.referenced += len(old) - len(candidates)
                continue
            candidates = [f for f in candidates if _hash_of(f.path) not in in_workflow]
        for found in old:
            if found not in candidates:
                result.referenced += 1
                await asyncio.to_thread(_put_back, found.path)
        for candidate in candidates:
            if await asyncio.to_thread(_remove, candidate, cutoff):
                result.removed += 1
            else:
                result.young += 1
    if result.removed or result.kept_unsure:
        log.info(
            "Attachment sweep: %d files, %d referenced, %d young, %d kept (workflow not readable), %d removed",
            result.files, result.referenced, result.young, result.kept_unsure, result.removed,
        )  # fmt: skip
    return result
