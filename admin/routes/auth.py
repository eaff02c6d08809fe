"""Signing in and out, and the language toggle (remembered per user)."""

import math
import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from admin import i18n
from admin.deps import CsrfChecked, DirectoryDep, OptionalUser, PasswordChanger, SessionDep, browser_session
from admin.limits import FIELD_LIMITS, MAX_FIELD
from admin.rendering import LANG_COOKIE, PRELOGIN_CSRF, render
from admin.security import MIN_PASSWORD_LENGTH, SESSION_COOKIE, SESSION_MAX_AGE, hash_password, verify_password
from admin.sign_in import close_session, open_session, utcnow

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
    username: Annotated[str, Form(max_length=FIELD_LIMITS["username"])],
    password: Annotated[str, Form(max_length=FIELD_LIMITS["password"])],
    next: Annotated[str, Form(max_length=FIELD_LIMITS["next"])] = "/",
) -> Response:
    throttle = request.app.state.throttle
    address = request.client.host if request.client else "?"
    if wait := throttle.wait(username, address):
        # Whether the account exists or not: the same answer, before any lookup.
        refused = render(request, None, "login.html", 429, error="Too many attempts. Try again in a few minutes.",
                         return_to=local_path(next))  # fmt: skip
        refused.headers["Retry-After"] = str(math.ceil(wait))
        return refused
    staff = await directory.active_by_username(username)
    # Always one password check (a dummy one for an unknown account): the same cost either way.
    if not verify_password(staff.password_hash if staff else None, password) or staff is None:
        throttle.failed(username, address)
        return render(request, None, "login.html", 401, error="Wrong username or password.",
                      return_to=local_path(next), username=username)  # fmt: skip
    throttle.succeeded(username, address)
    now = utcnow()
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
    user: OptionalUser,
    directory: DirectoryDep,
    lang: Annotated[str, Form(max_length=MAX_FIELD)],
    next: Annotated[str, Form(max_length=FIELD_LIMITS["next"])] = "/",
) -> Response:
    lang = i18n.normalize(lang)
    response = RedirectResponse(local_path(next), 303)
    if user:  # remembered per user
        await directory.set_language(user.username, lang)
    response.set_cookie(LANG_COOKIE, lang, httponly=True, samesite="lax", max_age=365 * 86400)
    return response


# --- choosing a new password (required after an administrator's reset; open to anyone signed in)


@router.get("/password")
async def password_page(request: Request, user: PasswordChanger) -> Response:
    return render(request, user, "password.html", field_errors={}, title="Choose a new password",
                  minimum=MIN_PASSWORD_LENGTH)  # fmt: skip


@router.post("/password", dependencies=[CsrfChecked])
async def change_password(request: Request, user: PasswordChanger, directory: DirectoryDep) -> Response:
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    current, new, again = (form.get(k, "") for k in ("current_password", "new_password", "new_password_again"))
    lang = i18n.normalize(user.language)
    staff = await directory.active_by_username(user.username)
    errors: dict[str, str] = {}
    if staff is None or not verify_password(staff.password_hash, current):
        errors["current_password"] = i18n.gettext(lang, "This is not your current password.")
    if len(new) < MIN_PASSWORD_LENGTH:
        message = "The new password needs at least %(num)d characters."
        errors["new_password"] = i18n.gettext(lang, message, num=MIN_PASSWORD_LENGTH)
    elif new == current:
        errors["new_password"] = i18n.gettext(lang, "Choose a password other than the current one.")
    elif new != again:
        errors["new_password_again"] = i18n.gettext(lang, "The two new passwords differ.")
    if errors or staff is None:  # passwords are never sent back into the page
        return render(request, user, "password.html", 422, field_errors=errors, title="Choose a new password",
                      minimum=MIN_PASSWORD_LENGTH)  # fmt: skip
    await directory.set_password(staff, hash_password(new))
    return RedirectResponse("/", 303)
