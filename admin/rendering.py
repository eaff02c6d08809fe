"""Rendering a staff page: the Jinja2 environment (Vietnamese by default, English on a
toggle), the menu of the user's role, and the context every page shares."""

from datetime import UTC, datetime
from typing import Any

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse

from admin import forms, i18n
from admin.security import SESSION_COOKIE
from admin.services.queues import QueueCount
from admin.users import User
from domain import access
from domain.vocabulary import Role

LANG_COOKIE, PRELOGIN_CSRF = "kn_lang", "kn_csrf"
templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(i18n.TEMPLATES_DIR), autoescape=True, undefined=jinja2.StrictUndefined
)
i18n.install(templates)
templates.globals["field_labels"] = forms.LABELS


@jinja2.pass_context
def _value_label(context: Any, field: str, value: Any) -> str:
    """A decision field's value as staff read it: vocabulary values by their translated names."""
    lang = i18n.normalize(context.get("lang"))
    vocabulary = {"category": "category", "priority": "priority", "method": "reply_method",
                  "decision": "supervisor_choice", "via": "channel"}.get(field)  # fmt: skip
    if vocabulary:
        return i18n.label(lang, vocabulary, value)
    if isinstance(value, bool):
        return i18n.gettext(lang, "Yes" if value else "No")
    return str(value)


templates.globals["value_label"] = _value_label


def _sla_badges(row: Any) -> list[str]:
    """A listed complaint's SLA badges now (``domain.access.sla_badges``)."""
    return access.sla_badges(
        row.stage, row.overdue, row.deadline, row.first_response_due, row.warned, datetime.now(UTC)
    )


templates.globals["sla_badges"] = _sla_badges


def language(request: Request, user: User | None) -> str:
    return i18n.normalize(user.language if user else request.cookies.get(LANG_COOKIE))


def _nav(user: User, path: str, counts: list[QueueCount]) -> list[dict[str, Any]]:
    items = [("/", "My work"), ("/complaints", "Complaints"), ("/complaints/new", "New complaint"),
             ("/dashboard", "Dashboard")]  # fmt: skip
    if access.reads_all_mail(user.actor):
        items.append(("/mails", "Mail"))
    if user.role in (Role.ADMIN, Role.MANAGER):
        items.append(("/admin/staff", "Administration"))
    if user.must_change_password:  # nothing else opens until a new password is chosen
        return []
    # "My work" carries the count of each of the user's queues (app.js refreshes them).
    return [{"href": href, "label": label, "active": path == href, "counts": counts if href == "/" else []}
            for href, label in items]  # fmt: skip


def _csrf_token(request: Request) -> str:
    cookie = request.cookies.get(SESSION_COOKIE)
    session = request.app.state.signer.load(cookie)
    return session.csrf if session else request.cookies.get(PRELOGIN_CSRF, "")


def render(request: Request, user: User | None, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    counts: list[QueueCount] = getattr(request.state, "queue_counts", [])  # set by admin.deps.current_staff
    base = {
        "request": request, "lang": language(request, user), "user": user, "csrf_token": _csrf_token(request),
        "nav": _nav(user, request.url.path, counts) if user else [], "messages": [], "now": datetime.now(UTC),
    }  # fmt: skip
    html = templates.get_template(name).render(base | context)
    return HTMLResponse(html, status_code=status)
