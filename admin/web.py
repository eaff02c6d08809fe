"""The staff pages (server-rendered Jinja2): login, my work, the list, new complaint, the
complaint page with exactly the decisions its user may take. Thin over the service layer."""

import secrets
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import quote

import jinja2
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import or_, select

from admin import forms, i18n
from admin.complaints_service import ComplaintService, Filters, User
from admin.deps import ServiceDep, SessionDep, browser_session, optional_user
from admin.errors import ServiceError
from admin.security import SESSION_COOKIE, SESSION_MAX_AGE, verify_password
from admin.sign_in import close_session, locked, login_failed, login_succeeded, open_session, utcnow
from domain.models import ComplaintIntake, Customer
from domain.sla import VN_TZ
from domain.vocabulary import Role, Stage
from store.tables import Complaint, Department, Letter, Staff

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
                  "decision": "supervisor_choice"}.get(field)  # fmt: skip
    if vocabulary:
        return i18n.label(lang, vocabulary, value)
    if isinstance(value, bool):
        return i18n.gettext(lang, "Yes" if value else "No")
    return str(value)


templates.globals["value_label"] = _value_label
router = APIRouter(include_in_schema=False)
OptionalUser = Annotated[User | None, Depends(optional_user)]


class LoginRequired(Exception):
    pass


def _lang(request: Request, user: User | None) -> str:
    return i18n.normalize(user.language if user else request.cookies.get(LANG_COOKIE))


def _nav(user: User, path: str) -> list[dict[str, Any]]:
    items = [("/", "My work"), ("/complaints", "Complaints"), ("/complaints/new", "New complaint"),
             ("/dashboard", "Dashboard")]  # fmt: skip
    if user.sees_all:
        items.append(("/mails", "Mail"))
    if user.role in (Role.ADMIN, Role.MANAGER):
        items.append(("/admin/staff", "Administration"))
    return [{"href": href, "label": label, "active": path == href} for href, label in items]


def render(request: Request, user: User | None, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    session = browser_session(request)
    csrf = session.csrf if session else request.cookies.get(PRELOGIN_CSRF, "")
    base = {
        "request": request, "lang": _lang(request, user), "user": user, "csrf_token": csrf,
        "nav": _nav(user, request.url.path) if user else [], "messages": [], "now": datetime.now(UTC),
    }  # fmt: skip
    html = templates.get_template(name).render(base | context)
    return HTMLResponse(html, status_code=status)


def _require(user: User | None) -> User:
    if user is None:
        raise LoginRequired
    return user


async def _csrf(request: Request) -> None:
    form = await request.form()
    token = form.get("csrf_token")
    session = browser_session(request)
    expected = session.csrf if session else request.cookies.get(PRELOGIN_CSRF)
    if not (isinstance(token, str) and expected and secrets.compare_digest(token, expected)):
        raise ServiceError(403, "csrf", "The form has expired. Please try again.")


CsrfChecked = Depends(_csrf)


# --- signing in and out ---


@router.get("/login")
async def login_page(request: Request, user: OptionalUser) -> Response:
    if user:
        return RedirectResponse("/", 303)
    # Before login there is no session: the CSRF token rides in its own cookie (double submit).
    token = request.cookies.get(PRELOGIN_CSRF) or secrets.token_urlsafe(24)
    response = render(request, None, "login.html", error=None, csrf_token=token)
    response.set_cookie(PRELOGIN_CSRF, token, httponly=True, samesite="strict",
                        secure=request.app.state.settings.secure_cookies)  # fmt: skip
    return response


@router.post("/login", dependencies=[CsrfChecked])
async def login(
    request: Request, session: SessionDep, username: Annotated[str, Form()], password: Annotated[str, Form()]
) -> Response:
    throttle = request.app.state.throttle
    address = request.client.host if request.client else "?"
    if throttle.blocked(username, address):
        return render(request, None, "login.html", 429, error="Too many attempts. Try again in a few minutes.")
    now = utcnow()
    staff = await session.scalar(select(Staff).where(Staff.username == username, Staff.active))
    if staff is not None and (until := locked(staff, now)):
        # Refused even with the right password: repeated failures lock the account for a while.
        lang = i18n.normalize(request.cookies.get(LANG_COOKIE))
        message = i18n.gettext(lang, "This account is locked after repeated failed logins until %(time)s.",
                               time=until.astimezone(VN_TZ).strftime("%H:%M"))  # fmt: skip
        return render(request, None, "login.html", 423, error=message)
    if staff is None or not verify_password(staff.password_hash, password):
        throttle.failed(username, address)
        if staff is not None:
            login_failed(staff, now)
            await session.commit()
        return render(request, None, "login.html", 401, error="Wrong username or password.")
    throttle.succeeded(username)
    login_succeeded(staff)
    # A new session id and CSRF token at each login (never the pre-login ones: no fixation).
    cookie, new_session = request.app.state.signer.dump(staff.username)
    await open_session(session, new_session, now)
    await session.commit()
    response = RedirectResponse("/", 303)
    response.set_cookie(SESSION_COOKIE, cookie, httponly=True, samesite="lax",
                        secure=request.app.state.settings.secure_cookies, max_age=SESSION_MAX_AGE)  # fmt: skip
    response.delete_cookie(PRELOGIN_CSRF)
    return response


@router.post("/logout", dependencies=[CsrfChecked])
async def logout(request: Request, session: SessionDep) -> Response:
    current = browser_session(request)
    if current is not None:  # revoked in the store: a copy of the cookie stops working too
        await close_session(session, current, utcnow())
        await session.commit()
    response = RedirectResponse("/login", 303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.post("/language", dependencies=[CsrfChecked])
async def language(
    request: Request, session: SessionDep, user: OptionalUser, lang: Annotated[str, Form()], next: str = Form("/")
) -> Response:
    lang = i18n.normalize(lang)
    # Local paths only: "//host" and "/\\host" would send the user to another site.
    target = next if next.startswith("/") and not next.startswith("//") and "\\" not in next else "/"
    response = RedirectResponse(target, 303)
    if user:  # remembered per user
        staff = await session.scalar(select(Staff).where(Staff.username == user.username))
        if staff:
            staff.language = lang
            await session.commit()
    response.set_cookie(LANG_COOKIE, lang, httponly=True, samesite="lax", max_age=365 * 86400)
    return response


# --- work ---


def _work_filters(user: User) -> list[tuple[str, Any]]:
    """The queues on a user's landing page: (title msgid, where clause)."""
    mine = Complaint.department_code == user.department
    soon = datetime.now(UTC) + timedelta(days=3)
    match user.role:
        case Role.CS_AGENT:
            return [
                ("To verify", Complaint.stage == Stage.RECEIVED),
                ("Ready to reply", Complaint.stage == Stage.READY_TO_REPLY),
            ]
        case Role.DEPARTMENT_STAFF:
            return [
                ("To resolve", mine & (Complaint.stage == Stage.IN_PROGRESS)),
                ("To close", mine & (Complaint.stage == Stage.REPLIED)),
            ]
        case Role.SUPERVISOR:
            return [("Escalated", mine & (Complaint.stage == Stage.ESCALATED)),
                    ("Awaiting signature", mine & (Complaint.stage == Stage.AWAITING_SIGNATURE))]  # fmt: skip
        case _:
            return [
                (
                    "Overdue and due soon",
                    (Complaint.stage != Stage.CLOSED) & or_(Complaint.overdue, Complaint.deadline < soon),
                )
            ]


@router.get("/")
async def my_work(request: Request, user: OptionalUser, session: SessionDep) -> Response:
    user = _require(user)
    queues = []
    for title, where in _work_filters(user):
        rows = (await session.scalars(select(Complaint).where(where).order_by(Complaint.deadline).limit(100))).all()
        queues.append({"title": title, "rows": rows})
    return render(request, user, "work.html", queues=queues, title="My work")


@router.get("/complaints")
async def complaint_list(request: Request, user: OptionalUser, service: ServiceDep) -> Response:
    user = _require(user)
    q = request.query_params
    overdue = {"true": True, "false": False}.get(q.get("overdue", ""))
    filters = Filters(stage=q.get("stage") or None, department=q.get("department") or None,
                      category=q.get("category") or None, channel=q.get("channel") or None, overdue=overdue,
                      q=(q.get("q") or "").strip() or None, received_from=_day(q.get("from")),
                      received_to=_day(q.get("to"), next_day=True))  # fmt: skip
    page = await service.search(user, filters, q.get("after") or None)
    args = "&".join(f"{k}={quote(v)}" for k, v in q.items() if k != "after" and v)
    next_url = f"/complaints?{args}&after={page.next_cursor}" if page.next_cursor else None
    return render(request, user, "list.html", rows=page.items, filters=q, next_url=next_url, title="Complaints",
                  departments=await _departments(service))  # fmt: skip


def _day(value: str | None, next_day: bool = False) -> datetime | None:
    """A yyyy-mm-dd date from the filter form, as the start of that day in Vietnam (or the next)."""
    try:
        day = datetime.strptime(value or "", "%Y-%m-%d").replace(tzinfo=i18n.VN_TZ)
    except ValueError:
        return None
    return day + timedelta(days=1) if next_day else day


async def _departments(service: ComplaintService) -> list[Department]:
    return list((await service.session.scalars(select(Department).order_by(Department.code))).all())


@router.get("/complaints/new")
async def new_complaint_page(request: Request, user: OptionalUser) -> Response:
    # a key per form: submitting it twice (double click, reload) files one complaint
    values = {"form_key": secrets.token_hex(8)}
    return render(request, _require(user), "new.html", error=None, values=values, title="New complaint")


@router.post("/complaints/new", dependencies=[CsrfChecked])
async def new_complaint(request: Request, user: OptionalUser, service: ServiceDep) -> Response:
    user = _require(user)
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    try:
        intake = ComplaintIntake(
            channel=form.get("channel"),  # type: ignore[arg-type]
            customer=Customer(
                name=form.get("name", ""),
                email=form.get("email") or None,
                phone=form.get("phone") or None,
                address=form.get("address") or None,
                language=form.get("language") or "vi",
            ),
            subject=form.get("subject", ""),
            body=form.get("body", ""),
            received_at=form.get("received_at") or None,  # type: ignore[arg-type]
            intake_key=f"web:{user.username}:{form.get('form_key')}" if form.get("form_key") else None,
        )
    except ValidationError as exc:
        error = exc.errors()[0]
        field = str(error["loc"][-1]) if error["loc"] else "body"
        lang = _lang(request, user)
        label = i18n.gettext(lang, forms.LABELS.get(field, field.capitalize()))
        message = i18n.gettext(lang, "Check this field: %(field)s", field=label)
        return render(request, user, "new.html", 422, error=message, values=form, title="New complaint")
    filed = await service.file(user, intake)
    return RedirectResponse(f"/complaints/{filed.complaint_id}?filed={'new' if filed.created else 'again'}", 303)


@router.get("/complaints/{complaint_id}")
async def complaint_page(request: Request, complaint_id: str, user: OptionalUser, service: ServiceDep) -> Response:
    return await _complaint(request, _require(user), service, complaint_id)


async def _complaint(
    request: Request, user: User, service: ComplaintService, complaint_id: str, status: int = 200, **extra: Any
) -> Response:
    state = await service.state(user, complaint_id)
    actions = service.actions(user, state)
    return render(
        request, user, "complaint.html", status,
        state=state, actions=[(name, forms.fields(name)) for name in actions],
        mails=await service.mails(user, complaint_id), departments=await _departments(service),
        events=await service.history(user, complaint_id),
        notes=[e for e in state.log if e.action == "note"],
        temporal_url=f"{service.settings.temporal_ui_url}/namespaces/{service.settings.temporal_namespace}"
        f"/workflows/{complaint_id}",
        filed=request.query_params.get("filed"), done=request.query_params.get("done"),
        refusal=extra.get("refusal"), failed_action=extra.get("failed_action"), title=complaint_id,
        may_anonymise=await service.anonymise_refusal(user, state) is None,
        anonymised=await service.anonymised(complaint_id),
    )  # fmt: skip


@router.post("/complaints/{complaint_id}/actions/{decision}", dependencies=[CsrfChecked])
async def decide(
    request: Request, complaint_id: str, decision: str, user: OptionalUser, service: ServiceDep
) -> Response:
    user = _require(user)
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    if decision not in forms.TRANSITIONS:
        raise ServiceError(404, "unknown_decision", decision)
    try:
        await service.decide(user, complaint_id, decision, forms.payload_from_form(decision, form))
    except ServiceError as refused:
        if refused.status in (403, 409, 422):
            return await _complaint(request, user, service, complaint_id, refused.status,
                                    refusal=refused, failed_action=decision)  # fmt: skip
        raise
    return RedirectResponse(f"/complaints/{complaint_id}?done={decision}", 303)


@router.post("/complaints/{complaint_id}/anonymise", dependencies=[CsrfChecked])
async def anonymise(
    request: Request, complaint_id: str, user: OptionalUser, service: ServiceDep, reason: Annotated[str, Form()] = ""
) -> Response:
    """A customer's personal data request, carried out by a manager (see ComplaintService.anonymise)."""
    user = _require(user)
    try:
        if len(reason.strip()) < 3:
            raise ServiceError(422, "invalid", "reason: give the customer's request")
        await service.anonymise(user, complaint_id, reason.strip())
    except ServiceError as refused:
        if refused.status in (403, 409, 422):
            return await _complaint(request, user, service, complaint_id, refused.status,
                                    refusal=refused, failed_action="anonymise")  # fmt: skip
        raise
    return RedirectResponse(f"/complaints/{complaint_id}?done=anonymise", 303)


@router.get("/complaints/{complaint_id}/letter")
async def letter(complaint_id: str, user: OptionalUser, service: ServiceDep) -> Response:
    """The supervisor-signed written reply as issued (print-ready HTML, no script)."""
    await service.state(_require(user), complaint_id)
    issued = await service.session.scalar(
        select(Letter).where(Letter.complaint_id == complaint_id).order_by(Letter.seq.desc()).limit(1)
    )
    if issued is None:
        raise ServiceError(404, "not_found", f"no letter for {complaint_id}")
    # The letter carries its own print styles; it may not run script nor be framed elsewhere.
    csp = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'"
    return HTMLResponse(issued.html, headers={"Content-Security-Policy": csp})


@router.get("/complaints/{complaint_id}/history.json")
async def raw_history(complaint_id: str, user: OptionalUser, service: ServiceDep) -> Response:
    body = await service.raw_history(_require(user), complaint_id)
    return Response(body, media_type="application/json",
                    headers={"Content-Disposition": f'attachment; filename="{complaint_id}-history.json"'})  # fmt: skip
