"""Typed FastAPI dependencies, in the manner of the FastAPI full-stack template's ``deps.py``:
the database session, the settings, the services, and who is asking, with authorisation
itself as a dependency (a route that takes ``AdminEditor`` cannot run for anyone else)."""

import secrets
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from admin import i18n, limits
from admin.errors import ServiceError
from admin.forms import LABELS
from admin.rendering import LANG_COOKIE, PRELOGIN_CSRF
from admin.security import SESSION_COOKIE, Session, hash_token
from admin.services.administration import AdministrationService
from admin.services.attachments import AttachmentService
from admin.services.canned_replies import CannedReplies
from admin.services.complaints import ComplaintService
from admin.services.dashboard import DashboardService
from admin.services.queues import queue_counts
from admin.services.staff_directory import StaffDirectory
from admin.services.views import SavedViews
from admin.sign_in import session_valid, utcnow
from admin.users import User
from config.settings import Settings
from domain import access
from domain.vocabulary import Role


class LoginRequired(Exception):
    """A page was asked for without a session: the app redirects to the login page."""


class PasswordChangeRequired(Exception):
    """The account signed in with a temporary password: the app redirects to "choose a new password"."""


PASSWORD_PAGE = "/password"


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.sessions() as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]


def browser_session(request: Request) -> Session | None:
    session: Session | None = request.app.state.signer.load(request.cookies.get(SESSION_COOKIE))
    return session


def bearer_token(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer`` header. With one, the token alone authenticates;
    with any other header (or none) the session cookie does, and writes need its CSRF token."""
    header = request.headers.get("authorization", "")
    return header[7:].strip() if header.lower().startswith("bearer ") else None


async def optional_user(request: Request, session: SessionDep) -> User | None:
    """The user of a bearer token or of the session cookie, if any."""
    directory = StaffDirectory(session)
    token = bearer_token(request)
    if token is not None:
        staff = await directory.active_by_token_hash(hash_token(token))
        if staff is None:
            raise ServiceError(401, "unauthorized", "invalid or revoked API token")
        return User.of(staff)
    cookie = browser_session(request)
    if cookie is None or not await session_valid(session, cookie, utcnow()):
        return None
    staff = await directory.active_by_username(cookie.username)
    return User.of(staff) if staff else None


OptionalUser = Annotated[User | None, Depends(optional_user)]


async def current_user(user: OptionalUser) -> User:
    """API callers: 401 without a token or session; 403 until a temporary password is replaced."""
    if user is None:
        raise ServiceError(401, "unauthorized", "log in or send a bearer token")
    if user.must_change_password:
        raise ServiceError(403, "password_change_required", "choose a new password first (/password)")
    return user


async def password_changer(user: OptionalUser) -> User:
    """The "choose a new password" page: any signed-in person, a temporary password or not."""
    if user is None:
        raise LoginRequired
    return user


PasswordChanger = Annotated[User, Depends(password_changer)]


async def current_staff(request: Request, user: PasswordChanger, session: SessionDep) -> User:
    """Page visitors: to the login page without a session, to "choose a new password" with a
    temporary one. A page shown gets the counts of the user's queues for its menu."""
    if user.must_change_password:
        raise PasswordChangeRequired
    if request.method == "GET":
        request.state.queue_counts = await queue_counts(session, user.actor)
    return user


CurrentUser = Annotated[User, Depends(current_user)]
CurrentStaff = Annotated[User, Depends(current_staff)]


async def administration_reader(user: CurrentStaff) -> User:
    """Managers read the administration pages; administrators edit them; nobody else opens them."""
    if user.role not in (Role.ADMIN, Role.MANAGER):
        raise ServiceError(403, "no_access", "Only administrators and managers can open the administration pages.")
    return user


async def administration_editor(user: CurrentStaff) -> User:
    if user.role is not Role.ADMIN:
        raise ServiceError(403, "no_access", "Only administrators can change these settings.")
    return user


async def canned_reply_editor(user: CurrentStaff) -> User:
    """Canned replies are the managers' (and administrators') to keep: wording, not settings."""
    if user.role not in (Role.ADMIN, Role.MANAGER):
        raise ServiceError(403, "no_access", "Only administrators and managers can change canned replies.")
    return user


async def mail_reader(user: CurrentStaff) -> User:
    if not access.reads_all_mail(user.actor):
        raise ServiceError(403, "no_access", "Only customer service, managers and administrators can read this mail.")
    return user


async def auditor(user: CurrentStaff) -> User:
    if not access.reads_raw_history(user.actor):
        raise ServiceError(403, "no_access", "Only supervisors, managers and administrators can read the raw history.")
    return user


AdminReader = Annotated[User, Depends(administration_reader)]
Auditor = Annotated[User, Depends(auditor)]
AdminEditor = Annotated[User, Depends(administration_editor)]
CannedReplyEditor = Annotated[User, Depends(canned_reply_editor)]
MailReader = Annotated[User, Depends(mail_reader)]


async def _csrf(request: Request) -> None:
    """Every form carries the session's CSRF token (before login: the double-submit cookie's),
    and no field longer than its limit (``admin.limits``): checked before anything reads it."""
    form = await request.form()
    if over := limits.too_long(form):
        name, limit = over
        lang = i18n.normalize(request.cookies.get(LANG_COOKIE))
        label = i18n.gettext(lang, LABELS.get(name, name))
        message = i18n.gettext(lang, "%(field)s: at most %(max)d characters.", field=label, max=limit)
        raise ServiceError(422, "too_long", message, field=name)
    token = form.get("csrf_token")
    session = browser_session(request)
    expected = session.csrf if session else request.cookies.get(PRELOGIN_CSRF)
    if not (isinstance(token, str) and expected and secrets.compare_digest(token, expected)):
        raise ServiceError(403, "csrf", "The form has expired. Please try again.")


CsrfChecked = Depends(_csrf)


def get_service(request: Request, session: SessionDep, settings: SettingsDep) -> ComplaintService:
    return ComplaintService(session, request.app.state.temporal, settings)


def get_dashboard(session: SessionDep) -> DashboardService:
    return DashboardService(session)


def get_administration(session: SessionDep) -> AdministrationService:
    return AdministrationService(session)


def get_canned_replies(session: SessionDep) -> CannedReplies:
    return CannedReplies(session)


def get_directory(session: SessionDep) -> StaffDirectory:
    return StaffDirectory(session)


def get_views(session: SessionDep) -> SavedViews:
    return SavedViews(session)


ServiceDep = Annotated[ComplaintService, Depends(get_service)]


def get_attachments(request: Request, service: ServiceDep) -> AttachmentService:
    return AttachmentService(service, request.app.state.attachments)


AttachmentsDep = Annotated[AttachmentService, Depends(get_attachments)]
DashboardDep = Annotated[DashboardService, Depends(get_dashboard)]
AdministrationDep = Annotated[AdministrationService, Depends(get_administration)]
CannedRepliesDep = Annotated[CannedReplies, Depends(get_canned_replies)]
DirectoryDep = Annotated[StaffDirectory, Depends(get_directory)]
ViewsDep = Annotated[SavedViews, Depends(get_views)]
