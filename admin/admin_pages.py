"""The dashboard, the administration pages (staff, departments, routing, SLA) and the viewer of
the local mail catcher. Server-rendered like ``admin.web``, and as thin: the numbers come from
the small query functions below, the access rules from ``_admin_access`` and ``_mail_access``.

Who sees what:
- ``/dashboard``: everyone signed in; department staff and supervisors see their department only
  (customer service, managers and administrators see all, as ``User.sees_all`` says).
- ``/admin/*``: administrators edit; managers read; everyone else is refused (403).
- ``/mails``: those who see all complaints (customer service, managers, administrators).
"""

from __future__ import annotations

import email.utils
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import EmailStr, TypeAdapter, ValidationError
from sqlalchemy import ColumnElement, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from admin import i18n
from admin.accounts import DEPARTMENT_ROLES
from admin.complaints_service import User
from admin.deps import SessionDep, SettingsDep
from admin.errors import ServiceError
from admin.web import CsrfChecked, OptionalUser, _require, render
from config.settings import Settings
from domain.sla import ONE_DAY, CalendarKind, vn_holidays
from domain.vocabulary import DEFAULT_ROUTING, OPEN_STAGES, Category, Role, Stage
from store.tables import Complaint, Department, RoutingRule, Staff

router = APIRouter(include_in_schema=False)

DEPARTMENT_CODE = re.compile(r"^[A-Z][A-Z0-9_]{1,19}$")
ASSIGNABLE_ROLES: tuple[Role, ...] = tuple(r for r in Role if r is not Role.SYSTEM)
ADMIN_TABS = [("/admin/staff", "Staff"), ("/admin/departments", "Departments"),
              ("/admin/routing", "Routing rules"), ("/admin/sla", "SLA policy")]  # fmt: skip
CLOSED_WINDOW = timedelta(days=30)
MAIL_LIST_LIMIT = 300
_EMAIL = TypeAdapter(EmailStr)
_DURATION = TypeAdapter(timedelta)


def _lang(user: User) -> str:
    return i18n.normalize(user.language)


def _form(raw: Any) -> dict[str, str]:
    return {k: v.strip() for k, v in raw.items() if isinstance(v, str)}


class Invalid(Exception):
    """Bad input on an administration form: re-render the page with this (translated) message, 422."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# =========================================================================== dashboard numbers


def scope_of(user: User) -> str | None:
    """The one department whose complaints ``user`` sees on the dashboard, or None for all."""
    return None if user.sees_all else (user.department or "")


def _where(scope: str | None, *conditions: ColumnElement[bool]) -> list[ColumnElement[bool]]:
    where = [Complaint.stage != Stage.CLOSED.value, *conditions]
    if scope is not None:
        where.append(Complaint.department_code == scope)
    return where


async def open_by_stage(session: AsyncSession, scope: str | None) -> dict[str, int]:
    query = select(Complaint.stage, func.count()).where(*_where(scope)).group_by(Complaint.stage)
    return {stage: count for stage, count in (await session.execute(query)).tuples()}


async def open_by_department(session: AsyncSession, scope: str | None) -> dict[str | None, int]:
    query = select(Complaint.department_code, func.count()).where(*_where(scope)).group_by(Complaint.department_code)
    return {code: count for code, count in (await session.execute(query)).tuples()}


def _overdue(now: datetime) -> ColumnElement[bool]:
    # The flag is set by the workflow's breach timer; the deadline tells even before it fires.
    return or_(Complaint.overdue.is_(True), Complaint.deadline < now)


async def overdue_open(session: AsyncSession, scope: str | None, now: datetime) -> int:
    return int(await session.scalar(select(func.count()).where(*_where(scope, _overdue(now)))) or 0)


async def due_soon_open(session: AsyncSession, scope: str | None, now: datetime) -> int:
    """Open, not overdue, and due within :data:`admin.i18n.DUE_SOON` (3 days)."""
    soon = (Complaint.deadline >= now) & (Complaint.deadline < now + i18n.DUE_SOON) & Complaint.overdue.is_(False)
    return int(await session.scalar(select(func.count()).where(*_where(scope, soon))) or 0)


async def closed_within_bound(session: AsyncSession, scope: str | None, now: datetime) -> tuple[int, int]:
    """(closed within their bound, closed) among complaints closed in the last 30 days."""
    within = func.sum(case((Complaint.closed_at <= Complaint.deadline, 1), else_=0))
    recently = Complaint.closed_at >= now - CLOSED_WINDOW
    query = select(func.count(), within).where(Complaint.stage == Stage.CLOSED.value, recently)
    if scope is not None:
        query = query.where(Complaint.department_code == scope)
    closed, in_bound = (await session.execute(query)).one()
    return int(in_bound or 0), int(closed or 0)


@dataclass(frozen=True)
class DepartmentCount:
    code: str | None
    name: str
    count: int


@dataclass(frozen=True)
class Dashboard:
    scope: str | None
    by_stage: list[tuple[str, int]]
    by_department: list[DepartmentCount]
    open_total: int
    overdue: int
    due_soon: int
    closed_in_bound: int
    closed: int

    @property
    def in_bound_percent(self) -> int | None:
        return round(100 * self.closed_in_bound / self.closed) if self.closed else None


async def _department_names(session: AsyncSession, lang: str) -> dict[str, str]:
    rows = (await session.scalars(select(Department).order_by(Department.code))).all()
    return {d.code: d.name_vi if lang == "vi" else d.name_en for d in rows}


async def dashboard(session: AsyncSession, user: User, now: datetime) -> Dashboard:
    scope = scope_of(user)
    stages = await open_by_stage(session, scope)
    departments = await open_by_department(session, scope)
    names = await _department_names(session, _lang(user))
    codes: list[str | None]
    if scope is not None:
        codes = [scope]
    else:  # every department (zero included), then codes the table no longer has, then the unassigned
        codes = [*names, *sorted(c for c in departments if c is not None and c not in names)]
        if None in departments:
            codes.append(None)
    in_bound, closed = await closed_within_bound(session, scope, now)
    return Dashboard(
        scope=scope,
        by_stage=[(s.value, stages.get(s.value, 0)) for s in Stage if s in OPEN_STAGES],
        by_department=[DepartmentCount(c, names.get(c, c) if c else "", departments.get(c, 0)) for c in codes],
        open_total=sum(stages.values()),
        overdue=await overdue_open(session, scope, now),
        due_soon=await due_soon_open(session, scope, now),
        closed_in_bound=in_bound,
        closed=closed,
    )


@router.get("/dashboard")
async def dashboard_page(request: Request, user: OptionalUser, session: SessionDep) -> Response:
    user = _require(user)
    now = datetime.now(UTC)
    numbers = await dashboard(session, user, now)
    return render(request, user, "dashboard.html", d=numbers, title="Dashboard", now=now)


# =========================================================================== administration: access


def _admin_access(user: User | None, *, edit: bool = False) -> tuple[User, bool]:
    """The user and whether they may edit; managers read, administrators edit, others are refused."""
    user = _require(user)
    if user.role is Role.ADMIN:
        return user, True
    if user.role is Role.MANAGER and not edit:
        return user, False
    if user.role is Role.MANAGER:
        raise ServiceError(403, "no_access", "Only administrators can change these settings.")
    raise ServiceError(403, "no_access", "Only administrators and managers can open the administration pages.")


def _tabs(request: Request) -> list[dict[str, Any]]:
    return [{"href": href, "label": label, "active": request.url.path == href} for href, label in ADMIN_TABS]


def _saved(request: Request) -> list[dict[str, str]]:
    return [{"kind": "success", "text": "Saved."}] if request.query_params.get("saved") else []


async def _departments(session: AsyncSession) -> list[Department]:
    return list((await session.scalars(select(Department).order_by(Department.code))).all())


async def _department_exists(session: AsyncSession, code: str) -> bool:
    return await session.get(Department, code) is not None


# =========================================================================== staff


@dataclass
class StaffRow:
    username: str
    full_name: str
    role: str
    department: str | None
    email: str | None
    active: bool
    has_password: bool
    has_token: bool


def _staff_row(staff: Staff) -> StaffRow:
    return StaffRow(staff.username, staff.full_name, staff.role, staff.department_code, staff.email, staff.active,
                    staff.password_hash is not None, staff.token_hash is not None)  # fmt: skip


async def _staff_page(
    request: Request, user: User, session: AsyncSession, can_edit: bool, status: int = 200, **extra: Any
) -> Response:
    rows = [_staff_row(s) for s in (await session.scalars(select(Staff).order_by(Staff.username))).all()]
    failed: StaffRow | None = extra.get("posted")
    if failed is not None:  # the refused row keeps what was typed
        rows = [failed if r.username == failed.username else r for r in rows]
    return render(request, user, "staff.html", status, rows=rows, can_edit=can_edit,
                  departments=await _departments(session), roles=[r.value for r in ASSIGNABLE_ROLES],
                  tabs=_tabs(request), messages=_saved(request), title="Staff", refusal=extra.get("refusal"),
                  failed=failed.username if failed else None)  # fmt: skip


@router.get("/admin/staff")
async def staff_page(request: Request, user: OptionalUser, session: SessionDep) -> Response:
    user, can_edit = _admin_access(user)
    return await _staff_page(request, user, session, can_edit)


async def _validated_staff(session: AsyncSession, user: User, staff: Staff, form: dict[str, str]) -> StaffRow:
    lang = _lang(user)
    full_name, email = form.get("full_name", ""), form.get("email", "")
    role, department = form.get("role", ""), form.get("department", "") or None
    row = StaffRow(staff.username, full_name, role, department, email or None, form.get("active") == "on",
                   staff.password_hash is not None, staff.token_hash is not None)  # fmt: skip
    try:
        if not 1 <= len(full_name) <= 200:
            raise Invalid(i18n.gettext(lang, "Enter a full name (at most 200 characters)."))
        if email:
            try:
                _EMAIL.validate_python(email)
            except ValidationError:
                raise Invalid(i18n.gettext(lang, "This is not a valid email address: %(value)s", value=email)) from None
        if role not in {r.value for r in ASSIGNABLE_ROLES}:
            raise Invalid(i18n.gettext(lang, "Choose a role from the list."))
        if department is not None and not await _department_exists(session, department):
            raise Invalid(i18n.gettext(lang, "There is no department %(code)s.", code=department))
        if Role(role) in DEPARTMENT_ROLES and department is None:
            raise Invalid(i18n.gettext(lang, "This role needs a department."))
        if staff.username == user.username and (role != Role.ADMIN.value or not row.active):
            raise Invalid(i18n.gettext(lang, "You cannot remove your own administrator access."))
    except Invalid as bad:
        raise _StaffRefused(row, bad.message) from None
    return row


class _StaffRefused(Exception):
    def __init__(self, row: StaffRow, message: str) -> None:
        super().__init__(message)
        self.row, self.message = row, message


@router.post("/admin/staff/{username}", dependencies=[CsrfChecked])
async def update_staff(request: Request, username: str, user: OptionalUser, session: SessionDep) -> Response:
    user, _ = _admin_access(user, edit=True)
    staff = await session.scalar(select(Staff).where(Staff.username == username))
    if staff is None:
        raise ServiceError(404, "not_found", "There is no such staff member.")
    try:
        row = await _validated_staff(session, user, staff, _form(await request.form()))
    except _StaffRefused as refused:
        message = f"{username}: {refused.message}"
        return await _staff_page(request, user, session, True, 422, refusal=message, posted=refused.row)
    staff.full_name, staff.email, staff.role = row.full_name, row.email, row.role
    staff.department_code, staff.active = row.department, row.active
    await session.commit()
    return RedirectResponse(f"/admin/staff?saved={username}", 303)


# =========================================================================== departments


@dataclass
class DepartmentRow:
    code: str
    name_vi: str
    name_en: str
    email: str | None
    staff: int = 0
    open: int = 0


async def _department_rows(session: AsyncSession) -> list[DepartmentRow]:
    staff = dict((await session.execute(select(Staff.department_code, func.count()).where(Staff.active.is_(True))
                                        .group_by(Staff.department_code))).tuples().all())  # fmt: skip
    opened = await open_by_department(session, None)
    return [DepartmentRow(d.code, d.name_vi, d.name_en, d.email, staff.get(d.code, 0), opened.get(d.code, 0))
            for d in await _departments(session)]  # fmt: skip


async def _departments_page(
    request: Request, user: User, session: AsyncSession, can_edit: bool, status: int = 200, **extra: Any
) -> Response:
    rows = await _department_rows(session)
    posted: DepartmentRow | None = extra.get("posted")
    failed = extra.get("failed")
    if posted is not None and failed != "new":
        rows = [posted if r.code == posted.code else r for r in rows]
    new = posted if posted is not None and failed == "new" else DepartmentRow("", "", "", None)
    return render(request, user, "departments.html", status, rows=rows, new=new, can_edit=can_edit,
                  tabs=_tabs(request), messages=_saved(request), title="Departments",
                  refusal=extra.get("refusal"), failed=failed)  # fmt: skip


@router.get("/admin/departments")
async def departments_page(request: Request, user: OptionalUser, session: SessionDep) -> Response:
    user, can_edit = _admin_access(user)
    return await _departments_page(request, user, session, can_edit)


def _department_fields(lang: str, form: dict[str, str], code: str) -> DepartmentRow:
    row = DepartmentRow(code, form.get("name_vi", ""), form.get("name_en", ""), form.get("email", "") or None)
    for value in (row.name_vi, row.name_en):
        if not 1 <= len(value) <= 200:
            raise _DepartmentRefused(row, i18n.gettext(lang, "Enter both names (at most 200 characters each)."))
    if row.email:
        try:
            _EMAIL.validate_python(row.email)
        except ValidationError:
            message = i18n.gettext(lang, "This is not a valid email address: %(value)s", value=row.email)
            raise _DepartmentRefused(row, message) from None
    return row


class _DepartmentRefused(Exception):
    def __init__(self, row: DepartmentRow, message: str) -> None:
        super().__init__(message)
        self.row, self.message = row, message


@router.post("/admin/departments", dependencies=[CsrfChecked])
async def add_department(request: Request, user: OptionalUser, session: SessionDep) -> Response:
    user, _ = _admin_access(user, edit=True)
    lang, form = _lang(user), _form(await request.form())
    code = form.get("code", "").upper()
    try:
        row = _department_fields(lang, form, code)
        if not DEPARTMENT_CODE.fullmatch(code):
            message = "The code must start with a letter and have 2 to 20 capital letters, digits or underscores."
            raise _DepartmentRefused(row, i18n.gettext(lang, message))
        if await _department_exists(session, code):
            raise _DepartmentRefused(row, i18n.gettext(lang, "A department with the code %(code)s exists.", code=code))
    except _DepartmentRefused as refused:
        return await _departments_page(request, user, session, True, 422, refusal=refused.message,
                                       posted=refused.row, failed="new")  # fmt: skip
    session.add(Department(code=row.code, name_vi=row.name_vi, name_en=row.name_en, email=row.email))
    await session.commit()
    return RedirectResponse(f"/admin/departments?saved={code}", 303)


@router.post("/admin/departments/{code}", dependencies=[CsrfChecked])
async def rename_department(request: Request, code: str, user: OptionalUser, session: SessionDep) -> Response:
    user, _ = _admin_access(user, edit=True)
    department = await session.get(Department, code)
    if department is None:
        raise ServiceError(404, "not_found", "There is no such department.")
    try:
        row = _department_fields(_lang(user), _form(await request.form()), code)
    except _DepartmentRefused as refused:
        return await _departments_page(request, user, session, True, 422, refusal=f"{code}: {refused.message}",
                                       posted=refused.row, failed=code)  # fmt: skip
    department.name_vi, department.name_en, department.email = row.name_vi, row.name_en, row.email
    await session.commit()
    return RedirectResponse(f"/admin/departments?saved={code}", 303)


# =========================================================================== routing rules


@dataclass(frozen=True)
class RoutingRow:
    category: str
    department: str
    default: str
    stored: bool  # False: no rule in the table, routing falls back to the default


async def _routing_rows(session: AsyncSession) -> list[RoutingRow]:
    rules = {r.category: r.department_code for r in (await session.scalars(select(RoutingRule))).all()}
    return [RoutingRow(c.value, rules.get(c.value, DEFAULT_ROUTING[c]), DEFAULT_ROUTING[c], c.value in rules)
            for c in Category]  # fmt: skip


async def _routing_page(
    request: Request, user: User, session: AsyncSession, can_edit: bool, status: int = 200, **extra: Any
) -> Response:
    return render(request, user, "routing.html", status, rows=await _routing_rows(session), can_edit=can_edit,
                  departments=await _departments(session), tabs=_tabs(request), messages=_saved(request),
                  title="Routing rules", refusal=extra.get("refusal"), failed=extra.get("failed"))  # fmt: skip


@router.get("/admin/routing")
async def routing_page(request: Request, user: OptionalUser, session: SessionDep) -> Response:
    user, can_edit = _admin_access(user)
    return await _routing_page(request, user, session, can_edit)


@router.post("/admin/routing", dependencies=[CsrfChecked])
async def change_routing(request: Request, user: OptionalUser, session: SessionDep) -> Response:
    user, _ = _admin_access(user, edit=True)
    lang, form = _lang(user), _form(await request.form())
    category, department = form.get("category", ""), form.get("department", "")
    if category not in {c.value for c in Category}:
        message = i18n.gettext(lang, "Choose a category from the list.")
        return await _routing_page(request, user, session, True, 422, refusal=message, failed=category)
    if not await _department_exists(session, department):
        message = i18n.gettext(lang, "There is no department %(code)s.", code=department)
        return await _routing_page(request, user, session, True, 422, refusal=message, failed=category)
    rule = await session.get(RoutingRule, category)
    if rule is None:
        session.add(RoutingRule(category=category, department_code=department))
    else:
        rule.department_code = department
    await session.commit()
    return RedirectResponse(f"/admin/routing?saved={category}", 303)


# =========================================================================== SLA policy (read-only)


@dataclass(frozen=True)
class SlaRow:
    label: str  # msgid
    setting: str  # the environment variable that sets it
    iso: str
    words: str
    explanation: str  # msgid


def iso_duration(value: timedelta) -> str:
    """ISO 8601, as the settings accept it: ``P20D``, ``PT1H30M``."""
    text: str = _DURATION.dump_python(value, mode="json")
    return text


def _in_words(lang: str, value: timedelta, working_days: bool) -> str:
    if working_days and value >= ONE_DAY and not value % ONE_DAY:
        days = value // ONE_DAY
        return i18n.ngettext(lang, "%(num)d working day", "%(num)d working days", days)
    return i18n.duration_amount(lang, value)


def sla_rows(settings: Settings, lang: str) -> list[SlaRow]:
    working = settings.sla_calendar is CalendarKind.VN_WORKING_DAYS
    entries = [
        ("Resolution bound", "COMPLAINTS_SLA_RESOLUTION", settings.sla_resolution, working,
         "The longest a complaint may stay open, from its receipt to its closing."),
        ("Warning", "COMPLAINTS_SLA_WARNING", settings.sla_warning, working,
         "After this, the department is warned that the bound is near."),
        ("First response", "COMPLAINTS_SLA_FIRST_RESPONSE", settings.sla_first_response, working,
         "Time to verify a new complaint before the supervisor is alerted."),
        ("Reopen window", "COMPLAINTS_SLA_REOPEN_WINDOW", settings.sla_reopen_window, False,
         "How long after closing a customer may have a complaint reopened (calendar time)."),
        ("Escalation repeat", "COMPLAINTS_SLA_ESCALATION_REPEAT", settings.sla_escalation_repeat, False,
         "While a complaint stays past its bound, it is escalated one level higher this often (calendar time)."),
    ]  # fmt: skip
    return [SlaRow(label, env, iso_duration(value), _in_words(lang, value, by_working_days), explanation)
            for label, env, value, by_working_days, explanation in entries]  # fmt: skip


@router.get("/admin/sla")
async def sla_page(request: Request, user: OptionalUser, settings: SettingsDep) -> Response:
    user, _ = _admin_access(user)
    today = datetime.now(i18n.VN_TZ).date()
    holidays: tuple[date, ...] = ()
    if settings.sla_calendar is CalendarKind.VN_WORKING_DAYS:
        holidays = vn_holidays([today.year])
    return render(request, user, "sla.html", rows=sla_rows(settings, _lang(user)), calendar=settings.sla_calendar.value,
                  holidays=holidays, year=today.year, tabs=_tabs(request), title="SLA policy")  # fmt: skip


# =========================================================================== the local mail catcher


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


def _mail_access(user: User | None) -> User:
    user = _require(user)
    if not (user.sees_all or user.role in (Role.ADMIN, Role.MANAGER)):
        raise ServiceError(403, "no_access", "Only customer service, managers and administrators can read this mail.")
    return user


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


@router.get("/mails")
async def mails_page(request: Request, user: OptionalUser, settings: SettingsDep) -> Response:
    user = _mail_access(user)
    directory = mail_dir(settings)
    mails, total = list_mails(directory)
    return render(request, user, "mails.html", mails=mails, total=total, exists=directory.is_dir(),
                  limit=MAIL_LIST_LIMIT, title="Mail")  # fmt: skip


@router.get("/mails/{name:path}")
async def mail_page(request: Request, name: str, user: OptionalUser, settings: SettingsDep) -> Response:
    user = _mail_access(user)
    try:
        view = read_mail(mail_path(mail_dir(settings), name))
    except OSError:  # removed (or unreadable) between the check and the read
        raise ServiceError(404, "not_found", "There is no such message.") from None
    return render(request, user, "mail.html", mail=view, title=view.summary.subject or "Mail")
