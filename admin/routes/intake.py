"""Webhooks in (issue 14), under /api/v1/intake: no session or bearer token, the signature is the
credential (admin.services.webhooks). Thin: the raw body and the headers go to the service, which
verifies the signature over the very bytes received."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from pydantic import BaseModel

from admin.deps import SessionDep, SettingsDep
from admin.errors import ServiceError
from admin.routes.api import Error
from admin.services.webhooks import MAX_BODY, Outcome, WebhookService

router = APIRouter(prefix="/api/v1/intake", tags=["intake"])
ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": Error} for code in (401, 404, 409, 413, 422, 503)}


def get_webhooks(request: Request, session: SessionDep, settings: SettingsDep) -> WebhookService:
    return WebhookService(session, request.app.state.temporal, settings, request.app.state.attachments)


WebhooksDep = Annotated[WebhookService, Depends(get_webhooks)]


class Taken(BaseModel):
    outcome: str
    complaint_id: str | None = None


async def _body(request: Request) -> bytes:
    """The raw body, read no further than the limit (a signature is checked over these bytes)."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise ServiceError(413, "too_large", f"body: at most {MAX_BODY} bytes", field="body")
        chunks.append(chunk)
    return b"".join(chunks)


def _taken(outcome: Outcome) -> Taken:
    return Taken(outcome=outcome.outcome, complaint_id=outcome.complaint_id)


@router.post("/webhook", response_model=Taken, responses=ERRORS)
async def webhook(
    request: Request,
    service: WebhooksDep,
    x_timestamp: Annotated[str | None, Header(max_length=20)] = None,
    x_signature: Annotated[str | None, Header(max_length=100)] = None,
) -> Taken:
    """A complaint (``external_id``, ``channel``, ``customer``, ``subject``, ``body``) or a
    customer's message (``complaint_id``, ``text``, ``message_id``), signed:
    ``X-Signature: sha256=HMAC-SHA256(secret, X-Timestamp + "." + body)``."""
    return _taken(await service.generic(x_timestamp, x_signature, await _body(request)))


@router.post("/chatwoot", response_model=Taken, responses=ERRORS)
async def chatwoot(
    request: Request,
    service: WebhooksDep,
    x_chatwoot_timestamp: Annotated[str | None, Header(max_length=20)] = None,
    x_chatwoot_signature: Annotated[str | None, Header(max_length=100)] = None,
    token: Annotated[str | None, Query(max_length=200)] = None,
) -> Taken:
    """Chatwoot's webhook events: ``conversation_created``/``conversation_updated`` and
    ``message_created``; a conversation labelled as a complaint is filed, and the customer's
    messages in it are threaded onto that complaint."""
    body = await _body(request)
    return _taken(await service.chatwoot(x_chatwoot_timestamp, x_chatwoot_signature, token, body))
