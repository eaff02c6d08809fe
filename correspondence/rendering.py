"""Render the complaint mails (subject, plain text, HTML) and the written reply letter.

Templates live in ``correspondence/templates``: one text and one HTML template per mail purpose
and language (``mail/<purpose>.<lang>.txt.j2`` / ``.html.j2``), the subject being the
``subject`` block of the text template. HTML templates are autoescaped, so whatever a
customer wrote (names, subjects, complaint text) is shown, never executed. Dates are shown
in Vietnam time (UTC+7, a fixed offset: Vietnam has no daylight saving).

Rendering is pure (no I/O besides reading the packaged templates), so it is safe to call from
an activity and to test directly.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from domain.sla import VN_TZ
from domain.vocabulary import Channel, Language

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"

CUSTOMER_PURPOSES: frozenset[str] = frozenset(
    {"acknowledgement", "reply", "closing", "reopened", "rejected", "resolved_on_spot", "status_link"}
)
INTERNAL_PURPOSES: frozenset[str] = frozenset(
    {"warning", "breach", "first_response_breach", "escalated", "assigned", "customer_message"}
)
MAIL_PURPOSES: frozenset[str] = CUSTOMER_PURPOSES | INTERNAL_PURPOSES

# Keys every mail needs; a missing one is a bug in the caller, reported by name.
_REQUIRED_KEYS: tuple[str, ...] = ("complaint_id", "customer_name", "received_at", "deadline")
# Keys a purpose needs on top of those.
_PURPOSE_KEYS: dict[str, tuple[str, ...]] = {
    "reply": ("message",),
    "customer_message": ("customer_text", "via"),
    "status_link": ("status_url",),  # the link asked for again on the lookup page
}
# Optional keys: templates test them with ``{% if %}``, so they default to None.
_OPTIONAL_KEYS: tuple[str, ...] = (
    "subject",
    "body",
    "channel",
    "department",
    "message",
    "resolution",
    "root_cause",
    "reason",
    "duplicate_of",
    "recipient_name",
    "staff_url",
    "reopen_until",
    "customer_address",
    "noted_by",
    "after_closing",
    "reopen_requested",
    "attachment_count",
)
# Never shown to a customer (internal lessons register), so not even handed to those templates.
_INTERNAL_ONLY_KEYS: tuple[str, ...] = ("lessons_learned",)

_DEPARTMENTS: dict[str, dict[Language, str]] = {
    "CS": {Language.VI: "Dịch vụ khách hàng", Language.EN: "Customer Service"},
    "TECH": {Language.VI: "Kỹ thuật", Language.EN: "Technical"},
    "BILLING": {Language.VI: "Cước phí và thanh toán", Language.EN: "Billing"},
    "SALES": {Language.VI: "Kinh doanh", Language.EN: "Sales"},
}

_CHANNELS: dict[Channel, dict[Language, str]] = {
    Channel.LIVECHAT: {Language.VI: "Chat trực tuyến", Language.EN: "Live chat"},
    Channel.PHONE: {Language.VI: "Điện thoại (hotline)", Language.EN: "Phone (hotline)"},
    Channel.EMAIL: {Language.VI: "Email", Language.EN: "Email"},
    Channel.POST: {Language.VI: "Thư gửi qua bưu điện", Language.EN: "Letter by post"},
    Channel.IN_PERSON: {Language.VI: "Trực tiếp tại văn phòng", Language.EN: "In person at our office"},
    Channel.WEB: {Language.VI: "Biểu mẫu web", Language.EN: "Web form"},
}

_EN_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


@dataclass(frozen=True)
class RenderedMail:
    subject: str
    text: str
    html: str


# --- filters and helpers ---------------------------------------------------------------


def to_vn_time(value: datetime | date | str) -> datetime:
    """A moment in Vietnam time. Naive datetimes are taken as UTC (what Temporal and the store use)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        return datetime(value.year, value.month, value.day, tzinfo=VN_TZ)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(VN_TZ)


def vndate(value: datetime | date | str | None, fmt: str = "%d/%m/%Y %H:%M") -> str:
    """``dd/mm/yyyy HH:MM`` in Vietnam time; ``vndate("%d/%m/%Y")`` for the day only."""
    if value is None or value == "":
        return ""
    return to_vn_time(value).strftime(fmt)


def vnday(value: datetime | date | str | None) -> str:
    return vndate(value, "%d/%m/%Y")


def long_date(value: datetime | date | str, language: Language | str) -> str:
    """The date as written in a letter: ``ngày 05 tháng 02 năm 2026`` / ``5 February 2026``."""
    moment = to_vn_time(value)
    if Language(language) is Language.VI:
        return f"ngày {moment.day:02d} tháng {moment.month:02d} năm {moment.year}"
    return f"{moment.day} {_EN_MONTHS[moment.month - 1]} {moment.year}"


def department_name(code: object, language: Language | str) -> str:
    if code is None or code == "":
        return ""
    names = _DEPARTMENTS.get(str(code).upper())
    return f"{names[Language(language)]} ({code})" if names else str(code)


def channel_name(channel: object, language: Language | str) -> str:
    if channel is None or channel == "":
        return ""
    try:
        return _CHANNELS[Channel(str(channel))][Language(language)]
    except ValueError:
        return str(channel)


def oneline(value: object, limit: int = 120) -> str:
    """Collapse whitespace (no line breaks may reach a mail header) and shorten."""
    text = " ".join(str(value).split()) if value is not None else ""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def excerpt(value: object, limit: int = 600) -> str:
    text = str(value).strip() if value is not None else ""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def indent_text(value: object, prefix: str = "    ") -> str:
    """Indent every line of a customer's text in plain-text mail (quoted, readable)."""
    text = str(value).strip() if value is not None else ""
    return "\n".join(prefix + line if line.strip() else prefix.rstrip() for line in text.splitlines())


_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n+")


def paragraphs(value: object) -> Markup:
    """Plain text to HTML paragraphs: blank lines split paragraphs, single newlines become ``<br>``.

    Every piece is escaped first, so this is safe on anything a customer or staff member typed.
    """
    text = str(value).replace("\r\n", "\n").replace("\r", "\n").strip() if value is not None else ""
    if not text:
        return Markup("")
    parts = []
    for block in _PARAGRAPH_BREAK.split(text):
        lines = [escape(line.strip()) for line in block.strip().split("\n")]
        parts.append(Markup("<p>") + Markup("<br>\n").join(lines) + Markup("</p>"))
    return Markup("\n").join(parts)


def safe_url(value: object) -> str:
    """Only http(s) links make it into an ``href``; anything else (``javascript:`` ...) is dropped."""
    text = str(value).strip() if value is not None else ""
    return text if text.lower().startswith(("http://", "https://")) else ""


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=select_autoescape(enabled_extensions=("html", "html.j2"), default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        vndate=vndate,
        vnday=vnday,
        long_date=long_date,
        department_name=department_name,
        channel_name=channel_name,
        oneline=oneline,
        excerpt=excerpt,
        indent_text=indent_text,
        paragraphs=paragraphs,
        safe_url=safe_url,
    )
    return env


def _company_defaults() -> dict[str, object]:
    from config.settings import get_settings  # late: rendering must not need settings when the caller passes them

    settings = get_settings()
    return {
        "hotline": settings.hotline,
        "company_name": settings.company_name,
        "company_address": settings.company_address,
        "reopen_window_days": max(1, round(settings.sla_reopen_window / timedelta(days=1))),
    }


def _prepare(context: Mapping[str, object], required: tuple[str, ...], language: Language) -> dict[str, object]:
    missing = [key for key in required if context.get(key) in (None, "")]
    if missing:
        raise ValueError(f"mail context is missing {', '.join(missing)}")
    values: dict[str, object] = dict.fromkeys(_OPTIONAL_KEYS)
    values["escalation_level"] = 0
    if not all(key in context for key in ("hotline", "company_name", "company_address", "reopen_window_days")):
        values.update(_company_defaults())
    values.update(context)
    values["lang"] = Language(language).value
    return values


def render_mail(purpose: str, language: Language, context: Mapping[str, object]) -> RenderedMail:
    """Render one mail of the complaint process in the customer's (or staff's) language.

    ``context`` holds at least ``complaint_id``, ``customer_name``, ``received_at`` and
    ``deadline``; ``reply`` also needs ``message``. Company details (hotline, name, address)
    and the reopen window default to the settings. ``lessons_learned`` is never handed to a
    customer-facing template.
    """
    if purpose not in MAIL_PURPOSES:
        raise ValueError(f"unknown mail purpose {purpose!r}; expected one of {sorted(MAIL_PURPOSES)}")
    language = Language(language)
    values = _prepare(context, _REQUIRED_KEYS + _PURPOSE_KEYS.get(purpose, ()), language)
    if purpose in CUSTOMER_PURPOSES:
        for key in _INTERNAL_ONLY_KEYS:
            values.pop(key, None)

    env = environment()
    text_template = env.get_template(f"mail/{purpose}.{language.value}.txt.j2")
    subject = oneline("".join(text_template.blocks["subject"](text_template.new_context(values))), limit=200)
    values["mail_subject"] = subject
    text = text_template.render(values)
    html = env.get_template(f"mail/{purpose}.{language.value}.html.j2").render(values)
    return RenderedMail(subject=subject, text=_tidy(text), html=html)


# Mails about no complaint (none was filed), to a sender whose language is unknown: one
# bilingual template each, ``mail/<purpose>.txt.j2`` / ``.html.j2``.
SENDER_PURPOSES: frozenset[str] = frozenset({"too_large"})


def render_sender_mail(purpose: str, context: Mapping[str, object]) -> RenderedMail:
    """Render a mail to the sender of a message that was not taken in (e.g. ``too_large``, with
    ``size_mb`` and ``limit_mb``); company details default to the settings. The text template has
    a ``subject`` and a ``body`` block."""
    if purpose not in SENDER_PURPOSES:
        raise ValueError(f"unknown sender mail {purpose!r}; expected one of {sorted(SENDER_PURPOSES)}")
    values: dict[str, object] = _company_defaults() | dict(context)
    env = environment()
    text_template = env.get_template(f"mail/{purpose}.txt.j2")
    subject = oneline("".join(text_template.blocks["subject"](text_template.new_context(values))), limit=200)
    values["mail_subject"] = subject
    body = "".join(text_template.blocks["body"](text_template.new_context(values)))
    html = env.get_template(f"mail/{purpose}.html.j2").render(values)
    return RenderedMail(subject=subject, text=_tidy(body), html=html)


# The letter has its own greeting ("Kính gửi: Quý khách …") and closing ("Trân trọng."): a draft
# that brings its own would print them twice.
_GREETING = re.compile(r"^\s*(kính gửi|kính thưa|dear)\b[^\n]{0,150}\n+", re.IGNORECASE)
# A closing line at the end, with at most two short lines after it (a name, a department).
_CLOSING = re.compile(
    r"\n+\s*(trân trọng|kính thư|yours sincerely|sincerely|best regards|kind regards|regards)\b[^\n]{0,20}"
    r"(\n[^\n]{0,60}){0,2}\s*$",
    re.IGNORECASE,
)


def letter_body(message: str) -> str:
    """The draft without its own greeting line and closing line (the letter adds both)."""
    text = message.replace("\r\n", "\n").strip()
    text = _GREETING.sub("", text, count=1)
    return _CLOSING.sub("", text, count=1).strip()


def render_letter(context: Mapping[str, object], language: Language) -> str:
    """The written answer to a complaint (``post``), as a print-ready A4 HTML document.

    ``context``: ``complaint_id``, ``customer_name``, ``message`` (the reply, paragraphs kept);
    optional ``customer_address``, ``received_at``, ``subject``, ``signer_name``,
    ``signer_title``, ``signed_at`` (without it the letter is marked as a draft), and the
    company details (default: settings).
    """
    language = Language(language)
    values = _prepare(context, ("complaint_id", "customer_name", "message"), language)
    values["message"] = letter_body(str(values["message"]))
    for key in ("received_at", "signer_name", "signer_title", "signed_at"):
        values.setdefault(key, None)
    return environment().get_template("letter.html.j2").render(values)


_BLANK_RUNS = re.compile(r"\n{3,}")


def _tidy(text: str) -> str:
    """Plain text: no trailing spaces, at most one blank line in a row, one final newline."""
    lines = [line.rstrip() for line in text.strip().splitlines()]
    return _BLANK_RUNS.sub("\n\n", "\n".join(lines)) + "\n"
