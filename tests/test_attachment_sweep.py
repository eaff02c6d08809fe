"""The attachment sweep (ops.attachment_sweep) against both real databases, SQLite and
PostgreSQL (the ``db`` fixture of tests/test_store.py), with files written by the real store:
an unreferenced file older than the grace is removed; an unreferenced young file, a referenced
old file, and an old file saved again (about to be referenced) are kept. And, on a real dev
server, a file the workflow references but the projection does not show yet is kept."""

import asyncio
import os
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError
from temporalio.testing import WorkflowEnvironment

from config.settings import Settings
from domain.ids import complaint_id_for
from domain.lifecycle import apply_decision
from domain.models import SYSTEM_ACTOR, CustomerMessage
from domain.vocabulary import Channel
from intake.customer_messages import add_customer_message
from intake.filing import file_complaint
from ops.attachment_sweep import sweep_attachments
from store.attachments import AttachmentStore
from store.complaint_keys import ComplaintKeys
from store.engine import transaction
from store.tables import Complaint
from tests.conftest import Sessions
from tests.journey import intake, running_worker
from tests.test_attachments import PDF_BYTES, PNG_BYTES
from tests.test_store import POLICY, T0, Db, db, project, started  # noqa: F401

GRACE = timedelta(hours=24)
DAY = 24 * 3600


def files_store(root: Path, db: Db) -> AttachmentStore:  # noqa: F811
    keks = {"k1": os.urandom(32)}
    return AttachmentStore(root, ComplaintKeys(db.sessions, keks), keks, 10 * 1024 * 1024, 25 * 1024 * 1024)


def age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


async def test_only_old_files_no_message_references_are_removed(db: Db, tmp_path: Path) -> None:  # noqa: F811
    root = tmp_path / "attachments"
    store = files_store(root, db)
    cid, missing = complaint_id_for(f"test:{uuid.uuid4()}"), complaint_id_for(f"test:{uuid.uuid4()}")
    kept_ref = await store.save(cid, PDF_BYTES, "thu.pdf")
    # The complaint's row references the PDF: a customer message that carries it.
    state = apply_decision(
        started(cid),
        "customer_message",
        CustomerMessage(actor=SYSTEM_ACTOR, text="Thư của khách", via=Channel.POST, attachments=[kept_ref]),
        T0,
        POLICY,
    )
    await project(db, state)
    # A staff message the workflow refused: its file stays with nothing referencing it.
    refused = await store.save(cid, PNG_BYTES, "anh.png")
    # A reply to a complaint that turned out missing: a folder with no row at all.
    stray = await store.save(missing, PDF_BYTES, "thu.pdf")
    # A write cut short.
    temp = root / cid / ".tmp-abc123"
    temp.write_bytes(b"half a file")
    # Fresh: a request whose decision is still on its way.
    fresh = await store.save(cid, b"%PDF-1.4 fresh" + bytes(32), "moi.pdf")
    # Old and unreferenced, then the same content saved again for a new message: young again.
    again = await store.save(cid, b"%PDF-1.4 again" + bytes(32), "lai.pdf")

    for path in (root / cid / kept_ref.sha256, root / cid / refused.sha256, root / missing / stray.sha256, temp,
                 root / cid / again.sha256):  # fmt: skip
        age(path, 2 * DAY)
    assert await store.save(cid, b"%PDF-1.4 again" + bytes(32), "lai.pdf") == again

    swept = await sweep_attachments(root, db.sessions, GRACE)

    assert (swept.files, swept.removed, swept.referenced, swept.young) == (6, 3, 1, 2), swept
    assert not (root / cid / refused.sha256).exists()
    assert not (root / missing / stray.sha256).exists()
    assert not temp.exists()
    assert (await store.open(cid, kept_ref)).data == PDF_BYTES, "the referenced file is kept and still opens"
    assert (root / cid / fresh.sha256).exists()
    assert (root / cid / again.sha256).exists()
    assert sorted(p.name for p in (root / cid).iterdir()) == sorted([kept_ref.sha256, fresh.sha256, again.sha256])

    # A second pass (another worker replica) finds nothing more to do.
    assert (await sweep_attachments(root, db.sessions, GRACE)).removed == 0


async def test_a_file_the_workflow_references_before_the_projection_shows_it_is_kept(
    dev_env: WorkflowEnvironment, settings: Settings, sessions: Sessions
) -> None:
    root = settings.effective_attachment_dir
    client = dev_env.client
    async with running_worker(client, settings, sessions):
        cid = (await file_complaint(client, settings, intake())).complaint_id
        store = AttachmentStore.of(settings, sessions)
        [ref] = await store.save_all(cid, [("thu.pdf", PDF_BYTES)])
        await add_customer_message(client, cid, "Thư gửi qua bưu điện", Channel.POST,
                                   message_id=f"<{uuid.uuid4()}@x>", attachments=[ref])  # fmt: skip
        for _ in range(300):  # until projected with the message
            async with sessions() as session:
                row = await session.get(Complaint, cid)
                if row is not None and row.state.get("messages"):
                    break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("never projected")
        # The projection lags (say a store step retrying): the row does not show the message yet.
        async with transaction(sessions) as session:
            row = await session.get(Complaint, cid)
            assert row is not None
            row.state = {**row.state, "messages": []}
        age(root / cid / ref.sha256, 2 * DAY)

        swept = await sweep_attachments(root, sessions, GRACE, client=client)
        assert (root / cid / ref.sha256).exists(), "the workflow's state references it"
        assert (swept.removed, swept.referenced) == (0, 1), swept
        assert (await store.open(cid, ref)).data == PDF_BYTES
        # The workflow's answer is what kept it: from the lagging row alone it would have gone.
        assert (await sweep_attachments(root, sessions, GRACE)).removed == 1


def test_the_grace_cannot_be_set_below_an_hour() -> None:
    """A grace of seconds would let a worker remove a file that a request in flight is about to
    reference (the file is written before the decision that carries it)."""
    with pytest.raises(ValidationError, match="attachment_sweep_grace"):
        Settings(attachment_sweep_grace=timedelta(seconds=30))
    assert Settings(attachment_sweep_grace=timedelta(hours=1)).attachment_sweep_grace == timedelta(hours=1)
