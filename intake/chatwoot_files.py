"""The files a customer sends in the livechat, fetched from Chatwoot (issue 14).

A ``message_created`` (and the messages a conversation event carries) lists its files as
Chatwoot's ``Attachment#push_event_data``: ``{id, message_id, file_type, account_id, extension,
data_url, thumb_url, file_size}``; ``data_url`` is the file on Chatwoot's own host (an Active
Storage address ending in the file's name). Only files (``image``, ``audio``, ``video``,
``file``) are fetched; a location, a contact card or a link preview is not a file.

The address comes from the webhook's body, so it is fetched only from the Chatwoot configured in
``COMPLAINTS_CHATWOOT_URL``: the same scheme, host and port, no user info; a redirect is followed
only while it stays there (a few hops). Anything else, and every file while the setting is
empty, is not fetched (no request is made: no server-side request forgery through us). Reading
stops beyond the per-file limit and the message's total, each file has a deadline, and no
proxy from the environment is used. What is fetched is then checked as every other file
(store.attachments: sniffed type against the allow-list) by the caller. Logs name Chatwoot's
attachment id and the reason only, never the address (it carries the file's name).
"""

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

import httpx

from store.attachments import MESSAGE_TOO_BIG, TOO_BIG, AttachmentRefused, _megabytes

log = logging.getLogger(__name__)

NOT_FETCHED = "The file %(name)s could not be fetched from the live chat."
# Chatwoot's Attachment#file_type: its name in webhook data, its number in older push data.
FILE_TYPES = frozenset({"image", "audio", "video", "file", 0, 1, 2, 3})
MAX_REDIRECTS = 3
CONNECT_TIMEOUT = 5.0  # seconds
READ_TIMEOUT = 15.0  # between two chunks
FILE_DEADLINE = 60.0  # one file, whole (a slow drip is cut off)
MESSAGE_DEADLINE = 90.0  # all of a message's files: the webhook's request must end
CHUNK = 64 * 1024


@dataclass(frozen=True)
class RemoteFile:
    ident: str  # Chatwoot's attachment id (for logs)
    url: str
    name: str


@dataclass
class Fetched:
    files: list[tuple[str, bytes]] = field(default_factory=list)  # (name, bytes), in the message's order
    refused: list[AttachmentRefused] = field(default_factory=list)  # not fetched or over a limit


def remote_files(message: dict[str, Any] | None) -> list[RemoteFile]:
    """The files a Chatwoot message carries (its ``attachments``), in order; anything else left out."""
    found = message.get("attachments") if message else None
    if not isinstance(found, list):
        return []
    files = []
    for item in found:
        if not isinstance(item, dict) or item.get("file_type") not in FILE_TYPES:
            continue
        url = item.get("data_url")
        if not isinstance(url, str) or not url:
            continue
        ident = str(item.get("id", "?"))[:40]
        files.append(RemoteFile(ident, url, _name(url, ident, item.get("extension"))))
    return files


def _name(url: str, ident: str, extension: object) -> str:
    """The file's name: the last segment of Chatwoot's blob address, else one made of its id."""
    last = unquote(urlsplit(url).path.rsplit("/", 1)[-1]).strip()
    if last:
        return last
    ext = extension.strip(".").strip() if isinstance(extension, str) else ""
    return f"chatwoot-{ident}.{ext}" if ext else f"chatwoot-{ident}"


def _origin(url: str) -> tuple[str, str, int] | None:
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname or parts.username is not None:
        return None
    return scheme, parts.hostname.lower().rstrip("."), port or (443 if scheme == "https" else 80)


def same_origin(url: str, base_url: str) -> bool:
    """``url`` is on the configured Chatwoot: the same scheme, host and port, no user info."""
    origin, base = _origin(url), _origin(base_url)
    return origin is not None and origin == base


async def fetch_files(files: Sequence[RemoteFile], base_url: str, *, max_bytes: int, message_max_bytes: int) -> Fetched:
    """Each file's bytes, or why not (the catalogue's msgid): not on ``base_url`` (never
    requested), not fetched (an error, a status other than 200, too slow: each file within
    FILE_DEADLINE, all within MESSAGE_DEADLINE), over ``max_bytes``, or
    over what is left of ``message_max_bytes`` after the files before it."""
    fetched = Fetched()
    left = message_max_bytes
    timeout = httpx.Timeout(READ_TIMEOUT, connect=CONNECT_TIMEOUT)
    loop = asyncio.get_running_loop()
    ends = loop.time() + MESSAGE_DEADLINE
    async with httpx.AsyncClient(timeout=timeout, follow_redirects=False, trust_env=False) as http:
        for remote in files:
            if not base_url or not same_origin(remote.url, base_url):
                why = "not on COMPLAINTS_CHATWOOT_URL" if base_url else "COMPLAINTS_CHATWOOT_URL is not set"
                log.warning("Chatwoot attachment %s not fetched: %s", remote.ident, why)
                fetched.refused.append(AttachmentRefused(NOT_FETCHED, {"name": remote.name}))
                continue
            try:
                async with asyncio.timeout(max(0.0, min(FILE_DEADLINE, ends - loop.time()))):
                    data = await _get(http, remote.url, base_url, min(max_bytes, left))
            except _Over as over:
                if over.size > max_bytes:
                    log.info("Chatwoot attachment %s refused: over the per-file limit", remote.ident)
                    refused = AttachmentRefused(TOO_BIG, {"name": remote.name, "limit": _megabytes(max_bytes)})
                else:
                    log.info("Chatwoot attachment %s refused: over the message's total", remote.ident)
                    refused = AttachmentRefused(MESSAGE_TOO_BIG, {"limit": _megabytes(message_max_bytes)})
                fetched.refused.append(refused)
                continue
            # InvalidURL is no HTTPError: an address (or a redirect's) that passed the origin check
            # but that httpx cannot request is one file not fetched, never the message lost.
            except (_NotFetched, httpx.HTTPError, httpx.InvalidURL, TimeoutError) as exc:
                reason = str(exc) if isinstance(exc, _NotFetched) else type(exc).__name__
                log.warning("Chatwoot attachment %s not fetched: %s", remote.ident, reason)
                fetched.refused.append(AttachmentRefused(NOT_FETCHED, {"name": remote.name}))
                continue
            left -= len(data)
            fetched.files.append((remote.name, data))
    return fetched


class _NotFetched(Exception):
    pass


class _Over(Exception):
    def __init__(self, size: int) -> None:
        super().__init__(f"at least {size} bytes")
        self.size = size  # at least


async def _get(http: httpx.AsyncClient, url: str, base_url: str, limit: int) -> bytes:
    """The body at ``url``, at most ``limit`` bytes (_Over as soon as it is known to be longer:
    from its Content-Length, or once read that far), following redirects only on the
    configured Chatwoot."""
    for _ in range(MAX_REDIRECTS + 1):
        # Not compressed: the bytes counted are the file's own (and no decompression bomb).
        async with http.stream("GET", url, headers={"Accept-Encoding": "identity"}) as response:
            if response.is_redirect:
                url = urljoin(url, response.headers.get("location", ""))
                if not same_origin(url, base_url):
                    raise _NotFetched(f"redirected off COMPLAINTS_CHATWOOT_URL (status {response.status_code})")
                continue
            if response.status_code != 200:
                raise _NotFetched(f"status {response.status_code}")
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > limit:
                raise _Over(int(declared))  # said before a byte is read: not read
            body = bytearray()
            async for chunk in response.aiter_bytes(CHUNK):
                body += chunk
                if len(body) > limit:
                    raise _Over(len(body))  # stop reading here
            return bytes(body)
    raise _NotFetched("too many redirects")
