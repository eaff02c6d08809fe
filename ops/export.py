"""``starter.py export ID``: one complaint's full record for an auditor, as JSON: the store's
row and log (with the hash chain) and the workflow history, decrypted (from Temporal while it
has it, else from the archive)."""

import base64
import json
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client, WorkflowHistory
from temporalio.converter import DataConverter
from temporalio.service import RPCError, RPCStatusCode

from encryption.payload_codec import ENCODING, SCOPED
from store.archive import load_archive, verify_digest
from store.complaint_keys import is_shredded
from store.projection import log_rows
from store.tables import Base, Complaint
from temporal_client.histories import decrypted

JSON_PLAIN = base64.b64encode(b"json/plain").decode()
ENCRYPTED = {base64.b64encode(e).decode() for e in (ENCODING, SCOPED)}


class NotFound(LookupError):
    pass


def _columns(row: Base) -> dict[str, Any]:
    return {attr.key: getattr(row, attr.key) for attr in inspect(row).mapper.column_attrs}


def _shredded(node: Any) -> Any:
    """Each encrypted payload marked as shredded (its key destroyed: the ciphertext is kept, as
    Temporal holds it, and reads as nothing); the events themselves stay: who, when, what."""
    if isinstance(node, list):
        return [_shredded(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _shredded(value) for key, value in node.items()}
    metadata = node.get("metadata")
    if isinstance(metadata, dict) and metadata.get("encoding") in ENCRYPTED:
        out["shredded"] = True
    return out


def _readable(node: Any) -> Any:
    """Beside each JSON payload's base64 data, the value itself (what an auditor reads)."""
    if isinstance(node, list):
        return [_readable(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _readable(value) for key, value in node.items()}
    metadata = node.get("metadata")
    if isinstance(metadata, dict) and metadata.get("encoding") == JSON_PLAIN and "data" in node:
        out["value"] = json.loads(base64.b64decode(node["data"]))
    return out


async def export_complaint(
    session: AsyncSession, client: Client | None, converter: DataConverter, complaint_id: str
) -> dict[str, Any]:
    row = await session.get(Complaint, complaint_id)
    archive = await load_archive(session, complaint_id)
    history: WorkflowHistory | None = None
    source = "none"
    if client is not None:
        try:
            history = await client.get_workflow_handle(complaint_id).fetch_history()
            source = "temporal"
        except RPCError as exc:
            if exc.status is not RPCStatusCode.NOT_FOUND:
                raise
    if history is None and archive is not None:
        history, source = WorkflowHistory.from_json(complaint_id, archive.history_json), "archive"
    if row is None and history is None:
        raise NotFound(complaint_id)
    document: dict[str, Any] = {
        "complaint_id": complaint_id,
        "complaint": _columns(row) if row else None,
        "log": [_columns(r) for r in await log_rows(session, complaint_id)],
        "archive": None,
        "history_source": source,
        "history": None,
    }
    if archive is not None:
        meta = _columns(archive)
        meta.pop("history_json")
        document["archive"] = meta | {"sha256_verified": verify_digest(archive)}
    if history is not None and await is_shredded(session, complaint_id):
        document["history_shredded"] = True
        document["history"] = _shredded(json.loads(history.to_json()))
    elif history is not None:
        document["history"] = _readable(json.loads((await decrypted(history, converter)).to_json()))
    return document
