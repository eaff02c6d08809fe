"""AES-GCM payload codec: no personal data sits in clear in Temporal's history, and a payload
only counts inside the complaint it was written for.

Envelope encryption. Each complaint has its own data key (``store.complaint_keys``), wrapped by
a master key (COMPLAINTS_PAYLOAD_KEYS, ``id=base64key,...``; the first one wraps). The SDK gives
the codec the workflow id (``WithSerializationContext``), so a payload is encrypted under its
complaint's data key with the complaint id as associated data: ``binary/encrypted-scoped``, with
the key id and the scope (complaint id) in clear in its metadata so that the admin's codec
endpoint knows which key and whose scope. Workflows that are not complaints use the master key,
with their workflow id as the scope.

Decoding in a workflow's context, a payload that is not ours (plain JSON typed into the CLI or
the UI, ciphertext copied from another complaint) is not raised on, since raising would fail the
workflow task and stick the complaint. It is replaced by a ``binary/refused`` payload that no
converter reads, so the SDK rejects the update before accepting it (no history event) and drops
the signal with a warning.

Formats that still decode: ``binary/encrypted`` (before this codec: master key, key id as the
only associated data), for complaints filed before data keys existed, whose histories must
replay. Plain payloads pass only through a codec without the store (tests replaying recorded
histories); a worker with the store refuses them. docs/security.md lists what that leaves.
"""

import base64
import binascii
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, Self

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec, SerializationContext, WithSerializationContext

from domain.ids import is_complaint_id

log = logging.getLogger("encryption.codec")
ENCODING = b"binary/encrypted"  # legacy: master key, AAD = key id
SCOPED = b"binary/encrypted-scoped"  # data key (or master key), AAD = scope + key id
REFUSED = b"binary/refused"
KEY_ID = "encryption-key-id"
SCOPE = "encryption-scope"
REFUSAL = "refused-because"
DATA_KEY_ID = "complaint"  # the key id of a payload under its complaint's data key
NONCE_BYTES = 12
ARCHIVE_SUFFIX = ".archive"


class PayloadKeyError(ValueError):
    """A malformed key list, or a payload that cannot be decrypted here."""


@dataclass(frozen=True)
class DataKey:
    """A complaint's data key as the store holds it; ``key`` is None once shredded."""

    key: bytes | None

    @property
    def shredded(self) -> bool:
        return self.key is None


class DataKeys(Protocol):
    """Where complaints' data keys live (``store.complaint_keys.ComplaintKeys``)."""

    async def lookup(self, complaint_id: str) -> DataKey | None: ...

    async def create(self, complaint_id: str) -> bool: ...

    async def discard(self, complaint_id: str) -> None: ...

    def forget(self, complaint_id: str) -> None: ...


def parse_keys(spec: str) -> dict[str, bytes]:
    """``id=base64key[,id=base64key...]``: the first key encrypts; all of them decrypt."""
    keys: dict[str, bytes] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        kid, sep, encoded = item.partition("=")
        if not sep or not kid.strip():
            raise PayloadKeyError("payload keys look like id=base64key[,id=base64key...]")
        try:
            key = base64.b64decode(encoded.strip() + "=" * (-len(encoded.strip()) % 4), validate=True)
        except binascii.Error as exc:
            raise PayloadKeyError(f"payload key {kid!r} is not base64") from exc
        if len(key) not in (16, 24, 32):
            raise PayloadKeyError(f"payload key {kid!r} must be 16, 24 or 32 bytes (AES), not {len(key)}")
        if kid.strip() == DATA_KEY_ID:
            raise PayloadKeyError(f"{DATA_KEY_ID!r} is reserved for complaints' data keys")
        keys[kid.strip()] = key
    if not keys:
        raise PayloadKeyError("no payload key given")
    return keys


def new_key_spec(kid: str) -> str:
    return f"{kid}={base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()}"


def scope_of(workflow_id: str) -> str:
    """The complaint a workflow belongs to (its archive child maps to it), else its own id."""
    base = workflow_id.removesuffix(ARCHIVE_SUFFIX)
    return base if is_complaint_id(base) else workflow_id


def _wrap_aad(complaint_id: str, kek_id: str) -> bytes:
    return f"complaint-key|{complaint_id}|{kek_id}".encode()


def wrap_key(kek: bytes, kek_id: str, complaint_id: str, data_key: bytes) -> bytes:
    """AES-GCM under the master key, bound to the complaint (a row moved to another fails)."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(kek).encrypt(nonce, data_key, _wrap_aad(complaint_id, kek_id))


def unwrap_key(kek: bytes, kek_id: str, complaint_id: str, wrapped: bytes) -> bytes:
    try:
        return AESGCM(kek).decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], _wrap_aad(complaint_id, kek_id))
    except (InvalidTag, ValueError) as exc:
        raise PayloadKeyError(f"the data key of {complaint_id} does not unwrap under master key {kek_id!r}") from exc


def _aad(scope: str, kid: str) -> bytes:
    return f"scoped|{scope}|{kid}".encode()


class Refused(PayloadKeyError):
    """Not ours, or not for this workflow: refused in a workflow's context, raised elsewhere."""


class EncryptionCodec(PayloadCodec, WithSerializationContext):
    def __init__(self, keys: dict[str, bytes], data_keys: DataKeys | None = None, scope: str | None = None) -> None:
        if not keys:
            raise PayloadKeyError("no payload key given")
        self.keys = keys
        self.active = next(iter(keys))
        self.data_keys = data_keys
        # The workflow this codec instance works for (None: no context, e.g. the codec endpoint)
        self.scope = scope
        self._ciphers = {kid: AESGCM(key) for kid, key in keys.items()}

    def with_context(self, context: SerializationContext) -> Self:
        workflow_id = getattr(context, "workflow_id", None)
        if not workflow_id:
            return self
        return self._scoped(scope_of(workflow_id))

    def _scoped(self, scope: str) -> Self:
        clone = type(self).__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone.scope = scope
        return clone

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [await self.encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out: list[Payload] = []
        for payload in payloads:
            try:
                out.append(await self.decrypt(payload))
            except Refused as refused:
                if self.scope is None:
                    raise
                # Ids and reasons only (no payload content): who tried is for Temporal's own logs.
                log.warning("Payload refused for %s: %s", self.scope, refused)
                out.append(Payload(metadata={"encoding": REFUSED, REFUSAL: str(refused).encode()}))
        return out

    async def _data_key(self, scope: str) -> DataKey | None:
        if self.data_keys is None or not is_complaint_id(scope):
            return None
        return await self.data_keys.lookup(scope)

    async def encrypt(self, payload: Payload) -> Payload:
        if self.scope is None:
            return self.encrypt_legacy(payload)
        data_key = await self._data_key(self.scope)
        if data_key is not None and data_key.key is None:
            raise PayloadKeyError(f"{self.scope}'s data key is shredded: nothing more is written for it")
        kid = DATA_KEY_ID if data_key is not None else self.active
        cipher = AESGCM(data_key.key) if data_key is not None and data_key.key else self._ciphers[self.active]
        nonce = os.urandom(NONCE_BYTES)
        data = nonce + cipher.encrypt(nonce, payload.SerializeToString(), _aad(self.scope, kid))
        return Payload(metadata={"encoding": SCOPED, KEY_ID: kid.encode(), SCOPE: self.scope.encode()}, data=data)

    def encrypt_legacy(self, payload: Payload) -> Payload:
        """Without a workflow to bind to (no context): the master key, key id as associated data."""
        nonce = os.urandom(NONCE_BYTES)
        kid = self.active.encode()
        data = nonce + self._ciphers[self.active].encrypt(nonce, payload.SerializeToString(), kid)
        return Payload(metadata={"encoding": ENCODING, KEY_ID: kid}, data=data)

    async def decrypt(self, payload: Payload) -> Payload:
        encoding = payload.metadata.get("encoding")
        if encoding == SCOPED:
            return await self._decrypt_scoped(payload)
        data_key = await self._data_key(self.scope) if self.scope is not None else None
        if data_key is not None:
            # Filed with a data key: everything written for it is scoped, so this was not.
            raise Refused(f"a {_text(encoding)} payload is not accepted for {self.scope}")
        if encoding == ENCODING:
            return self._decrypt_legacy(payload)
        if self.scope is not None and self.data_keys is not None and encoding != REFUSED:
            # A worker with the store refuses plain payloads: we write none since encryption
            # (0c8fbc7); the codec without a store (tests replaying recorded plain histories) lets them by.
            raise Refused(f"a {_text(encoding)} payload was not written by the product")
        return payload

    async def _decrypt_scoped(self, payload: Payload) -> Payload:
        kid = _text(payload.metadata.get(KEY_ID, b""))
        scope = _text(payload.metadata.get(SCOPE, b""))
        if self.scope is not None and scope != self.scope:
            raise Refused(f"a payload written for {scope} is not accepted for {self.scope}")
        if kid == DATA_KEY_ID:
            data_key = await self._data_key(scope)
            if data_key is None:
                raise Refused(f"no data key for {scope}")
            if data_key.key is None:
                raise Refused(f"{scope}'s data key was shredded (its personal data erased)")
            cipher = AESGCM(data_key.key)
        else:
            found = self._ciphers.get(kid)
            if found is None:
                raise Refused(f"payload encrypted with key {kid!r}, which is not configured")
            data_key = await self._data_key(scope)
            if data_key is not None and data_key.key is None:
                raise Refused(f"{scope}'s data key was shredded (its personal data erased)")
            cipher = found
        return Payload.FromString(self._open(cipher, payload.data, _aad(scope, kid), kid))

    def _decrypt_legacy(self, payload: Payload) -> Payload:
        kid = _text(payload.metadata.get(KEY_ID, b""))
        cipher = self._ciphers.get(kid)
        if cipher is None:
            raise Refused(f"payload encrypted with key {kid!r}, which is not configured")
        return Payload.FromString(self._open(cipher, payload.data, kid.encode(), kid))

    @staticmethod
    def _open(cipher: AESGCM, data: bytes, aad: bytes, kid: str) -> bytes:
        if len(data) < NONCE_BYTES + 16:
            raise Refused("payload too short to be ours")
        try:
            return cipher.decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], aad)
        except InvalidTag as exc:
            raise Refused(f"payload under key {kid!r} failed authentication (tampered, moved or wrong key)") from exc


def _text(value: bytes | None) -> str:
    """Metadata as text; bytes that are not UTF-8 are not ours (refused, never a crash)."""
    try:
        return (value or b"").decode()
    except UnicodeDecodeError as exc:
        raise Refused("payload metadata is not UTF-8") from exc


def data_keys_of(codec: PayloadCodec | None) -> DataKeys | None:
    """The data keys behind a client's codec (None: a codec without the store)."""
    return codec.data_keys if isinstance(codec, EncryptionCodec) else None
