"""Signing in and out, and the language toggle (remembered per user)."""

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from admin import i18n
from admin.deps import CsrfChecked, DirectoryDep, OptionalUser, SessionDep, browser_session
from admin.rendering import LANG_COOKIE, PRELOGIN_CSRF, render
from admin.security import SESSION_COOKIE, SESSION_MAX_AGE, verify_password
from admin.sign_in import close_session, locked, login_failed, login_succeeded, open_session, utcnow
from domain.sla import VN_TZ

router = APIRouter(include_in_schema=False)


def local_path(target: str | None) -> str:
    """A path on this site, else "/": "//host" and "/\\host" would send the user elsewhere."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


@router.get("/login")
async def login_page(request: Request, user: OptionalUser) -> Response:
    if user:
        return RedirectResponse("/", 303)
    # Before login there is no session: the CSRF token rides in its own cookie (double submit).
    token = request.cookies.get(PRELOGIN_CSRF) or secrets.token_urlsafe(24)
    asked = local_path(request.query_params.get("next"))
    response = render(request, None, "login.html", error=None, csrf_token=token, return_to=asked)
    response.set_cookie(PRELOGIN_CSRF, token, httponly=True, samesite="strict",
                        secure=request.app.state.settings.secure_cookies)  # fmt: skip
    return response


@router.post("/login", dependencies=[CsrfChecked])
async def login(
    request: Request,
    session: SessionDep,
    directory: DirectoryDep,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/",
) -> Response:
    throttle = request.app.state.throttle
    address = request.client.host if request.client else "?"
    if throttle.blocked(username, address):
        return render(request, None, "login.html", 429, error="Too many attempts. Try again in a few minutes.",
                      return_to=local_path(next))  # fmt: skip
    now = utcnow()
    staff = await directory.active_by_username(username)
    if staff is not None and (until := locked(staff, now)):
        # Refused even with the right password: repeated failures lock the account for a while.
        lang = i18n.normalize(request.cookies.get(LANG_COOKIE))
        message = i18n.gettext(lang, "This account is locked after repeated failed logins until %(time)s.",
                               time=until.astimezone(VN_TZ).strftime("%H:%M"))  # fmt: skip
        return render(request, None, "login.html", 423, error=message, return_to=local_path(next))
    if staff is None or not verify_password(staff.password_hash, password):
        throttle.failed(username, address)
        if staff is not None:
            login_failed(staff, now)
            await directory.commit()
        return render(request, None, "login.html", 401, error="Wrong username or password.",
                      return_to=local_path(next), username=username[:100])  # fmt: skip
    throttle.succeeded(username)
    login_succeeded(staff)
    # A new session id and CSRF token at each login (never the pre-login ones: no fixation).
    cookie, new_session = request.app.state.signer.dump(staff.username)
    await open_session(session, new_session, now)
    await directory.commit()
    response = RedirectResponse(local_path(next), 303)
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
    user: OptionalUser, directory: DirectoryDep, lang: Annotated[str, Form()], next: str = Form("/")
) -> Response:
    lang = i18n.normalize(lang)
    response = RedirectResponse(local_path(next), 303)
    if user:  # remembered per user
        await directory.set_language(user.username, lang)
    response.set_cookie(LANG_COOKIE, lang, httponly=True, samesite="lax", max_age=365 * 86400)
    return response
