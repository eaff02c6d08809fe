"""Temporal's remote codec protocol, so the Temporal UI and CLI can show decoded payloads.

POST /codec/decode (and /codec/encode) with ``{"payloads": [{"metadata": {k: b64}, "data": b64}]}``.
Staff only (session cookie or bearer token): decoding shows customers' personal data, so
every call is logged with who asked. The Temporal UI calls it cross-origin, with credentials,
from the origins in COMPLAINTS_CODEC_CORS_ORIGINS.
"""

import base64
import binascii
import logging
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from temporalio.api.common.v1 import Payload

from admin.deps import CurrentUser
from admin.errors import ServiceError
from encryption.payload_codec import PayloadKeyError

log = logging.getLogger("admin.codec")
router = APIRouter(prefix="/codec", include_in_schema=False)
MAX_PAYLOADS = 1000


def cors_headers(request: Request) -> dict[str, str]:
    origin = request.headers.get("origin", "")
    if origin not in request.app.state.settings.codec_cors_origins:
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


@router.post("/{operation}")
async def transform(request: Request, operation: str, user: CurrentUser) -> Response:
    if operation not in ("encode", "decode"):
        raise ServiceError(404, "not_found", "the codec offers /codec/encode and /codec/decode")
    try:
        body = await request.json()
    except ValueError as exc:
        raise ServiceError(422, "invalid", "the body is not JSON") from exc
    payloads = _payloads(body)
    the_codec = request.app.state.codec
    try:
        result = await (the_codec.decode(payloads) if operation == "decode" else the_codec.encode(payloads))
    except PayloadKeyError as exc:
        raise ServiceError(422, "undecodable", str(exc) or "a payload could not be decrypted") from exc
    log.info(
        "codec %s: %d payloads for %s (namespace %s)",
        operation,
        len(payloads),
        user.username,
        request.headers.get("x-namespace", "?"),
    )
    return _json(result, request)
