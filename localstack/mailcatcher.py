"""A local SMTP mail catcher (aiosmtpd) for development and tests: it accepts every mail and keeps it.

Run it beside the worker (``make run`` does)::

    python -m localstack.mailcatcher --host 127.0.0.1 --port 1025 --dir data/mail

Every message is stored as an ``.eml`` file in the directory (UTC timestamp + Message-ID in
the name), so staff can open each mail the system sent with any mail reader, and a restarted
catcher still lists the old ones. In tests, use it in-process::

    with MailCatcher() as catcher:          # port 0: a free port, see catcher.port
        ...send to 127.0.0.1:catcher.port...
        [message] = catcher.messages()

The catcher accepts any AUTH (no TLS needed) so a worker configured with credentials can be
pointed at it too. It is a development tool: keep it on loopback or a private network (the compose file
runs it inside its own network), never on a public address.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import re
import signal
import sys
import threading
import time
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session

log = logging.getLogger("mailcatcher")

_PARSER = BytesParser(policy=policy.default)
# The project's PRIVATE_DIR/PRIVATE_FILE (config.settings), repeated: the catcher runs without it.
_PRIVATE_DIR = 0o700
_PRIVATE_FILE = 0o600
_UNSAFE = re.compile(r"[^A-Za-z0-9._@+-]+")


def _parse(raw: bytes) -> EmailMessage:
    try:
        return _PARSER.parsebytes(raw)
    except Exception:  # a MIME tree too deep to walk: its headers at least
        return _PARSER.parsebytes(raw, headersonly=True)


def _header(message: EmailMessage, name: str) -> str | None:
    try:
        value = message.get(name)
    except Exception:  # a malformed header (``Message-ID: <<<``): the mail is kept all the same
        return None
    return None if value is None else str(value)


def _file_stem(message_id: str | None, now: datetime) -> str:
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    ident = _UNSAFE.sub("_", (message_id or "").strip().strip("<>")).strip("._") or "no-message-id"
    return f"{stamp}_{ident[:120]}"


def _accept_any_login(server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any) -> AuthResult:
    return AuthResult(success=True)


class _Controller(Controller):
    """aiosmtpd's controller, able to bind port 0 and report the port it got."""

    def _create_server(self) -> Any:
        return self._bind()

    async def _bind(self) -> asyncio.AbstractServer:
        server = await self.loop.create_server(
            self._factory_invoker, host=self.hostname, port=self.port, ssl=self.ssl_context
        )
        self.port = server.sockets[0].getsockname()[1]
        return server


class _Handler:
    def __init__(self, catcher: MailCatcher) -> None:
        self._catcher = catcher

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        peer = session.peer[0] if isinstance(session.peer, tuple) else str(session.peer)
        self._catcher._keep(raw, envelope.mail_from or "", list(envelope.rcpt_tos), peer)
        return "250 2.0.0 OK: caught"


class MailCatcher:
    """An SMTP server on ``host:port`` that keeps every message it receives.

    ``port=0`` picks a free port (read ``.port`` after ``start()``). With ``directory``, each
    message is also written there as ``<UTC timestamp>_<Message-ID>.eml`` and ``messages()``
    reads the directory, so mail caught before a restart is still listed.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, directory: Path | None = None) -> None:
        self.host = host
        self.port = port
        self.directory = Path(directory) if directory is not None else None
        self._memory: list[bytes] = []
        self._lock = threading.Lock()
        self._controller: _Controller | None = None

    # --- lifecycle ---

    def start(self) -> None:
        if self._controller is not None:
            raise RuntimeError("the mail catcher is already running")
        if self.directory is not None:
            self.directory.mkdir(mode=_PRIVATE_DIR, parents=True, exist_ok=True)
        controller = _Controller(
            _Handler(self),
            hostname=self.host,
            port=self.port,
            server_hostname="mailcatcher.localhost",
            enable_SMTPUTF8=True,
            decode_data=False,
            authenticator=_accept_any_login,
            auth_require_tls=False,
        )
        controller.start()
        self.port = controller.port
        self._controller = controller

    def stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    @property
    def running(self) -> bool:
        return self._controller is not None

    def __enter__(self) -> MailCatcher:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    async def __aenter__(self) -> MailCatcher:
        await asyncio.to_thread(self.start)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await asyncio.to_thread(self.stop)

    # --- what was caught ---

    def message_files(self) -> list[Path]:
        """The stored ``.eml`` files, oldest first (empty without a directory)."""
        if self.directory is None or not self.directory.is_dir():
            return []
        return sorted(self.directory.glob("*.eml"))

    def messages(self) -> list[EmailMessage]:
        """Every message received, oldest first (from the directory when there is one)."""
        with self._lock:
            if self.directory is None:
                raws = list(self._memory)
            else:
                raws = []
                for path in self.message_files():
                    try:
                        raws.append(path.read_bytes())
                    except FileNotFoundError:  # removed meanwhile (clear() elsewhere)
                        continue
        return [_parse(raw) for raw in raws]

    def clear(self) -> None:
        """Forget every message (and delete the stored ``.eml`` files)."""
        with self._lock:
            self._memory.clear()
            for path in self.message_files():
                path.unlink(missing_ok=True)

    async def wait_for(self, count: int, within: float = 5.0) -> list[EmailMessage]:
        """Wait until at least ``count`` messages were caught; ``TimeoutError`` otherwise."""
        deadline = time.monotonic() + within
        while True:
            found = self.messages()
            if len(found) >= count:
                return found
            if time.monotonic() >= deadline:
                raise TimeoutError(f"expected {count} mail(s) within {within}s, caught {len(found)}")
            await asyncio.sleep(0.02)

    # --- called from the SMTP thread ---

    def _keep(self, raw: bytes, mail_from: str, rcpt_tos: list[str], peer: str) -> None:
        newline = b"\r\n" if b"\r\n" in raw[:2000] else b"\n"
        trace = newline.join(
            [
                f"X-Peer: {peer}".encode(),
                f"X-MailFrom: {mail_from}".encode(),
                f"X-RcptTo: {', '.join(rcpt_tos)}".encode(),
            ]
        )
        raw = trace + newline + raw
        # Only the headers are read here, each on its own: whatever the body or one header
        # holds, the raw message is kept (a 500 would drop it).
        message = _PARSER.parsebytes(raw, headersonly=True)
        message_id = _header(message, "Message-ID")
        with self._lock:
            if self.directory is None:
                self._memory.append(raw)
            else:
                path = self._write(raw, message_id)
                log.debug("stored %s", path)
        log.info("caught %s from %s to %s: %s", message_id or "-", mail_from, rcpt_tos, _header(message, "Subject"))

    def _write(self, raw: bytes, message_id: str | None) -> Path:
        assert self.directory is not None
        self.directory.mkdir(mode=_PRIVATE_DIR, parents=True, exist_ok=True)
        stem = _file_stem(message_id, datetime.now(UTC))
        path = self.directory / f"{stem}.eml"
        n = 1
        while path.exists():
            path = self.directory / f"{stem}-{n}.eml"
            n += 1
        temporary = self.directory / f".{path.name}.tmp"
        # Mail holds customers' personal data: 0600 from the start, whatever the umask.
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, _PRIVATE_FILE)
        with os.fdopen(fd, "wb") as out:
            out.write(raw)
        os.replace(temporary, path)  # readers never see half a file
        return path


def main(argv: list[str] | None = None) -> int:
    defaults: dict[str, Any] = {"host": "127.0.0.1", "port": 1025, "dir": Path("data/mail")}
    try:
        from config.settings import get_settings

        settings = get_settings()
        defaults = {"host": settings.smtp_host, "port": settings.smtp_port, "dir": settings.data_dir / "mail"}
    except Exception:  # the catcher also runs without the project's settings
        pass
    parser = argparse.ArgumentParser(description="Local SMTP mail catcher: accepts every mail and keeps it as .eml.")
    parser.add_argument("--host", default=defaults["host"], help="address to listen on (default: %(default)s)")
    parser.add_argument("--port", type=int, default=defaults["port"], help="port to listen on (default: %(default)s)")
    parser.add_argument("--dir", type=Path, default=defaults["dir"], help="where to store mail (default: %(default)s)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every SMTP session")
    args = parser.parse_args(argv)
    os.umask(0o077)  # what it creates (mail dir, .eml, its log) is its user's alone

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("mail.log").setLevel(logging.INFO if args.verbose else logging.WARNING)

    stop = threading.Event()

    def _request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _request_stop)
    signal.signal(signal.SIGTERM, _request_stop)

    directory = Path(args.dir).resolve()
    catcher = MailCatcher(args.host, args.port, directory)
    try:
        catcher.start()
    except OSError as error:
        print(f"mailcatcher: cannot listen on {args.host}:{args.port}: {error.strerror or error}", file=sys.stderr)
        return 1
    try:
        where = f"smtp://{catcher.host}:{catcher.port}"
        print(f"Mail catcher listening on {where}, storing mail in {directory}", flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        catcher.stop()
    print("Mail catcher stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
