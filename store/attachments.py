"""Attachments: files kept outside workflow payloads, content-addressed, encrypted at rest with
the complaint's data key.

A file lives at ``<COMPLAINTS_ATTACHMENT_DIR>/<complaint id>/<sha256 of its content>``. The
workflow holds only an ``AttachmentRef`` (hash, name, size, sniffed type), never the bytes
(Temporal warns at 256 KB and fails at 2 MB per payload). The same file sent twice on one
complaint is stored once.

On disk: ``KNA1``, the key id (length-prefixed), a nonce and AES-GCM ciphertext, with the
complaint id, the hash and the key id as associated data (a file copied to another complaint or
renamed to another hash does not decrypt). The key is the complaint's data key
(``store.complaint_keys``); a complaint filed before data keys existed uses the active master
key, as the payload codec does. Anonymising shreds the data key, after which ``open`` refuses and
the bytes left on disk are unreadable by anyone; ``purge`` removes them too.

Limits (settings): each file at most ``attachment_max_bytes``, one message's files together at
most ``message_max_bytes``; the type is sniffed from the content (``domain.file_types``) against
the allow-list, the declared name and MIME type are never believed. Refusals carry an English
msgid and its parameters, translated by the admin's catalogue.
"""

import asyncio
import hashlib
import os
import re
import shutil
import tempfile
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from config.settings import Settings
from domain.file_types import BY_CONTENT_TYPE, TEXT, FileType, sniff
from domain.ids import is_complaint_id
from domain.models import MAX_FILES_TAKEN, AttachmentRef
from encryption.payload_codec import DATA_KEY_ID, DataKeys, parse_keys
from store.complaint_keys import ComplaintKeys

MAGIC = b"KNA1"
NONCE_BYTES = 12
NAME_MAX = 200
_SHA256 = re.compile(r"^[0-9a-f]{64}$")

TOO_BIG = "The file %(name)s is larger than %(limit)s MB."
MESSAGE_TOO_BIG = "The files of one message come to more than %(limit)s MB."
TOO_MANY = "At most %(limit)s files can be sent with one message."
NOT_ALLOWED = "The file %(name)s is not a type we accept (images, PDF, office documents, audio)."
EMPTY = "The file %(name)s is empty."
GONE = "This file is no longer available: the complaint's personal data has been erased."
MISSING = "This file is not stored here."


@dataclass
class AttachmentRefused(Exception):
    """A file not taken (too big, not an allowed type) or not given (erased, missing); ``msgid``
    and ``params`` are for the catalogue, ``str()`` is the English sentence."""

    msgid: str
    params: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.msgid % self.params


@dataclass(frozen=True)
class Opened:
    ref: AttachmentRef
    data: bytes
    file_type: FileType


def _megabytes(limit: int) -> str:
    return f"{limit / 1_048_576:g}"


def safe_name(name: str, kind: FileType) -> str:
    """The name to show and to offer on download: its last path component, no control
    characters, at most NAME_MAX characters, and ending in an extension of the sniffed type (a
    PNG sent as ``hoa-don.pdf`` is offered as ``hoa-don.pdf.png``)."""
    name = unicodedata.normalize("NFC", name).replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C").strip().strip(".") or "tep"
    if name.rsplit(".", 1)[-1].lower() not in kind.extensions or "." not in name:
        name = f"{name}.{kind.extensions[0]}"
    if len(name) > NAME_MAX:
        stem, _, ext = name.rpartition(".")
        name = f"{stem[: NAME_MAX - len(ext) - 1]}.{ext}"
    return name


def check(data: bytes, name: str, max_bytes: int) -> FileType:
    """The sniffed type of a file we take, else AttachmentRefused saying why."""
    shown = name.replace("\\", "/").rsplit("/", 1)[-1][:NAME_MAX]
    if len(data) > max_bytes:
        raise AttachmentRefused(TOO_BIG, {"name": shown, "limit": _megabytes(max_bytes)})
    if not data:
        raise AttachmentRefused(EMPTY, {"name": shown})
    kind = sniff(data)
    if kind is None:
        raise AttachmentRefused(NOT_ALLOWED, {"name": shown})
    return kind


class AttachmentStore:
    def __init__(
        self, root: Path, keys: DataKeys, keks: dict[str, bytes], max_bytes: int, message_max_bytes: int
    ) -> None:
        self.root, self.keys, self.keks = root, keys, keks
        self.active = next(iter(keks))
        self.max_bytes, self.message_max_bytes = max_bytes, message_max_bytes

    @classmethod
    def of(cls, settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> "AttachmentStore":
        keks = parse_keys(settings.effective_payload_keys())
        return cls(settings.effective_attachment_dir, ComplaintKeys(sessions, keks), keks,
                   settings.attachment_max_bytes, settings.message_max_bytes)  # fmt: skip

    def _path(self, complaint_id: str, sha256: str) -> Path:
        # Both parts are checked: neither can climb out of the folder.
        if not is_complaint_id(complaint_id) or not _SHA256.match(sha256):
            raise AttachmentRefused(MISSING)
        return self.root / complaint_id / sha256

    async def _key(self, complaint_id: str, kid: str | None = None) -> tuple[str, bytes]:
        """The key id and key that encrypt (``kid`` None) or decrypt this complaint's files."""
        if kid is not None and kid != DATA_KEY_ID:
            kek = self.keks.get(kid)
            found = await self.keys.lookup(complaint_id)
            if kek is None or (found is not None and found.shredded):
                raise AttachmentRefused(GONE)
            return kid, kek
        found = await self.keys.lookup(complaint_id)
        if found is None:
            if kid == DATA_KEY_ID:
                raise AttachmentRefused(GONE)
            return self.active, self.keks[self.active]  # filed before data keys existed
        if found.key is None:
            raise AttachmentRefused(GONE)
        return DATA_KEY_ID, found.key

    async def save(self, complaint_id: str, data: bytes, name: str) -> AttachmentRef:
        """Check, encrypt and store one file; the reference the workflow keeps."""
        return await self._store(complaint_id, data, name, check(data, name, self.max_bytes))

    async def save_text(self, complaint_id: str, text: str, name: str) -> AttachmentRef:
        """Store a text we wrote ourselves (a customer's full message, intake.long_text) as UTF-8
        ``text/plain``: not an upload, so neither sniffed nor held to the per-file limit (the
        mail or request it came in was already held to its own)."""
        return await self._store(complaint_id, text.encode(), name, TEXT)

    async def _store(self, complaint_id: str, data: bytes, name: str, kind: FileType) -> AttachmentRef:
        sha256 = hashlib.sha256(data).hexdigest()
        path = self._path(complaint_id, sha256)
        kid, key = await self._key(complaint_id)
        ref = AttachmentRef(sha256=sha256, name=safe_name(name, kind), content_type=kind.content_type, size=len(data))
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(key).encrypt(nonce, data, _aad(complaint_id, sha256, kid))
        encoded_kid = kid.encode()
        await asyncio.to_thread(_write, path, MAGIC + bytes([len(encoded_kid)]) + encoded_kid + nonce + sealed)
        return ref

    def check_all(self, files: Sequence[tuple[str, bytes]]) -> None:
        """One message's files (name, bytes) checked together, before a complaint exists to keep them."""
        if len(files) > MAX_FILES_TAKEN:
            raise AttachmentRefused(TOO_MANY, {"limit": MAX_FILES_TAKEN})
        if sum(len(data) for _, data in files) > self.message_max_bytes:
            raise AttachmentRefused(MESSAGE_TOO_BIG, {"limit": _megabytes(self.message_max_bytes)})
        for name, data in files:
            check(data, name, self.max_bytes)

    async def save_all(self, complaint_id: str, files: Sequence[tuple[str, bytes]]) -> list[AttachmentRef]:
        """One message's files (name, bytes): all of them are checked before any is stored."""
        self.check_all(files)
        return [await self.save(complaint_id, data, name) for name, data in files]

    async def open(self, complaint_id: str, ref: AttachmentRef) -> Opened:
        """The file's bytes, for staff (the caller checks their scope first)."""
        path = self._path(complaint_id, ref.sha256)
        try:
            raw = await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            raise AttachmentRefused(MISSING) from None
        if not raw.startswith(MAGIC):
            raise AttachmentRefused(MISSING)
        kid_len = raw[len(MAGIC)]
        start = len(MAGIC) + 1
        kid = raw[start : start + kid_len].decode()
        nonce = raw[start + kid_len : start + kid_len + NONCE_BYTES]
        _, key = await self._key(complaint_id, kid)
        try:
            data = AESGCM(key).decrypt(nonce, raw[start + kid_len + NONCE_BYTES :], _aad(complaint_id, ref.sha256, kid))
        except InvalidTag:
            raise AttachmentRefused(MISSING) from None
        # Re-sniffed, not taken from the ref: what is served is what the bytes are. Our own text
        # files are served as text only while they are UTF-8 text.
        kind = (TEXT if _utf8(data) else None) if ref.content_type == TEXT.content_type else sniff(data)
        if kind is None or hashlib.sha256(data).hexdigest() != ref.sha256:
            raise AttachmentRefused(MISSING)
        return Opened(ref, data, kind if kind is TEXT else BY_CONTENT_TYPE[kind.content_type])

    def purge(self, complaint_id: str) -> int:
        return purge(self.root, complaint_id)


def purge(root: Path, complaint_id: str) -> int:
    """Remove a complaint's files (after anonymising: the shredded key already made them
    unreadable; this leaves not even their hashes). How many there were."""
    if not is_complaint_id(complaint_id):
        return 0
    folder = root / complaint_id
    if not folder.is_dir():
        return 0
    count = sum(1 for p in folder.iterdir() if not p.name.startswith("."))
    shutil.rmtree(folder)
    return count


def _aad(complaint_id: str, sha256: str, kid: str) -> bytes:
    return f"attachment|{complaint_id}|{sha256}|{kid}".encode()


def _utf8(data: bytes) -> bool:
    try:
        data.decode()
    except UnicodeDecodeError:
        return False
    return True


def _write(path: Path, blob: bytes) -> None:
    try:
        # Content-addressed: the same file is already here. Touched, so that a file the sweep
        # (ops.attachment_sweep) found unreferenced and old is young again now that a new
        # message is about to reference it.
        os.utime(path)
        return
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written beside and renamed: a reader never sees half a file, a crash leaves only a temp file.
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(blob)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
