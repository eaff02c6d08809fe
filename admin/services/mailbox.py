"""Reading the local mail catcher's folder (``data/mail``): the newest messages and one message
whole. A malformed message is shown as far as it parses, never hides the others."""

import email.utils
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from admin.errors import ServiceError
from config.settings import Settings

MAIL_LIST_LIMIT = 300


@dataclass(frozen=True)
class MailSummary:
    name: str
    date: datetime | None
    sender: str
    to: str
    subject: str
    message_id: str


@dataclass
class MailView:
    summary: MailSummary
    headers: list[tuple[str, str]]
    text: str | None
    html: str | None
    attachments: list[tuple[str, str, int]] = field(default_factory=list)


_PARSER = BytesParser(policy=policy.default)


def mail_dir(settings: Settings) -> Path:
    return settings.data_dir / "mail"


def _header(message: EmailMessage, name: str) -> str:
    try:
        value = message.get(name)
        return "" if value is None else str(value)
    except Exception:  # a malformed header must not hide the rest of the list
        return ""


def _date(message: EmailMessage, path: Path) -> datetime | None:
    try:
        moment: datetime | None = email.utils.parsedate_to_datetime(_header(message, "Date"))
        # A date at the edge of the calendar (year 9999 at -2359) cannot be shown in another
        # zone: it counts as unparseable (the file's time) rather than failing the whole list.
        edge = timedelta(days=2)
        if moment is not None and not datetime.min + edge < moment.replace(tzinfo=None) < datetime.max - edge:
            moment = None
    except (TypeError, ValueError, IndexError, OverflowError):
        moment = None
    if moment is None:
        try:
            return datetime.fromtimestamp(path.stat().st_mtime, UTC)
        except OSError:
            return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _summary(path: Path, message: EmailMessage) -> MailSummary:
    to = _header(message, "To") or _header(message, "X-RcptTo")
    return MailSummary(path.name, _date(message, path), _header(message, "From"), to, _header(message, "Subject"),
                       _header(message, "Message-ID"))  # fmt: skip


def list_mails(directory: Path, limit: int = MAIL_LIST_LIMIT) -> tuple[list[MailSummary], int]:
    """The newest ``limit`` messages of ``directory`` (newest first) and how many there are."""
    if not directory.is_dir():
        return [], 0
    found = []
    for path in directory.glob("*.eml"):
        if path.name.startswith(".") or not path.is_file():
            continue
        try:
            found.append((path.stat().st_mtime, path.name, path))
        except OSError:  # removed meanwhile
            continue
    found.sort(reverse=True)
    summaries = []
    for _, _, path in found[:limit]:
        try:
            with path.open("rb") as fp:
                message = _PARSER.parse(fp, headersonly=True)
            summaries.append(_summary(path, message))  # type: ignore[arg-type]
        except Exception:  # unreadable, or a header no parser copes with: skip it, keep the list
            continue
    return summaries, len(found)


def mail_path(directory: Path, name: str) -> Path:
    """The message file ``name`` in ``directory``; 404 for anything that is not a plain .eml name in it."""
    missing = ServiceError(404, "not_found", "There is no such message.")
    if not name.endswith(".eml") or name.startswith(".") or any(c in name for c in "/\\\x00"):
        raise missing
    path = directory / name
    try:
        if path.resolve().parent != directory.resolve() or not path.is_file():
            raise missing
    except OSError:
        raise missing from None
    return path


def _part_text(part: Any) -> str:
    try:
        content = part.get_content()
    except (LookupError, ValueError, AssertionError):  # unknown charset or broken transfer encoding
        payload = part.get_payload(decode=True) or b""
        content = payload.decode("utf-8", "replace")
    return content if isinstance(content, str) else content.decode("utf-8", "replace")


def _all_headers(message: EmailMessage) -> list[tuple[str, str]]:
    headers = []
    for name, value in message.raw_items():
        try:
            headers.append((name, str(message.policy.header_fetch_parse(name, value))))
        except Exception:  # shown raw rather than not at all
            headers.append((name, str(value)))
    return headers


def read_mail(path: Path) -> MailView:
    message: EmailMessage = _PARSER.parsebytes(path.read_bytes())  # type: ignore[assignment]
    text_part = message.get_body(preferencelist=("plain",))
    html_part = message.get_body(preferencelist=("html",))
    attachments = []
    for part in message.iter_attachments():
        payload = part.get_payload(decode=True)
        size = len(payload) if isinstance(payload, bytes) else 0
        attachments.append((part.get_filename() or "—", part.get_content_type(), size))
    return MailView(
        summary=_summary(path, message),
        headers=_all_headers(message),
        text=_part_text(text_part) if text_part is not None else None,
        html=_part_text(html_part) if html_part is not None else None,
        attachments=attachments,
    )
