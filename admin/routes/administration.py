"""The administration pages: staff, departments, routing rules (administrators edit, managers
read: the ``AdminEditor`` and ``AdminReader`` dependencies) and the SLA policy (read-only)."""

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import EmailStr, TypeAdapter, ValidationError

from admin import i18n
from admin.accounts import DEPARTMENT_ROLES
from admin.deps import AdminEditor, AdministrationDep, AdminReader, CsrfChecked, SettingsDep
from admin.errors import ServiceError
from admin.rendering import render
from admin.services.administration import DepartmentRow, StaffRow
from admin.sign_in import utcnow
from admin.users import User
from config.settings import Settings
from domain.sla import ONE_DAY, CalendarKind, vn_holidays
from domain.vocabulary import Category, Role

router = APIRouter(include_in_schema=False)

DEPARTMENT_CODE = re.compile(r"^[A-Z][A-Z0-9_]{1,19}$")
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,99}$")
NEW_STAFF_FIELDS = ("username", "full_name", "email", "role", "department")
ASSIGNABLE_ROLES: tuple[Role, ...] = tuple(r for r in Role if r is not Role.SYSTEM)
ADMIN_TABS = [("/admin/staff", "Staff"), ("/admin/departments", "Departments"),
              ("/admin/routing", "Routing rules"), ("/admin/sla", "SLA policy"),
              ("/admin/canned-replies", "Canned replies")]  # fmt: skip
_EMAIL = TypeAdapter(EmailStr)
_DURATION = TypeAdapter(timedelta)


def _lang(user: User) -> str:
    return i18n.normalize(user.language)


def _form(raw: Any) -> dict[str, str]:
    return {k: v.strip() for k, v in raw.items() if isinstance(v, str)}


def _can_edit(user: User) -> bool:
    return user.role is Role.ADMIN


def _tabs(request: Request) -> list[dict[str, Any]]:
    return [{"href": href, "label": label, "active": request.url.path == href} for href, label in ADMIN_TABS]


def _saved(request: Request) -> list[dict[str, str]]:
    return [{"kind": "success", "text": "Saved."}] if request.query_params.get("saved") else []


class _Refused(Exception):
    """Bad input on an administration form: the page is shown again with this message and the row as typed."""

    def __init__(self, row: Any, message: str) -> None:
        super().__init__(message)
        self.row, self.message = row, message


# =========================================================================== staff


async def _staff_page(
    request: Request, user: User, admin: AdministrationDep, status: int = 200, **extra: Any
) -> Response:
    rows = await admin.staff_rows()
    failed: StaffRow | None = extra.get("posted")
    if failed is not None:  # the refused row keeps what was typed
        rows = [failed if r.username == failed.username else r for r in rows]
    response = render(request, user, "staff.html", status, rows=rows, can_edit=_can_edit(user),
                      departments=await admin.departments(), roles=[r.value for r in ASSIGNABLE_ROLES],
                      tabs=_tabs(request), messages=_saved(request), title="Staff", refusal=extra.get("refusal"),
                      failed=failed.username if failed else None, new=extra.get("new", {}),
                      field_errors=extra.get("field_errors", {}), issued=extra.get("issued"))  # fmt: skip
    if extra.get("issued"):  # a temporary password: shown once, never kept by a cache
        response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/admin/staff")
async def staff_page(request: Request, user: AdminReader, admin: AdministrationDep) -> Response:
    return await _staff_page(request, user, admin)


async def _validated_staff(admin: AdministrationDep, user: User, current: StaffRow, form: dict[str, str]) -> StaffRow:
    lang = _lang(user)
    full_name, email = form.get("full_name", ""), form.get("email", "")
    role, department = form.get("role", ""), form.get("department", "") or None
    row = StaffRow(current.username, full_name, role, department, email or None, form.get("active") == "on",
                   current.has_password, current.has_token)  # fmt: skip
    if not 1 <= len(full_name) <= 200:
        raise _Refused(row, i18n.gettext(lang, "Enter a full name (at most 200 characters)."))
    if email:
        try:
            _EMAIL.validate_python(email)
        except ValidationError:
            message = i18n.gettext(lang, "This is not a valid email address: %(value)s", value=email)
            raise _Refused(row, message) from None
    if role not in {r.value for r in ASSIGNABLE_ROLES}:
        raise _Refused(row, i18n.gettext(lang, "Choose a role from the list."))
    if department is not None and not await admin.department_exists(department):
        raise _Refused(row, i18n.gettext(lang, "There is no department %(code)s.", code=department))
    if Role(role) in DEPARTMENT_ROLES and department is None:
        raise _Refused(row, i18n.gettext(lang, "This role needs a department."))
    if current.username == user.username and (role != Role.ADMIN.value or not row.active):
        raise _Refused(row, i18n.gettext(lang, "You cannot remove your own administrator access."))
    return row


async def _new_staff_errors(admin: AdministrationDep, lang: str, form: dict[str, str]) -> dict[str, str]:
    """What is wrong with a new account's fields, {field: message in ``lang``}, to show beside each."""
    errors: dict[str, str] = {}
    username, email, role, department = (form.get(k, "") for k in ("username", "email", "role", "department"))
    if not USERNAME.fullmatch(username):
        message = "2 to 100 characters: lower-case letters, digits, dots, hyphens or underscores."
        errors["username"] = i18n.gettext(lang, message)
    elif await admin.staff(username) is not None:
        errors["username"] = i18n.gettext(lang, "The username %(value)s is taken.", value=username)
    if not 1 <= len(form.get("full_name", "")) <= 200:
        errors["full_name"] = i18n.gettext(lang, "Enter a full name (at most 200 characters).")
    if email:
        try:
            _EMAIL.validate_python(email)
        except ValidationError:
            errors["email"] = i18n.gettext(lang, "This is not a valid email address: %(value)s", value=email)
    if role not in {r.value for r in ASSIGNABLE_ROLES}:
        errors["role"] = i18n.gettext(lang, "Choose a role from the list.")
    if department and not await admin.department_exists(department):
        errors["department"] = i18n.gettext(lang, "There is no department %(code)s.", code=department)
    elif not department and role in {r.value for r in DEPARTMENT_ROLES}:
        errors["department"] = i18n.gettext(lang, "This role needs a department.")
    return errors


@router.post("/admin/staff", dependencies=[CsrfChecked])
async def add_staff(request: Request, user: AdminEditor, admin: AdministrationDep) -> Response:
    lang, raw = _lang(user), _form(await request.form())
    typed = {name: raw.get(name, "") for name in NEW_STAFF_FIELDS}
    typed["username"] = typed["username"].lower()
    if errors := await _new_staff_errors(admin, lang, typed):
        message = i18n.gettext(
            lang, "The account was not created: check the fields marked below. What you typed is kept."
        )
        return await _staff_page(request, user, admin, 422, refusal=message, new=typed, field_errors=errors)
    row = StaffRow(typed["username"], typed["full_name"], typed["role"], typed["department"] or None,
                   typed["email"] or None, True, True, False)  # fmt: skip
    password = await admin.create_staff(row)
    return await _staff_page(request, user, admin, 201, issued={"username": row.username, "password": password})


@router.post("/admin/staff/{username}/password", dependencies=[CsrfChecked])
async def reset_password(request: Request, username: str, user: AdminEditor, admin: AdministrationDep) -> Response:
    staff = await admin.staff(username)
    if staff is None:
        raise ServiceError(404, "not_found", "There is no such staff member.")
    password = await admin.reset_password(staff, utcnow())
    return await _staff_page(request, user, admin, issued={"username": username, "password": password})


@router.post("/admin/staff/{username}", dependencies=[CsrfChecked])
async def update_staff(request: Request, username: str, user: AdminEditor, admin: AdministrationDep) -> Response:
    staff = await admin.staff(username)
    if staff is None:
        raise ServiceError(404, "not_found", "There is no such staff member.")
    try:
        row = await _validated_staff(admin, user, StaffRow.of(staff), _form(await request.form()))
    except _Refused as refused:
        message = f"{username}: {refused.message}"
        return await _staff_page(request, user, admin, 422, refusal=message, posted=refused.row)
    await admin.save_staff(staff, row, utcnow())
    return RedirectResponse(f"/admin/staff?saved={username}", 303)


# =========================================================================== departments


async def _departments_page(
    request: Request, user: User, admin: AdministrationDep, status: int = 200, **extra: Any
) -> Response:
    rows = await admin.department_rows()
    posted: DepartmentRow | None = extra.get("posted")
    failed = extra.get("failed")
    if posted is not None and failed != "new":
        rows = [posted if r.code == posted.code else r for r in rows]
    new = posted if posted is not None and failed == "new" else DepartmentRow("", "", "", None)
    return render(request, user, "departments.html", status, rows=rows, new=new, can_edit=_can_edit(user),
                  tabs=_tabs(request), messages=_saved(request), title="Departments",
                  refusal=extra.get("refusal"), failed=failed)  # fmt: skip


@router.get("/admin/departments")
async def departments_page(request: Request, user: AdminReader, admin: AdministrationDep) -> Response:
    return await _departments_page(request, user, admin)


def _department_fields(lang: str, form: dict[str, str], code: str) -> DepartmentRow:
    row = DepartmentRow(code, form.get("name_vi", ""), form.get("name_en", ""), form.get("email", "") or None)
    for value in (row.name_vi, row.name_en):
        if not 1 <= len(value) <= 200:
            raise _Refused(row, i18n.gettext(lang, "Enter both names (at most 200 characters each)."))
    if row.email:
        try:
            _EMAIL.validate_python(row.email)
        except ValidationError:
            message = i18n.gettext(lang, "This is not a valid email address: %(value)s", value=row.email)
            raise _Refused(row, message) from None
    return row


@router.post("/admin/departments", dependencies=[CsrfChecked])
async def add_department(request: Request, user: AdminEditor, admin: AdministrationDep) -> Response:
    lang, form = _lang(user), _form(await request.form())
    code = form.get("code", "").upper()
    try:
        row = _department_fields(lang, form, code)
        if not DEPARTMENT_CODE.fullmatch(code):
            message = "The code must start with a letter and have 2 to 20 capital letters, digits or underscores."
            raise _Refused(row, i18n.gettext(lang, message))
        if await admin.department_exists(code):
            raise _Refused(row, i18n.gettext(lang, "A department with the code %(code)s exists.", code=code))
    except _Refused as refused:
        return await _departments_page(request, user, admin, 422, refusal=refused.message,
                                       posted=refused.row, failed="new")  # fmt: skip
    admin.add_department(row)
    await admin.commit()
    return RedirectResponse(f"/admin/departments?saved={code}", 303)


@router.post("/admin/departments/{code}", dependencies=[CsrfChecked])
async def rename_department(request: Request, code: str, user: AdminEditor, admin: AdministrationDep) -> Response:
    department = await admin.department(code)
    if department is None:
        raise ServiceError(404, "not_found", "There is no such department.")
    try:
        row = _department_fields(_lang(user), _form(await request.form()), code)
    except _Refused as refused:
        return await _departments_page(request, user, admin, 422, refusal=f"{code}: {refused.message}",
                                       posted=refused.row, failed=code)  # fmt: skip
    department.name_vi, department.name_en, department.email = row.name_vi, row.name_en, row.email
    await admin.commit()
    return RedirectResponse(f"/admin/departments?saved={code}", 303)


# =========================================================================== routing rules


async def _routing_page(
    request: Request, user: User, admin: AdministrationDep, status: int = 200, **extra: Any
) -> Response:
    return render(request, user, "routing.html", status, rows=await admin.routing_rows(), can_edit=_can_edit(user),
                  departments=await admin.departments(), tabs=_tabs(request), messages=_saved(request),
                  title="Routing rules", refusal=extra.get("refusal"), failed=extra.get("failed"))  # fmt: skip


@router.get("/admin/routing")
async def routing_page(request: Request, user: AdminReader, admin: AdministrationDep) -> Response:
    return await _routing_page(request, user, admin)


@router.post("/admin/routing", dependencies=[CsrfChecked])
async def change_routing(request: Request, user: AdminEditor, admin: AdministrationDep) -> Response:
    lang, form = _lang(user), _form(await request.form())
    category, department = form.get("category", ""), form.get("department", "")
    if category not in {c.value for c in Category}:
        message = i18n.gettext(lang, "Choose a category from the list.")
        return await _routing_page(request, user, admin, 422, refusal=message, failed=category)
    if not await admin.department_exists(department):
        message = i18n.gettext(lang, "There is no department %(code)s.", code=department)
        return await _routing_page(request, user, admin, 422, refusal=message, failed=category)
    await admin.set_route(category, department)
    await admin.commit()
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
async def sla_page(request: Request, user: AdminReader, settings: SettingsDep) -> Response:
    today = datetime.now(i18n.VN_TZ).date()
    holidays: tuple[date, ...] = ()
    if settings.sla_calendar is CalendarKind.VN_WORKING_DAYS:
        holidays = vn_holidays([today.year])
    return render(request, user, "sla.html", rows=sla_rows(settings, _lang(user)), calendar=settings.sla_calendar.value,
                  holidays=holidays, year=today.year, tabs=_tabs(request), title="SLA policy")  # fmt: skip
