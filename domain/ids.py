"""Readable complaint ids such as ``KN-7F3K9Q``: short, unambiguous, safe to read on the phone."""

import hashlib
import re

# Crockford-style: no I, L, O, U (confusable or rude), no 0/1 for the same reason.
ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
PREFIX = "KN-"
LENGTH = 6
ID_PATTERN = re.compile(rf"^{PREFIX}[{ALPHABET}]{{{LENGTH}}}$")


def _encode(number: int) -> str:
    chars = []
    for _ in range(LENGTH):
        number, rem = divmod(number, len(ALPHABET))
        chars.append(ALPHABET[rem])
    return PREFIX + "".join(reversed(chars))


def complaint_id_for(intake_key: str, attempt: int = 0) -> str:
    """Deterministic id for an intake key (channel message id, idempotency key).

    The same key always gives the same id, which is what makes intake idempotent: the
    workflow id is the complaint id. ``attempt`` moves to the next id when a different key
    already holds this one (a hash collision), so no complaint is ever merged into another.
    """
    digest = hashlib.sha256(f"{intake_key}\x00{attempt}".encode()).digest()
    return _encode(int.from_bytes(digest[:8], "big"))


def is_complaint_id(value: str) -> bool:
    return bool(ID_PATTERN.match(value))
