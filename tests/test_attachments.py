"""Issue 14 §2: attachments stored outside payloads, content-addressed, sniffed against an
allow-list, size-limited, encrypted at rest with the complaint's data key, gone with erasure.

Real SQLite store (complaint_keys), real files on disk, real zip archives for office documents.
"""

import hashlib
import io
import uuid
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from admin import i18n
from config.settings import Settings
from domain.file_types import DOCX, JPEG, MP3, ODT, PDF, PNG, XLSX, sniff
from domain.ids import complaint_id_for
from store import attachments
from store.attachments import AttachmentRefused, AttachmentStore
from store.complaint_keys import shred
from store.engine import transaction

Sessions = async_sessionmaker[AsyncSession]

PNG_BYTES = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(200))
PDF_BYTES = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"
EXE_BYTES = b"MZ\x90\x00\x03\x00\x00\x00" + bytes(300)  # a Windows PE header
ELF_BYTES = b"\x7fELF\x02\x01\x01" + bytes(300)


def zipped(entries: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return out.getvalue()


def store_of(settings: Settings, sessions: Sessions, **limits: int) -> AttachmentStore:
    return AttachmentStore.of(settings.model_copy(update=limits), sessions)


async def new_complaint(store: AttachmentStore) -> str:
    complaint_id = complaint_id_for(f"attachments-{uuid.uuid4()}")
    assert await store.keys.create(complaint_id)
    return complaint_id


# --- sniffing --------------------------------------------------------------------------------


def test_types_are_sniffed_from_content_and_office_zips_from_their_entries() -> None:
    assert sniff(PNG_BYTES) is PNG and sniff(PDF_BYTES) is PDF and sniff(b"\xff\xd8\xff\xe0JFIF") is JPEG
    assert sniff(b"ID3\x04\x00" + bytes(20)) is MP3
    assert sniff(zipped({"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w/>"})) is DOCX
    assert sniff(zipped({"[Content_Types].xml": b"<Types/>", "xl/workbook.xml": b"<x/>"})) is XLSX
    assert sniff(zipped({"mimetype": ODT.content_type.encode(), "content.xml": b"<o/>"})) is ODT
    # Not on the list: executables, a plain zip, text, HTML, SVG (script), a zip claiming a docx name.
    for data in (EXE_BYTES, ELF_BYTES, zipped({"a.txt": b"x"}), b"hello", b"<html><script>", b"<svg onload=x>"):
        assert sniff(data) is None


async def test_the_declared_name_is_never_believed(settings: Settings, sessions: Sessions) -> None:
    store = store_of(settings, sessions)
    complaint_id = await new_complaint(store)
    ref = await store.save(complaint_id, PNG_BYTES, "hoa-don.pdf")
    # A PNG named .pdf is a PNG, and offered with a PNG extension.
    assert (ref.content_type, ref.name, ref.size) == ("image/png", "hoa-don.pdf.png", len(PNG_BYTES))
    for bytes_, name in ((EXE_BYTES, "anh.jpg"), (ELF_BYTES, "scan.pdf"), (b"<svg onload=alert(1)>", "x.png")):
        with pytest.raises(AttachmentRefused) as refused:
            await store.save(complaint_id, bytes_, name)
        assert refused.value.msgid == attachments.NOT_ALLOWED and refused.value.params["name"] == name
    assert sorted(p.name for p in (store.root / complaint_id).iterdir()) == [ref.sha256]


async def test_a_path_in_the_name_is_dropped(settings: Settings, sessions: Sessions) -> None:
    store = store_of(settings, sessions)
    complaint_id = await new_complaint(store)
    ref = await store.save(complaint_id, PDF_BYTES, "../../etc/passwd\x00.pdf")
    assert ref.name == "passwd.pdf"
    assert (store.root / complaint_id / ref.sha256).is_file()


# --- limits ----------------------------------------------------------------------------------


def test_the_default_limits_are_the_designs() -> None:
    defaults = Settings()
    assert (defaults.attachment_max_bytes, defaults.message_max_bytes) == (10 * 1024 * 1024, 25 * 1024 * 1024)


async def test_a_file_over_the_limit_is_refused_with_a_reason_in_both_languages(
    settings: Settings, sessions: Sessions
) -> None:
    store = store_of(settings, sessions, attachment_max_bytes=1_048_576)
    complaint_id = await new_complaint(store)
    exact = PDF_BYTES + b" " * (1_048_576 - len(PDF_BYTES))
    assert (await store.save(complaint_id, exact, "ok.pdf")).size == 1_048_576
    with pytest.raises(AttachmentRefused) as refused:
        await store.save(complaint_id, exact + b" ", "to.pdf")
    assert str(refused.value) == "The file to.pdf is larger than 1 MB."
    vi = i18n.gettext("vi", refused.value.msgid, **refused.value.params)
    assert vi != str(refused.value) and "to.pdf" in vi and "1 MB" in vi


async def test_one_messages_files_together_are_limited_and_none_stored_when_refused(
    settings: Settings, sessions: Sessions
) -> None:
    store = store_of(settings, sessions, attachment_max_bytes=1000, message_max_bytes=1700)
    complaint_id = await new_complaint(store)
    half = PDF_BYTES + b" " * (800 - len(PDF_BYTES))
    with pytest.raises(AttachmentRefused) as refused:
        await store.save_all(complaint_id, [("a.pdf", half), ("b.pdf", half + b"x"), ("c.pdf", half + b"y")])
    assert refused.value.msgid == attachments.MESSAGE_TOO_BIG
    with pytest.raises(AttachmentRefused) as refused:  # the second is not allowed: the first is not kept
        await store.save_all(complaint_id, [("a.pdf", half), ("b.jpg", EXE_BYTES[:500])])
    assert refused.value.msgid == attachments.NOT_ALLOWED
    assert not (store.root / complaint_id).exists()
    refs = await store.save_all(complaint_id, [("a.pdf", half), ("a-again.pdf", half)])
    assert refs[0].sha256 == refs[1].sha256 == hashlib.sha256(half).hexdigest()  # stored once
    assert len(list((store.root / complaint_id).iterdir())) == 1


# --- encryption at rest and erasure ----------------------------------------------------------


async def test_files_are_encrypted_at_rest_and_bound_to_their_complaint(settings: Settings, sessions: Sessions) -> None:
    store = store_of(settings, sessions)
    complaint_id, other = await new_complaint(store), await new_complaint(store)
    ref = await store.save(complaint_id, PNG_BYTES, "anh.png")
    on_disk = (store.root / complaint_id / ref.sha256).read_bytes()
    assert PNG_BYTES not in on_disk and PNG_BYTES[:16] not in on_disk and bytes(range(40, 80)) not in on_disk
    opened = await store.open(complaint_id, ref)
    assert opened.data == PNG_BYTES and opened.file_type is PNG
    # The same ciphertext copied under another complaint does not open there.
    (store.root / other).mkdir()
    (store.root / other / ref.sha256).write_bytes(on_disk)
    with pytest.raises(AttachmentRefused):
        await store.open(other, ref)


async def test_anonymising_shreds_the_key_so_the_files_no_longer_open(settings: Settings, sessions: Sessions) -> None:
    store = store_of(settings, sessions)
    complaint_id = await new_complaint(store)
    ref = await store.save(complaint_id, PDF_BYTES, "thu.pdf")
    path = store.root / complaint_id / ref.sha256
    async with transaction(sessions) as session:
        assert await shred(session, complaint_id, datetime.now(UTC))
    store.keys.forget(complaint_id)  # the shredding process forgets at once (others within the TTL)
    for fresh in (store, store_of(settings, sessions)):
        with pytest.raises(AttachmentRefused) as refused:
            await fresh.open(complaint_id, ref)
        assert refused.value.msgid == attachments.GONE
        with pytest.raises(AttachmentRefused):
            await fresh.save(complaint_id, PNG_BYTES, "more.png")
    assert path.is_file()  # still there, unreadable; purge removes it
    assert store.purge(complaint_id) == 1 and not path.parent.exists()


async def test_a_complaint_filed_before_data_keys_uses_the_master_key_until_erased(
    settings: Settings, sessions: Sessions
) -> None:
    store = store_of(settings, sessions)
    complaint_id = complaint_id_for(f"legacy-{uuid.uuid4()}")  # no data key row
    ref = await store.save(complaint_id, PDF_BYTES, "cu.pdf")
    assert PDF_BYTES not in (store.root / complaint_id / ref.sha256).read_bytes()
    assert (await store.open(complaint_id, ref)).data == PDF_BYTES
    async with transaction(sessions) as session:
        await shred(session, complaint_id, datetime.now(UTC))
    store.keys.forget(complaint_id)
    with pytest.raises(AttachmentRefused) as refused:
        await store.open(complaint_id, ref)
    assert refused.value.msgid == attachments.GONE


def test_the_folder_is_a_setting(tmp_path: Path) -> None:
    assert Settings(data_dir=tmp_path).effective_attachment_dir == tmp_path / "attachments"
    assert Settings(attachment_dir=tmp_path / "x").effective_attachment_dir == tmp_path / "x"
