"""A thin IMAP client for the complaints mailbox (aioimaplib): TLS with a verified certificate,
login, one selected folder, and the few commands a poller needs — UIDVALIDITY, the UIDs above a
checkpoint, one message's raw bytes, a flag, a move.

Pure client: no store, no Temporal. Every call has a deadline, and failures come out as one of a
few exceptions the caller can act on:

- ``ImapServerDown``: no connection, the connection dropped, or no answer in time (retry later);
- ``ImapTlsRefused``: the TLS handshake failed, e.g. an untrusted certificate (configuration: no retry);
- ``ImapLoginRefused``: the server refused the username or password;
- ``ImapMailboxGone``: the folder does not exist (or no longer does; one deleted while selected
  makes Dovecot end the session, seen as ``ImapServerDown``, and the next ``select`` says gone);
- ``ImapMessageGone``: no message with that UID in the selected folder (expunged meanwhile);
- ``ImapCommandFailed``: any other NO or BAD answer.

aioimaplib leaves a command waiting forever when the connection drops under it; here every call
also ends as soon as the connection is lost (``ImapServerDown``), not at its deadline.
"""

from __future__ import annotations

import asyncio
import re
import ssl
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import aioimaplib

T = TypeVar("T")

DEFAULT_TIMEOUT = 30.0  # seconds, per command
SEEN = "\\Seen"
_UIDVALIDITY = re.compile(rb"\[UIDVALIDITY (\d+)\]")
_FETCH_HEAD = re.compile(rb"^\d+ FETCH \(.*UID (\d+).*BODY\[\] \{(\d+)\}$")
# RFC 3501 flag: a system flag (\Seen) or a keyword atom (no specials, no spaces, no wildcards).
_FLAG = re.compile(r"^\\?[!#$&'+,\-./0-9:;<=>?@A-Z\^_`a-z|~]+$")


class ImapError(Exception):
    """Anything this client raises."""


class ImapServerDown(ImapError):
    """No connection to the server, the connection dropped, or it did not answer in time."""


class ImapTlsRefused(ImapError):
    """The TLS handshake failed: the server's certificate is not trusted or not for this host
    (a configuration error, which retrying does not fix; hence not an ImapServerDown)."""


class ImapLoginRefused(ImapError):
    """The server refused the login (wrong username or password, or the account is disabled)."""


class ImapMailboxGone(ImapError):
    """The folder does not exist on the server."""


class ImapMessageGone(ImapError):
    """No message with this UID in the selected folder."""


class ImapCommandFailed(ImapError):
    """The server answered NO or BAD to a command."""


@dataclass(frozen=True)
class ImapAccount:
    """Where and as whom to log in. ``ca_file``: the CA to trust instead of the system's (a
    private or test CA); the certificate and the host name are always checked."""

    host: str
    port: int
    username: str
    password: str = field(repr=False)
    ca_file: Path | None = None
    timeout: float = DEFAULT_TIMEOUT
    tls: bool = True  # False: plain IMAP (a server on loopback or behind a TLS-terminating proxy)

    def ssl_context(self) -> ssl.SSLContext | None:
        if not self.tls:
            return None
        return ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)


def _quoted(name: str) -> str:
    """A folder name as an IMAP quoted string. Non-ASCII names would need modified UTF-7: refused."""
    if not name.isascii() or any(c in name for c in "\r\n\0"):
        raise ValueError(f"unsupported folder name {name!r} (ASCII only)")
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _text(response: Any) -> str:
    return b" ".join(line for line in response.lines if isinstance(line, bytes)).decode(errors="replace")[:500]


class ImapMailbox:
    """One connection, logged in, with at most one folder selected. Use ``async with``::

    async with ImapMailbox(account) as mailbox:
        validity = await mailbox.select("INBOX")
        for uid in await mailbox.uids_after(checkpoint):
            raw = await mailbox.fetch(uid)
            ...
            await mailbox.move(uid, "Processed")
    """

    def __init__(self, account: ImapAccount, *, use_move: bool = True) -> None:
        self.account = account
        # use_move=False: copy, flag \Deleted and expunge even where the server offers MOVE (tests
        # the fallback for servers without it).
        self._use_move = use_move
        self._client: aioimaplib.IMAP4 | None = None
        self._lost: asyncio.Future[None] | None = None
        self.folder: str | None = None
        self.uidvalidity: int | None = None

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.logout()

    # -- connection -------------------------------------------------------------------------------

    def _connection_lost(self, exc: Exception | None) -> None:
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(None)

    async def _call(self, awaitable: Awaitable[T], what: str) -> T:
        """``awaitable`` within the timeout, or ImapServerDown as soon as the connection drops."""
        assert self._lost is not None, "not connected"
        if self._lost.done():
            if asyncio.iscoroutine(awaitable):
                awaitable.close()  # never started: no "never awaited" warning
            raise ImapServerDown(f"{what}: connection to the IMAP server lost")
        task = asyncio.ensure_future(awaitable)
        waiting: set[asyncio.Future[Any]] = {task, self._lost}
        done, _ = await asyncio.wait(waiting, timeout=self.account.timeout, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            try:
                return task.result()
            except aioimaplib.CommandTimeout as exc:
                self._close_transport()
                raise ImapServerDown(f"{what}: no answer within {self.account.timeout:.0f}s") from exc
            except aioimaplib.Abort as exc:
                raise ImapCommandFailed(f"{what}: {exc}") from exc
        task.cancel()
        # A command left without its answer would shift every later answer: the connection is done.
        self._close_transport()
        if self._lost.done():
            raise ImapServerDown(f"{what}: connection to the IMAP server lost")
        raise ImapServerDown(f"{what}: no answer within {self.account.timeout:.0f}s")

    async def connect(self) -> None:
        """Connect with TLS (certificate checked), read the greeting and log in."""
        account = self.account
        self._lost = asyncio.get_running_loop().create_future()
        self._client = aioimaplib.IMAP4(
            account.host,
            account.port,
            timeout=account.timeout,
            conn_lost_cb=self._connection_lost,
            ssl_context=account.ssl_context(),
        )
        try:
            await self._client.wait_hello_from_server()
        except ssl.SSLError as exc:
            self._close_transport()
            raise ImapTlsRefused(f"TLS with {account.host}:{account.port} failed: {exc}") from exc
        except (OSError, TimeoutError) as exc:
            self._close_transport()
            raise ImapServerDown(f"cannot reach the IMAP server {account.host}:{account.port}: {exc!r}") from exc
        except aioimaplib.Error as exc:  # a greeting that is neither OK nor PREAUTH (BYE: too busy)
            self._close_transport()
            raise ImapServerDown(f"the IMAP server {account.host}:{account.port} refused the session: {exc}") from exc
        response = await self._call(self._client.login(account.username, account.password), "LOGIN")
        if response.result != "OK":
            self._close_transport()
            # The server's text, not ours: it says why (authentication failed, account disabled).
            raise ImapLoginRefused(f"login refused for the configured account: {_text(response)}")

    def _close_transport(self) -> None:
        if self._client is not None and self._client.protocol.transport is not None:
            self._client.protocol.transport.close()

    @property
    def tls_version(self) -> str | None:
        """The TLS version of the connection (None if not connected over TLS)."""
        if self._client is None or self._client.protocol.transport is None:
            return None
        ssl_object = self._client.protocol.transport.get_extra_info("ssl_object")
        return None if ssl_object is None else ssl_object.version()

    def _connected(self) -> aioimaplib.IMAP4:
        if self._client is None:
            raise ImapServerDown("not connected")
        return self._client

    def has_capability(self, name: str) -> bool:
        return self._connected().has_capability(name)

    async def logout(self) -> None:
        """Log out and close; quiet when the connection is already gone."""
        client, self._client = self._client, None
        self.folder = self.uidvalidity = None
        if client is None:
            return
        try:
            if self._lost is not None and not self._lost.done() and client.get_state() != aioimaplib.LOGOUT:
                self._client = client
                await self._call(client.logout(), "LOGOUT")
        except ImapError:
            pass
        finally:
            self._client = None
            if client.protocol.transport is not None:
                client.protocol.transport.close()

    # -- folder -----------------------------------------------------------------------------------

    async def select(self, folder: str = "INBOX") -> int:
        """Open ``folder`` read-write; returns its UIDVALIDITY (UIDs from another UIDVALIDITY
        name other messages: a checkpoint is only good with the UIDVALIDITY it was taken in)."""
        response = await self._call(self._connected().select(_quoted(folder)), "SELECT")
        if response.result != "OK":
            self.folder = self.uidvalidity = None
            if response.result == "NO":
                raise ImapMailboxGone(f"folder {folder!r}: {_text(response)}")
            raise ImapCommandFailed(f"SELECT {folder!r}: {_text(response)}")
        for line in response.lines:
            if isinstance(line, bytes) and (match := _UIDVALIDITY.search(line)):
                self.folder, self.uidvalidity = folder, int(match.group(1))
                return self.uidvalidity
        raise ImapCommandFailed(f"SELECT {folder!r}: the server sent no UIDVALIDITY")

    def _selected(self) -> aioimaplib.IMAP4:
        client = self._connected()
        if self.folder is None:
            raise ImapCommandFailed("no folder selected")
        return client

    async def _uid(self, command: str, *args: str) -> Any:
        response = await self._call(self._selected().uid(command, *args), f"UID {command.upper()}")
        if response.result != "OK":
            raise self._failure(f"UID {command.upper()} {args[0]}", response)
        return response

    def _failure(self, what: str, response: Any) -> ImapError:
        text = _text(response)
        # TRYCREATE: the target folder does not exist; NONEXISTENT (RFC 5530): nor does another.
        if "[TRYCREATE]" in text or "[NONEXISTENT]" in text or "doesn't exist" in text:
            return ImapMailboxGone(f"{what}: {text}")
        return ImapCommandFailed(f"{what}: {text}")

    # -- messages ---------------------------------------------------------------------------------

    async def uids_after(self, checkpoint: int) -> list[int]:
        """The UIDs above ``checkpoint`` in the selected folder, ascending."""
        client = self._selected()
        # "n:*" also matches the highest UID when it is below n (RFC 3501): filtered below.
        search = client.protocol.search("UID", f"{checkpoint + 1}:*", by_uid=True, charset=None)
        response = await self._call(search, "UID SEARCH")
        if response.result != "OK":
            raise self._failure("UID SEARCH", response)
        uids: set[int] = set()
        for line in response.lines[:-1]:  # the last line is the completion text
            uids.update(int(word) for word in line.split() if word.isdigit())
        return sorted(uid for uid in uids if uid > checkpoint)

    async def fetch(self, uid: int) -> bytes:
        """The message's raw bytes, exactly as the server holds them; leaves \\Seen unset (PEEK)."""
        response = await self._uid("fetch", str(uid), "(UID BODY.PEEK[])")
        lines = response.lines
        for index, line in enumerate(lines[:-1]):
            if not isinstance(line, bytes):
                continue
            head = _FETCH_HEAD.match(line)
            if head and int(head.group(1)) == uid:
                body = lines[index + 1]
                if not isinstance(body, bytearray) or len(body) != int(head.group(2)):
                    raise ImapCommandFailed(f"UID FETCH {uid}: a truncated answer")
                return bytes(body)
        raise ImapMessageGone(f"no message with UID {uid} in {self.folder!r}")

    async def flag(self, uid: int, flag: str = SEEN) -> None:
        """Add ``flag`` (a system flag such as \\Seen, or a keyword such as $Filed) to a message;
        a UID no longer in the folder is no error (the server ignores it), so a retry is safe."""
        if not _FLAG.match(flag):
            raise ValueError(f"not an IMAP flag or keyword: {flag!r}")
        await self._uid("store", str(uid), "+FLAGS.SILENT", f"({flag})")

    async def flags(self, uid: int) -> set[str]:
        """The message's flags."""
        response = await self._uid("fetch", str(uid), "(UID FLAGS)")
        for line in response.lines:
            if isinstance(line, bytes) and (match := re.search(rb"UID (\d+).*FLAGS \(([^)]*)\)", line)):
                if int(match.group(1)) == uid:
                    return set(match.group(2).decode().split())
        raise ImapMessageGone(f"no message with UID {uid} in {self.folder!r}")

    async def move(self, uid: int, folder: str) -> None:
        """Move one message to ``folder`` (which must exist): MOVE where the server offers it,
        else COPY, \\Deleted and an expunge of that UID only (UIDPLUS) — never of other
        messages another client marked \\Deleted. A UID no longer in the folder is no error
        (already moved: a retry after a lost answer is safe)."""
        target = _quoted(folder)
        if self._use_move and self.has_capability("MOVE"):
            await self._uid("move", str(uid), target)
            return
        if not self.has_capability("UIDPLUS"):
            raise ImapCommandFailed("the server offers neither MOVE nor UIDPLUS: cannot move one message safely")
        await self._uid("copy", str(uid), target)
        await self._uid("store", str(uid), "+FLAGS.SILENT", "(\\Deleted)")
        await self._uid("expunge", str(uid))
