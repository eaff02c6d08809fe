"""The complaint log's hash chain: each entry's hash covers the previous one, so no entry can
be changed, removed or reordered without breaking every hash after it.

The workflow computes it as it logs (deterministic: pure hashing of the entry), the store
keeps it beside each row, and ``verify-log`` recomputes it from the rows. The entry's detail
enters through its own digest, so anonymising a row's detail later (personal data requests)
keeps the chain verifiable: the row is then reported as redacted, not as tampered.
"""

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic_core import to_jsonable_python

GENESIS = "0" * 64


def _canonical(value: Any) -> bytes:
    return json.dumps(to_jsonable_python(value), sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def detail_digest(detail: Mapping[str, Any]) -> str:
    return hashlib.sha256(_canonical(dict(detail))).hexdigest()


def entry_hash(
    complaint_id: str,
    seq: int,
    at: datetime,
    action: str,
    actor: tuple[str, str, str | None],
    digest: str,
    prev_hash: str,
) -> str:
    fields = {
        "complaint": complaint_id,
        "seq": seq,
        "at": at.astimezone(UTC).isoformat(timespec="microseconds"),
        "action": action,
        "actor": list(actor),
        "detail": digest,
        "prev": prev_hash,
    }
    return hashlib.sha256(_canonical(fields)).hexdigest()
