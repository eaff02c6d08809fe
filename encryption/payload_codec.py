"""AES-GCM payload codec: no personal data sits in clear in Temporal's history.

Every payload (workflow and activity inputs and results, update arguments, memos, failure
details) is serialised, encrypted with the active key and stored as ``binary/encrypted``
with the key's id in its metadata. Keys rotate by putting a new key first: new payloads use
it, old ones still decrypt with the id they carry. A payload that is not ours (written
before encryption was switched on) passes through unchanged, so old histories still replay.
"""

import base64
import binascii
import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
NONCE_BYTES = 12


class PayloadKeyError(ValueError):
    """A malformed key list or a payload whose key is not configured."""


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
        keys[kid.strip()] = key
    if not keys:
        raise PayloadKeyError("no payload key given")
    return keys


def new_key_spec(kid: str) -> str:
    return f"{kid}={base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()}"


class EncryptionCodec(PayloadCodec):
    def __init__(self, keys: dict[str, bytes]) -> None:
        if not keys:
            raise PayloadKeyError("no payload key given")
        self.active = next(iter(keys))
        self._ciphers = {kid: AESGCM(key) for kid, key in keys.items()}

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(p) for p in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        nonce = os.urandom(NONCE_BYTES)
        kid = self.active.encode()
        # The key id is authenticated too: moving a payload under another id fails to decrypt.
        data = nonce + self._ciphers[self.active].encrypt(nonce, payload.SerializeToString(), kid)
        return Payload(metadata={"encoding": ENCODING, KEY_ID: kid}, data=data)

    def decrypt(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload
        kid = payload.metadata.get(KEY_ID, b"").decode()
        cipher = self._ciphers.get(kid)
        if cipher is None:
            raise PayloadKeyError(f"payload encrypted with key {kid!r}, which is not configured")
        try:
            plain = cipher.decrypt(payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:], kid.encode())
        except InvalidTag as exc:
            raise PayloadKeyError(f"payload under key {kid!r} failed authentication (tampered or wrong key)") from exc
        return Payload.FromString(plain)
