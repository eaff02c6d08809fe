"""Languages of the staff UI: Vietnamese (default) and English, through Babel catalogues.

The catalogues are ``admin/locale/<lang>/LC_MESSAGES/messages.po`` with English msgids. They
are compiled in memory on first use (``read_po`` → ``write_mo`` → ``Translations``), so there
is no build step and no ``.mo`` file in the repository.

Labels of the domain vocabularies (stages, roles, channels, ...) carry a message context
(``msgctxt``) naming the vocabulary, so a stage "Received" and a column header "Received"
can be translated differently.

Dates are shown as dd/mm/yyyy in Vietnam's time (UTC+7 all year, no daylight saving).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from enum import Enum
from io import BytesIO
from pathlib import Path
from typing import Any

import jinja2
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations
from jinja2 import pass_context
from jinja2.runtime import Context

from domain.access import DUE_SOON
from domain.customer_view import CustomerStage
from domain.sla import VN_TZ
from domain.transitions import RefusalCode
from domain.vocabulary import Category, Channel, Outcome, Priority, ReplyMethod, Role, Stage, SupervisorChoice

LANGUAGES: tuple[str, ...] = ("vi", "en")
DEFAULT_LANGUAGE = "vi"
DOMAIN = "messages"

HERE = Path(__file__).resolve().parent
LOCALE_DIR = HERE / "locale"
TEMPLATES_DIR = HERE / "templates"
STATIC_DIR = HERE / "static"

"""Asia/Ho_Chi_Minh: UTC+7 all year (Vietnam has no daylight saving time)."""


EMPTY = "—"


# --------------------------------------------------------------------------- catalogues


def normalize(lang: object) -> str:
    """A supported language code: ``"en"``, ``"en-US"``, ``"EN"`` → ``"en"``; anything else → ``"vi"``."""
    if isinstance(lang, str):
        code = lang.strip().lower().replace("_", "-").split("-", 1)[0]
        if code in LANGUAGES:
            return code
    return DEFAULT_LANGUAGE


def catalogue_path(lang: str) -> Path:
    return LOCALE_DIR / normalize(lang) / "LC_MESSAGES" / f"{DOMAIN}.po"


@functools.cache
def _compiled(lang: str) -> Translations:
    with catalogue_path(lang).open("rb") as po:
        catalog = read_po(po, locale=lang, domain=DOMAIN)
    buffer = BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(fp=buffer, domain=DOMAIN)


def translations(lang: str) -> Translations:
    """The compiled catalogue of ``lang`` (an unknown language gives Vietnamese); cached per language."""
    return _compiled(normalize(lang))


def _format(text: str, params: Mapping[str, Any]) -> str:
    return text % params if params else text


def gettext(lang: str, message: str, **params: Any) -> str:
    """``message`` (an English msgid) in ``lang``, with ``%(name)s`` placeholders filled from ``params``."""
    return _format(translations(lang).gettext(message), params)


def ngettext(lang: str, singular: str, plural: str, n: int, **params: Any) -> str:
    """The plural form for ``n`` in ``lang``; ``%(num)d`` is ``n`` unless ``params`` say otherwise."""
    return translations(lang).ngettext(singular, plural, n) % {"num": n, **params}


def pgettext(lang: str, context: str, message: str, **params: Any) -> str:
    """Like :func:`gettext` for a message with a ``msgctxt``."""
    return _format(str(translations(lang).pgettext(context, message)), params)


def translate(lang: str, text: object) -> str:
    """``text`` translated if it is a msgid of the catalogue, else unchanged; never %-formats.

    For strings handed to a template that may be either a msgid or already translated text
    (navigation labels, flash messages, error texts)."""
    if text is None:
        return ""
    value = str(text)
    return translations(lang).gettext(value) if value else value


# --------------------------------------------------------------------------- vocabularies

# (msgctxt, {value: English label}); the English label is the msgid.
_VOCABULARIES: dict[str, tuple[str, dict[str, str]]] = {
    "stage": (
        "stage",
        {
            Stage.RECEIVED: "Received",
            Stage.IN_PROGRESS: "In progress",
            Stage.ESCALATED: "Escalated",
            Stage.AWAITING_SIGNATURE: "Awaiting signature",
            Stage.READY_TO_REPLY: "Ready to reply",
            Stage.REPLIED: "Replied",
            Stage.CLOSED: "Closed",
        },
    ),
    "role": (
        "role",
        {
            Role.CS_AGENT: "Customer service agent",
            Role.DEPARTMENT_STAFF: "Department staff",
            Role.SUPERVISOR: "Supervisor",
            Role.MANAGER: "Manager",
            Role.ADMIN: "Administrator",
            Role.SYSTEM: "System",
        },
    ),
    "channel": (
        "channel",
        {
            Channel.LIVECHAT: "Live chat",
            Channel.PHONE: "Phone",
            Channel.EMAIL: "Email",
            Channel.POST: "Post (letter)",
            Channel.IN_PERSON: "In person",
            Channel.WEB: "Web form",
        },
    ),
    "category": (
        "category",
        {
            Category.SERVICE_QUALITY: "Service quality",
            Category.TECHNICAL: "Technical",
            Category.BILLING: "Billing",
            Category.SALES: "Sales",
            Category.STAFF_CONDUCT: "Staff conduct",
            Category.OTHER: "Other",
        },
    ),
    "priority": (
        "priority",
        {
            Priority.NORMAL: "Normal",
            Priority.HIGH: "High",
            Priority.URGENT: "Urgent",
        },
    ),
    "outcome": (
        "outcome",
        {
            Outcome.RESOLVED: "Resolved",
            Outcome.RESOLVED_ON_SPOT: "Resolved on the spot",
            Outcome.REJECTED: "Rejected",
        },
    ),
    "reply_method": (
        "reply method",
        {
            ReplyMethod.EMAIL: "Email",
            ReplyMethod.PHONE: "Phone call",
            ReplyMethod.LIVECHAT: "Live chat",
            ReplyMethod.IN_PERSON: "In person",
        },
    ),
    "supervisor_choice": (
        "supervisor choice",
        {
            SupervisorChoice.APPROVE: "Approve",
            SupervisorChoice.RETURN: "Return to the department",
            SupervisorChoice.REROUTE: "Send to another department",
        },
    ),
    # The stage as the customer reads it on the public status page (domain.customer_view).
    "customer_stage": (
        "customer stage",
        {
            CustomerStage.RECEIVED: "Received",
            CustomerStage.IN_PROGRESS: "In progress",
            CustomerStage.REPLIED: "Replied",
            CustomerStage.CLOSED: "Closed",
        },
    ),
    # A customer's language (for their mails and letters).
    "language": ("language", {"vi": "Vietnamese", "en": "English"}),
    # A mail's delivery status in the outbox (store.tables.OutboxMail.status).
    "mail_status": (
        "mail status",
        {
            "pending": "Waiting to be sent",
            "sending": "Sending",
            "sent": "Sent",
            "sent_unconfirmed": "Sent, not confirmed",
            "failed": "Not delivered",
            # the recipient's server sent it back (a bounce, read by the mail intake)
            "bounced": "Returned undelivered",
        },
    ),
    # The decision names of domain.transitions.TRANSITIONS (what a staff member can do).
    "decision": (
        "decision",
        {
            "verify": "Verify",
            "reject": "Reject",
            "resolve_on_spot": "Resolve on the spot",
            "reroute": "Reroute",
            "resolve": "Resolve",
            "escalate": "Escalate",
            "decide": "Decide",
            "sign_reply": "Sign the reply",
            "reply": "Reply to the customer",
            "close": "Close",
            "reopen": "Reopen",
            "note": "Add a note",
            "assign": "Assign",
            "customer_message": "Record a customer message",
            "edit_draft": "Edit the reply draft",
            "rate": "Rate the handling",
        },
    ),
    # Kinds of audit-trail events read from the workflow history (admin.services.complaints.AuditEvent.kind).
    "event": (
        "audit event",
        {
            "started": "Complaint received",
            "decision": "Decision",
            "signal": "Decision (signal)",
            "timer": "Deadline check",
            "completed": "Follow-up ended",
        },
    ),
    # Why a decision was refused, in words a staff member understands.
    "refusal": (
        "refusal",
        {
            RefusalCode.UNKNOWN_DECISION: "This action does not exist.",
            RefusalCode.WRONG_ROLE: "Your role does not allow this action.",
            RefusalCode.WRONG_DEPARTMENT: "This complaint is handled by another department; you cannot do this.",
            RefusalCode.WRONG_STAGE: (
                "This action is not possible at the complaint's current status. "
                "A colleague may have just updated it; please reload the page."
            ),
            RefusalCode.REOPEN_WINDOW_CLOSED: "The period for reopening this complaint has ended.",
            RefusalCode.ALREADY_RATED: "This closing of the complaint has already been rated.",
            RefusalCode.INVALID: "Some information is missing or invalid. Please check the form.",
        },
    ),
}

VOCABULARIES: tuple[str, ...] = tuple(_VOCABULARIES)


def _key(value: object) -> str:
    return str(value.value) if isinstance(value, Enum) else str(value)


def label(lang: str, vocabulary: str, value: object) -> str:
    """The translated name of ``value`` in ``vocabulary`` (one of :data:`VOCABULARIES`).

    ``None`` gives "—"; a value the vocabulary does not know is shown as it is."""
    if value is None or value == "":
        return EMPTY
    context, names = _VOCABULARIES[vocabulary]
    key = _key(value)
    msgid = names.get(key)
    return key if msgid is None else pgettext(lang, context, msgid)


def choices(lang: str, vocabulary: str) -> list[tuple[str, str]]:
    """``(value, label)`` pairs of a vocabulary, in its declared order (for ``<select>`` options)."""
    return [(_key(value), label(lang, vocabulary, value)) for value in _VOCABULARIES[vocabulary][1]]


def stage_label(lang: str, value: object) -> str:
    return label(lang, "stage", value)


def role_label(lang: str, value: object) -> str:
    return label(lang, "role", value)


def channel_label(lang: str, value: object) -> str:
    return label(lang, "channel", value)


def category_label(lang: str, value: object) -> str:
    return label(lang, "category", value)


def priority_label(lang: str, value: object) -> str:
    return label(lang, "priority", value)


def outcome_label(lang: str, value: object) -> str:
    return label(lang, "outcome", value)


def reply_method_label(lang: str, value: object) -> str:
    return label(lang, "reply_method", value)


def supervisor_choice_label(lang: str, value: object) -> str:
    return label(lang, "supervisor_choice", value)


def mail_status_label(lang: str, value: object) -> str:
    return label(lang, "mail_status", value)


def decision_label(lang: str, value: object) -> str:
    return label(lang, "decision", value)


def customer_stage_label(lang: str, value: object) -> str:
    return label(lang, "customer_stage", value)


def refusal_label(lang: str, code: object) -> str:
    return label(lang, "refusal", code)


def event_label(lang: str, kind: object) -> str:
    return label(lang, "event", kind)


LABELS: dict[str, Callable[[str, object], str]] = {
    "stage_label": stage_label,
    "role_label": role_label,
    "channel_label": channel_label,
    "category_label": category_label,
    "customer_stage_label": customer_stage_label,
    "priority_label": priority_label,
    "outcome_label": outcome_label,
    "reply_method_label": reply_method_label,
    "supervisor_choice_label": supervisor_choice_label,
    "mail_status_label": mail_status_label,
    "decision_label": decision_label,
    "refusal_label": refusal_label,
    "event_label": event_label,
}


# --------------------------------------------------------------------------- dates and durations


def _as_datetime(value: object) -> datetime | date | None:
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        value = datetime.fromisoformat(text.replace("Z", "+00:00")) if "T" in text or " " in text else None
        if value is None:
            return date.fromisoformat(text)
    if isinstance(value, (datetime, date)):
        return value
    return None


def to_vietnam(value: datetime) -> datetime:
    """``value`` in UTC+7; a naive datetime is taken as UTC (as the store keeps it)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(VN_TZ)


def vndate(value: object) -> str:
    """Format as "dd/mm/yyyy HH:MM" in Vietnam's time; a plain date gives "dd/mm/yyyy"; ``None`` gives "—"."""
    moment = _as_datetime(value)
    if moment is None:
        return EMPTY
    if isinstance(moment, datetime):
        return to_vietnam(moment).strftime("%d/%m/%Y %H:%M")
    return moment.strftime("%d/%m/%Y")


def vnday(value: object) -> str:
    """Format as "dd/mm/yyyy" (the day in Vietnam's time for a datetime); ``None`` gives "—"."""
    moment = _as_datetime(value)
    if moment is None:
        return EMPTY
    if isinstance(moment, datetime):
        moment = to_vietnam(moment)
    return moment.strftime("%d/%m/%Y")


def isoutc(value: object) -> str:
    """ISO 8601 in UTC with a ``Z`` (for ``data-deadline``); ``None`` gives ""."""
    moment = _as_datetime(value)
    if not isinstance(moment, datetime):
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _remaining(value: object, now: datetime | None = None) -> timedelta | None:
    """A duration from a timedelta, a number of seconds, or a deadline (datetime: deadline - now)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, timedelta):
        return value
    if isinstance(value, (int, float)):
        return timedelta(seconds=value)
    moment = _as_datetime(value)
    if isinstance(moment, datetime):
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment - (now or datetime.now(UTC))
    return None


def duration_amount(lang: str, delta: timedelta) -> str:
    """The size of ``delta`` (its sign ignored) in its two largest units: "3 ngày 4 giờ" / "3 days 4 hours"."""
    seconds = abs(int(delta.total_seconds()))
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes = rest // 60

    def days_(n: int) -> str:
        return ngettext(lang, "%(num)d day", "%(num)d days", n)

    def hours_(n: int) -> str:
        return ngettext(lang, "%(num)d hour", "%(num)d hours", n)

    def minutes_(n: int) -> str:
        return ngettext(lang, "%(num)d minute", "%(num)d minutes", n)

    if days:
        parts = [days_(days)] + ([hours_(hours)] if hours else [])
    elif hours:
        parts = [hours_(hours)] + ([minutes_(minutes)] if minutes else [])
    elif minutes:
        parts = [minutes_(minutes)]
    else:
        return gettext(lang, "less than a minute")
    return " ".join(parts)


def duration_left(lang: str, value: object, now: datetime | None = None) -> str:
    """Time left: "còn 3 ngày 4 giờ" / "3 days 4 hours left"; past it "quá hạn 2 ngày" / "2 days overdue".

    ``value`` is a timedelta, seconds, or a deadline (datetime, compared with ``now``); ``None`` gives "—"."""
    delta = _remaining(value, now)
    if delta is None:
        return EMPTY
    amount = duration_amount(lang, delta)
    if delta < timedelta(0):
        return gettext(lang, "%(amount)s overdue", amount=amount)
    return gettext(lang, "%(amount)s left", amount=amount)


def countdown_class(value: object, now: datetime | None = None) -> str:
    """``ok``, ``soon`` (less than :data:`DUE_SOON` left) or ``late``, as app.js sets on ``.countdown``."""
    delta = _remaining(value, now)
    if delta is None:
        return ""
    if delta < timedelta(0):
        return "late"
    return "soon" if delta < DUE_SOON else "ok"


# --------------------------------------------------------------------------- Jinja


def context_lang(context: Context) -> str:
    """The language of a render: the context variable ``lang`` (Vietnamese when absent or unknown)."""
    return normalize(context.get("lang"))


@pass_context
def _ctx_gettext(context: Context, message: str) -> str:
    return translations(context_lang(context)).gettext(message)


@pass_context
def _ctx_ngettext(context: Context, singular: str, plural: str, n: int) -> str:
    return translations(context_lang(context)).ngettext(singular, plural, n)


@pass_context
def _ctx_pgettext(context: Context, msgctxt: str, message: str) -> str:
    return str(translations(context_lang(context)).pgettext(msgctxt, message))


@pass_context
def _ctx_npgettext(context: Context, msgctxt: str, singular: str, plural: str, n: int) -> str:
    return str(translations(context_lang(context)).npgettext(msgctxt, singular, plural, n))


def _with_context_lang(func: Callable[[str, object], str]) -> Callable[..., str]:
    @pass_context
    def call(context: Context, value: object) -> str:
        return func(context_lang(context), value)

    call.__name__ = func.__name__
    call.__doc__ = func.__doc__
    return call


@pass_context
def _ctx_duration_left(context: Context, value: object) -> str:
    return duration_left(context_lang(context), value)


@pass_context
def _ctx_translate(context: Context, text: object) -> str:
    return translate(context_lang(context), text)


@pass_context
def _ctx_choices(context: Context, vocabulary: str) -> list[tuple[str, str]]:
    return choices(context_lang(context), vocabulary)


@pass_context
def _ctx_current_lang(context: Context) -> str:
    return context_lang(context)


def install(env: jinja2.Environment) -> None:
    """Make ``env`` speak the render's ``lang``.

    - ``{{ _("...") }}``, ``gettext``, ``ngettext``, ``pgettext``, ``npgettext`` (new-style: ``%(name)s``
      placeholders are filled from keyword arguments, ``ngettext`` gets ``num``), and ``{% trans %}``;
    - filters ``vndate``, ``vnday``, ``isoutc``, ``duration_left``, ``countdown_class``, ``translate``
      (a msgid or already translated text, never %-formatted), and each ``*_label``;
    - globals ``stage_label(value)``, ``role_label``, ``channel_label``, ``category_label``,
      ``priority_label``, ``outcome_label``, ``reply_method_label``, ``supervisor_choice_label``,
      ``decision_label``, ``refusal_label``, ``event_label``, ``mail_status_label``, ``choices(vocabulary)``,
      ``current_lang()``, ``LANGUAGES`` and ``due_soon_ms``.
    """
    env.add_extension("jinja2.ext.i18n")
    env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=_ctx_gettext,
        ngettext=_ctx_ngettext,
        newstyle=True,
        pgettext=_ctx_pgettext,
        npgettext=_ctx_npgettext,
    )
    labels = {name: _with_context_lang(func) for name, func in LABELS.items()}
    env.filters.update(
        vndate=vndate,
        vnday=vnday,
        isoutc=isoutc,
        duration_left=_ctx_duration_left,
        countdown_class=countdown_class,
        translate=_ctx_translate,
        **labels,
    )
    env.globals.update(
        choices=_ctx_choices,
        current_lang=_ctx_current_lang,
        LANGUAGES=LANGUAGES,
        # app.js colours a countdown amber below this (domain.access.DUE_SOON), read from <body>
        due_soon_ms=int(DUE_SOON.total_seconds() * 1000),
        **labels,
    )
