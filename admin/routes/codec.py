"""Temporal's remote codec protocol, so the Temporal UI and CLI can show decoded payloads.

POST /codec/decode with ``{"payloads": [{"metadata": {k: b64}, "data": b64}]}``. Staff only
(session cookie or bearer token), and only for complaints in the caller's scope: each payload
names its complaint in clear (its associated data makes that name authentic), and every decode is
logged with the user and the complaint ids. A shredded complaint (anonymised) decodes for no one.
The Temporal UI calls it cross-origin, with credentials (the session cookie), from its own origin
(COMPLAINTS_TEMPORAL_UI_URL's, or COMPLAINTS_CODEC_CORS_ORIGINS): CORS allows no other.

/codec/encode is refused to everyone: the product never encodes for the UI, and an encoder open
to staff would let them write decisions in anyone's name (issue 12).
"""

import base64
import binascii
import logging
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from temporalio.api.common.v1 import Payload

from admin.deps import CurrentUser, SessionDep
from admin.errors import ServiceError
from admin.services.codec_scope import check_decode_scope
from encryption.payload_codec import ENCODING, SCOPE, SCOPED, EncryptionCodec, PayloadKeyError
from temporal_client.connection import codec

log = logging.getLogger("admin.codec")
router = APIRouter(prefix="/codec", include_in_schema=False)
MAX_PAYLOADS = 1000


def cors_headers(request: Request) -> dict[str, str]:
    origin = request.headers.get("origin", "")
    if origin not in request.app.state.settings.codec_origins:
        return {}
    return {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Credentials": "true",
        "Access-Control-Allow-Methods": "POST, OPTIONS",
        "Access-Control-Allow-Headers": "Content-Type, Authorization, X-Namespace",
        "Vary": "Origin",
    }


def _payloads(body: Any) -> list[Payload]:
    items = body.get("payloads") if isinstance(body, dict) else None
    if not isinstance(items, list) or len(items) > MAX_PAYLOADS:
        raise ServiceError(422, "invalid", f'expected {{"payloads": [...]}} with at most {MAX_PAYLOADS} items')
    try:
        return [
            Payload(
                metadata={k: base64.b64decode(v, validate=True) for k, v in (item.get("metadata") or {}).items()},
                data=base64.b64decode(item.get("data") or "", validate=True),
            )
            for item in items
        ]
    except (AttributeError, TypeError, binascii.Error) as exc:
        raise ServiceError(422, "invalid", "payload metadata and data must be base64 strings") from exc


def _json(payloads: list[Payload], request: Request) -> JSONResponse:
    body = {
        "payloads": [
            {
                "metadata": {k: base64.b64encode(v).decode() for k, v in p.metadata.items()},
                "data": base64.b64encode(p.data).decode(),
            }
            for p in payloads
        ]
    }
    return JSONResponse(body, headers=cors_headers(request))


@router.options("/{operation}")
async def preflight(request: Request, operation: str) -> Response:
    return Response(status_code=204, headers=cors_headers(request))


def _scope(payload: Payload) -> str | None:
    """The complaint (or workflow) a payload was written for; None: plain, nothing to hide."""
    encoding = payload.metadata.get("encoding")
    if encoding == SCOPED:
        try:
            return payload.metadata.get(SCOPE, b"").decode()
        except UnicodeDecodeError as exc:
            raise ServiceError(422, "undecodable", "a payload's scope is not UTF-8") from exc
    if encoding == ENCODING:
        return ""  # written before payloads named their complaint: whose it is, only the history says
    return None


def _codec(request: Request) -> EncryptionCodec:
    """The codec with the store's data keys, made on first use (the store is the app's)."""
    found: EncryptionCodec | None = getattr(request.app.state, "codec_with_keys", None)
    if found is None:
        found = request.app.state.codec_with_keys = codec(request.app.state.settings, request.app.state.sessions)
    return found


def known_origin(request: Request) -> None:
    """A browser page of another origin may not have its staff's payloads decoded, even one whose
    answer CORS would keep from it; the CLI sends no Origin."""
    origin = request.headers.get("origin")
    if origin is not None and origin not in request.app.state.settings.codec_origins:
        log.warning("codec call refused from origin %s", origin)
        raise ServiceError(403, "forbidden", "the codec answers the Temporal UI's origin only")


@router.post("/{operation}", dependencies=[Depends(known_origin)])
async def transform(request: Request, operation: str, user: CurrentUser, session: SessionDep) -> Response:
    if operation == "encode":
        log.warning("codec encode refused for %s", user.username)
        raise ServiceError(403, "forbidden", "the codec does not encode: decisions are made in the admin only")
    if operation != "decode":
        raise ServiceError(404, "not_found", "the codec offers /codec/decode")
    try:
        body = await request.json()
    except ValueError as exc:
        raise ServiceError(422, "invalid", "the body is not JSON") from exc
    payloads = _payloads(body)
    scopes = {scope for scope in map(_scope, payloads) if scope is not None}
    await check_decode_scope(session, user, scopes)
    try:
        result = await _codec(request).decode(payloads)
    except PayloadKeyError as exc:
        raise ServiceError(422, "undecodable", str(exc) or "a payload could not be decrypted") from exc
    log.info(
        "codec decode: %d payloads of %s for %s (namespace %s)",
        len(payloads),
        ", ".join(sorted(s or "(unnamed)" for s in scopes)) or "(plain)",
        user.username,
        request.headers.get("x-namespace", "?"),
    )
    return _json(result, request)
