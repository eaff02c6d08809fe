"""Bounds on what a form may make the admin hold: the size of a form body, and the length of
each of its fields. The models check each field precisely (and the pages say which one is
wrong); these caps come first, so that no request, signed in or not, makes the admin read or
keep megabytes of text (issue 12, Medium 3)."""

import re

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from admin.forms import LONG_FIELDS

# The largest real form is a decision with three 10 000-character fields, percent-encoded
# (a Vietnamese letter is 3 bytes, 9 once encoded): about 270 KB.
MAX_FORM_BODY = 512 * 1024
FORM_TYPES = (b"application/x-www-form-urlencoded", b"multipart/form-data")
MAX_FIELD = 1_000  # a name, a code, an e-mail address, a choice, a token
MAX_LONG_FIELD = 10_000  # a complaint's or a decision's text (domain.models.LongText)
FIELD_LIMITS: dict[str, int] = {
    **dict.fromkeys(LONG_FIELDS | {"body", "reason", "description"}, MAX_LONG_FIELD),
    "username": 200,  # domain.models.Actor.user
    "password": 1_024,
    "next": 2_000,  # a path on this site
}
TOO_LARGE = "The form is too large to be sent."
UPLOAD_PATHS = re.compile(
    r"^(/complaints/[^/]+/actions/customer_message|/public/complaints/new|/public/complaints/[^/]+/[^/]+/messages)$"
)
UPLOAD_OVERHEAD = 1024 * 1024  # the form's other fields and the multipart framing


def too_long(form: FormData) -> tuple[str, int] | None:
    """The first field of ``form`` over its limit, with the limit."""
    for name, value in form.multi_items():
        limit = FIELD_LIMITS.get(name, MAX_FIELD)
        if len(name) > MAX_FIELD or (isinstance(value, str) and len(value) > limit):
            return name[:50], limit
    return None


class FormBodyLimit:
    """ASGI middleware: a form body over ``limit`` bytes is refused with 413 as soon as it is
    declared (Content-Length) or, sent in chunks, as soon as it has gone past the limit."""

    def __init__(self, app: ASGIApp, limit: int = MAX_FORM_BODY, upload_limit: int = MAX_FORM_BODY) -> None:
        self.app, self.limit, self.upload_limit = app, limit, upload_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        if not headers.get(b"content-type", b"").lower().startswith(FORM_TYPES):
            await self.app(scope, receive, send)
            return
        declared = headers.get(b"content-length", b"")
        received = 0
        # Forms that carry files (a message's attachments) may be as large as a message may be.
        limit = self.upload_limit if UPLOAD_PATHS.match(scope.get("path", "")) else self.limit

        async def limited() -> Message:
            nonlocal received
            # Raised where the route reads its body: the app's handler answers 413 in the page's
            # or the API's shape (FastAPI passes HTTPExceptions from the body through).
            if declared.isdigit() and int(declared) > limit:
                raise HTTPException(413, TOO_LARGE)
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:
                raise HTTPException(413, TOO_LARGE)
            return message

        await self.app(scope, limited, send)
