"""The customer's pages (issue 14): no login, Vietnamese by default, English on a toggle.

- ``GET/POST /public/complaints/new``: the web form, behind its guards (admin.public_guards);
  a filed form answers with a redirect to the complaint's status page (posting it again files
  nothing new and lands on the same page).
- ``GET/POST /public/complaints/lookup``: a lost link mailed again. The customer gives the case
  number and their e-mail address; the page answers the same whatever they typed (no oracle for
  cases or addresses): the worker checks them afterwards and mails a fresh link to the address
  on file (workflows/status_link.py). Behind the form's guards, plus a limit per complaint.
- ``GET /public/complaints/{id}/{token}``: the status page; ``POST …/rate``: the satisfaction
  rating; ``POST …/messages``: information the customer adds; ``POST …/reopen``: a request to
  reopen, with its reason, after closing and within the reopen window. A wrong id or token gets
  the same 404 as a page that does not exist.
- The status page's two message forms carry a signed stamp like the form's: its nonce keys the
  message (sending it twice adds it once, with its files); posts are rate-limited per address,
  apart from the form's. Information may carry files, checked as the form's are; a file alone is
  information (its message then says so). No file is ever served back on these pages.

The form's files (section 2) are checked (sizes, sniffed types) before anything is filed, and
added once the complaint exists, as a ``customer_message`` carrying their refs (the intake model
carries no files; the message keeps them beside the description, idempotent by the form's key).
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import UploadFile

from admin import i18n, limits
from admin.deps import SessionDep, SettingsDep
from admin.errors import ServiceError
from admin.public_guards import HONEYPOT, FormStamps, Stamp, SubmitLimiter, intake_key, lookup_key, message_key
from admin.rendering import LANG_COOKIE, templates
from admin.services.public import LinkLookup, PublicService, PublicView, WebComplaint, link_lookup, web_intake
from config.settings import Settings
from domain.customer_view import status_path
from domain.vocabulary import Category
from store.attachments import AttachmentRefused, AttachmentStore

router = APIRouter(prefix="/public", include_in_schema=False)
# Pages that carry a token in their address: never cached, indexed or sent on as a referrer.
PRIVATE_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex, nofollow"}


def get_public(request: Request, session: SessionDep, settings: SettingsDep) -> PublicService:
    return PublicService(session, request.app.state.temporal, settings)


PublicDep = Annotated[PublicService, Depends(get_public)]


def _lang(request: Request, form: Mapping[str, str] | None = None) -> str:
    asked = (form or {}).get("lang") or request.query_params.get("lang")
    return i18n.normalize(asked or request.cookies.get(LANG_COOKIE))


def _page(request: Request, name: str, lang: str, status: int = 200, **context: Any) -> HTMLResponse:
    # The same page in the other language: a query alone (the address is never echoed, so a
    # wrong link's 404 is the same page whatever the link).
    toggle = {code: f"?{urlencode({'lang': code})}" for code in i18n.LANGUAGES}
    html = templates.get_template(name).render(
        {"request": request, "lang": lang, "toggle": toggle, "hotline": request.app.state.settings.hotline} | context
    )
    response = HTMLResponse(html, status_code=status, headers=PRIVATE_HEADERS)
    if request.query_params.get("lang"):  # the toggle: remembered for the next pages
        response.set_cookie(LANG_COOKIE, lang, httponly=True, samesite="lax", max_age=365 * 86400)
    return response


def _error(request: Request, lang: str, refused: ServiceError) -> HTMLResponse:
    if refused.page is not None:
        message = i18n.gettext(lang, refused.page[0], **refused.page[1])
    else:
        message = i18n.gettext(lang, PUBLIC_MESSAGES.get(refused.code, "Something went wrong. Please try again later."))
    # A wrong or lost status link: the way to have it mailed again.
    lost_link = refused.code == "not_found"
    return _page(request, "public/error.html", lang, refused.status, message=message, lost_link=lost_link)


TOO_MANY = (
    "Too many complaints were sent from your connection. Please try again in %(minutes)d minutes, or call our hotline."
)
TOO_MANY_MESSAGES = (
    "Too many messages were sent from your connection. Please try again in %(minutes)d minutes, or call our hotline."
)
TOO_MANY_LOOKUPS = (
    "Too many requests were sent from your connection. Please try again in %(minutes)d minutes, or call our hotline."
)
# Refusals the customer can meet, in their words (msgids).
PUBLIC_MESSAGES = {
    "already_rated": "Thank you: you have already rated this closing of your complaint.",
    "reopen_window_closed": "This complaint can no longer be rated.",
    "unavailable": "The service is busy. Nothing was sent; please try again in a few minutes.",
    "outcome_unknown": "We could not confirm that your complaint was received. Please send the form again: "
    "it will not be filed twice.",
    "too_long": "A field is too long. Please shorten it and send the form again.",
    "not_closed": "Your complaint is not closed: add your information to it instead.",
    "message_unknown": "We could not confirm that your message was received. Please send it again: it will not "
    "be added twice.",
}
# The status page's message forms: the field each posts, and what is wrong with it (msgids).
MESSAGE_FIELD = {False: "text", True: "reason"}
# The text of a message that carries files and no words (the web form's files get theirs).
FILES_ONLY = "Files sent from the status page."
MESSAGE_ERRORS = {
    "text": "Please write your message.",
    "reason": "Please say why you ask to reopen your complaint.",
    "too_long_message": "Please shorten your message to 5,000 characters.",
}


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    if limits.too_long(form):
        raise ServiceError(422, "too_long", "a field is too long")
    return {k: v for k, v in form.items() if isinstance(v, str)}


async def _files(request: Request) -> list[tuple[str, bytes]]:
    """The form's files (name, bytes); an empty file input sends one nameless empty part."""
    form = await request.form()  # parsed once by Starlette: the same form _form read
    uploads = [v for v in form.getlist("attachments") if isinstance(v, UploadFile) and (v.filename or v.size)]
    return [(f.filename or "", await f.read()) for f in uploads]


@dataclass(frozen=True)
class _Refused:
    msgid: str  # why, for the page
    stamp: str  # the stamp the form goes back with


def _guarded(stamps: FormStamps, form: Mapping[str, str], min_seconds: float) -> Stamp | _Refused:
    """A public form's stamp, or why its post is refused (what was typed is kept by the caller)."""
    stamp = stamps.read(form.get("stamp"))
    if stamp is None:  # expired (a day old) or made up: a fresh form
        return _Refused("The form had expired. Please check your details and send it again.", stamps.issue())
    if form.get(HONEYPOT):  # only a program fills the hidden field: nothing done, nothing says why
        return _Refused("The form could not be sent.", stamps.issue())
    if stamps.age(stamp) < min_seconds:
        return _Refused("The form was sent too quickly. Please check your details and send it again.", form["stamp"])
    return stamp


def _stamps(request: Request) -> FormStamps:
    stamps: FormStamps = request.app.state.public_stamps
    return stamps


def _limiter(request: Request, name: str = "public_limiter") -> SubmitLimiter:
    limiter: SubmitLimiter = getattr(request.app.state, name)
    return limiter


def _too_many(request: Request, lang: str, wait: float, msgid: str) -> HTMLResponse:
    message = i18n.gettext(lang, msgid, minutes=max(1, round(wait / 60)))
    response = _page(request, "public/error.html", lang, 429, message=message)
    response.headers["Retry-After"] = str(int(wait) + 1)
    return response


def _attachment_limits(request: Request) -> tuple[str, str]:
    """Each file's and one message's limits, in MB, as the pages show them."""
    settings: Settings = request.app.state.settings
    return f"{settings.attachment_max_bytes / 1_048_576:g}", f"{settings.message_max_bytes / 1_048_576:g}"


def _attachments(request: Request) -> AttachmentStore:
    store: AttachmentStore = request.app.state.attachments
    return store


def _new_form(request: Request, lang: str, status: int, values: Mapping[str, str], **context: Any) -> HTMLResponse:
    categories = [(c.value, i18n.label(lang, "category", c)) for c in Category]
    context = {"field_errors": {}, "refusal": None, "attachment_limits": _attachment_limits(request)} | context
    return _page(request, "public/new.html", lang, status, values=values, categories=categories, **context)


@router.get("/complaints/new")
async def new_form(request: Request) -> Response:
    lang = _lang(request)
    return _new_form(request, lang, 200, {"stamp": _stamps(request).issue()})


@router.post("/complaints/new")
async def submit(request: Request, service: PublicDep, settings: SettingsDep) -> Response:
    address = request.client.host if request.client else "?"
    lang = _lang(request)
    if wait := _limiter(request).allow(address):
        return _too_many(request, lang, wait, TOO_MANY)
    try:
        form = await _form(request)
    except ServiceError as refused:
        return _error(request, lang, refused)
    lang = _lang(request, form)
    kept = {k: v for k, v in form.items() if k not in (HONEYPOT, "stamp")}
    stamp = _guarded(_stamps(request), form, settings.public_form_min_seconds)
    if isinstance(stamp, _Refused):
        return _new_form(request, lang, 400, kept | {"stamp": stamp.stamp}, refusal=i18n.gettext(lang, stamp.msgid))
    checked = web_intake(form)
    if not isinstance(checked, WebComplaint):
        errors = {field: i18n.gettext(lang, msgid) for field, msgid in checked.items()}
        return _new_form(request, lang, 422, kept | {"stamp": form["stamp"]}, field_errors=errors)
    files = await _files(request)
    store = _attachments(request)
    try:
        store.check_all(files)
    except AttachmentRefused as refused:  # nothing filed; the browser cannot refill files, the reason says why
        errors = {"attachments": i18n.gettext(lang, refused.msgid, **refused.params)}
        return _new_form(request, lang, 422, kept | {"stamp": form["stamp"]}, field_errors=errors)
    token = _stamps(request).status_token(stamp)
    subject = i18n.label(checked.language.value, "category", checked.category)
    try:
        complaint_id = await service.file(checked, subject, intake_key(stamp), token)
        if files:
            text = i18n.gettext(checked.language.value, "Files sent with the web form.")
            await service.attach(store, complaint_id, files, intake_key(stamp), text)
    except ServiceError as refused:
        return _error(request, lang, refused)
    return RedirectResponse(f"{status_path(complaint_id, token)}?{urlencode({'filed': 1, 'lang': lang})}", 303)


def _lookup_form(request: Request, lang: str, status: int, values: Mapping[str, str], **context: Any) -> HTMLResponse:
    context = {"field_errors": {}, "refusal": None, "sent": False} | context
    return _page(request, "public/lookup.html", lang, status, values=values, **context)


@router.get("/complaints/lookup")
async def lookup_form(request: Request) -> Response:
    return _lookup_form(request, _lang(request), 200, {"stamp": _stamps(request).issue()})


@router.post("/complaints/lookup")
async def lookup(request: Request, service: PublicDep, settings: SettingsDep) -> Response:
    """The same answer whenever the form passes its guards: nothing here reads the store, and
    the worker's run is started whatever was typed (admin.services.public.ask_link)."""
    address = request.client.host if request.client else "?"
    lang = _lang(request)
    if wait := _limiter(request, "public_lookup_limiter").allow(address):
        return _too_many(request, lang, wait, TOO_MANY_LOOKUPS)
    try:
        form = await _form(request)
    except ServiceError as refused:
        return _error(request, lang, refused)
    lang = _lang(request, form)
    kept = {k: form.get(k, "") for k in ("complaint_id", "email")}
    stamp = _guarded(_stamps(request), form, settings.public_form_min_seconds)
    if isinstance(stamp, _Refused):
        return _lookup_form(request, lang, 400, kept | {"stamp": stamp.stamp}, refusal=i18n.gettext(lang, stamp.msgid))
    checked = link_lookup(form)
    if not isinstance(checked, LinkLookup):  # the fields' shape only, never whether they match
        errors = {field: i18n.gettext(lang, msgid) for field, msgid in checked.items()}
        return _lookup_form(request, lang, 422, kept | {"stamp": form["stamp"]}, field_errors=errors)
    try:
        await service.ask_link(checked, lookup_key(stamp, checked.complaint_id, checked.email))
    except ServiceError as refused:
        return _error(request, lang, refused)
    return _lookup_form(request, lang, 200, {}, sent=True)


@router.get("/complaints/{complaint_id}/{token}")
async def status_page(request: Request, complaint_id: str, token: str, service: PublicDep) -> Response:
    lang = _lang(request)
    try:
        view = await service.view(complaint_id, token)
    except ServiceError as refused:
        return _error(request, lang, refused)
    # After the form (the case id, what happens next), the rating (thanks), a message or a
    # reopen request (received): a notice on top.
    notice = next((n for n in NOTICES if request.query_params.get(n)), None)
    # The closing mail links each score (?score=N): the page opens with it chosen, and the customer
    # confirms with one click. A GET never rates: mail scanners open every link in a mail.
    score = request.query_params.get("score", "")
    values = {"score": score} if view.may_rate and score in SCORES else {}
    return _status(request, lang, 200, view, notice=notice, values=values)


SCORES = frozenset(str(n) for n in range(1, 6))


NOTICES = ("filed", "rated", "sent", "reopen_asked")


def _status(request: Request, lang: str, status: int, view: PublicView, **context: Any) -> HTMLResponse:
    """The status page; its message forms get a fresh stamp unless one is given (a form sent back)."""
    defaults: dict[str, Any] = {
        "notice": None,
        "field_errors": {},
        "values": {},
        "stamp": _stamps(request).issue(),
        "refusal": None,
        "attachment_limits": _attachment_limits(request),
    }
    # The forms post beside the page, whichever of its addresses answered (a form sent back).
    base = request.url.path.removesuffix("/rate").removesuffix("/messages").removesuffix("/reopen")
    return _page(request, "public/status.html", lang, status, view=view, base=base, **(defaults | context))


@router.post("/complaints/{complaint_id}/{token}/rate")
async def rate(request: Request, complaint_id: str, token: str, service: PublicDep) -> Response:
    lang = _lang(request)
    try:
        form = await _form(request)
        lang = _lang(request, form)
        await service.rate(complaint_id, token, form)
    except ServiceError as refused:
        if refused.status != 422 or refused.code == "too_long":
            return _error(request, lang, refused)
        view = await service.view(complaint_id, token)
        errors = {"score": i18n.gettext(lang, "Please choose a score from 1 to 5.")}
        if refused.field == "comment":
            errors = {"comment": i18n.gettext(lang, "Please shorten your comment to 2,000 characters.")}
        return _status(request, lang, 422, view, field_errors=errors, values=form)
    query = urlencode({"rated": 1, "lang": lang})
    return RedirectResponse(f"{status_path(complaint_id, token)}?{query}#rate", 303)


@router.post("/complaints/{complaint_id}/{token}/messages")
async def write(request: Request, complaint_id: str, token: str, service: PublicDep) -> Response:
    return await _write(request, complaint_id, token, service, reopen=False)


@router.post("/complaints/{complaint_id}/{token}/reopen")
async def ask_reopen(request: Request, complaint_id: str, token: str, service: PublicDep) -> Response:
    return await _write(request, complaint_id, token, service, reopen=True)


async def _write(request: Request, complaint_id: str, token: str, service: PublicService, *, reopen: bool) -> Response:
    """Information the customer adds, or (``reopen``) their request to reopen, with its reason."""
    address = request.client.host if request.client else "?"
    lang = _lang(request)
    if wait := _limiter(request, "public_message_limiter").allow(address):
        return _too_many(request, lang, wait, TOO_MANY_MESSAGES)
    field = MESSAGE_FIELD[reopen]
    try:
        form = await _form(request)
        lang = _lang(request, form)
        stamp = _stamps(request).read(form.get("stamp"))
        if stamp is None:  # expired (a day old) or made up: the page again, what was typed kept
            view = await service.view(complaint_id, token)
            refusal = i18n.gettext(lang, "The form had expired. Please check your message and send it again.")
            return _status(request, lang, 400, view, values=form, refusal=refusal)
        files = [] if reopen else await _files(request)
        text = form.get(field, "")
        if files and not text.strip():  # a file alone is information: its message says what came
            text = i18n.gettext(lang, FILES_ONLY)
        await service.write(complaint_id, token, text, message_key(stamp), reopen=reopen,
                            store=_attachments(request), files=files)  # fmt: skip
    except ServiceError as refused:
        if refused.status != 422 or refused.code == "too_long":
            return _error(request, lang, refused)
        view = await service.view(complaint_id, token)
        if refused.page is not None and refused.field == "attachments":
            # Nothing added; the browser cannot refill the files, so the reason names the file.
            errors = {"attachments": i18n.gettext(lang, refused.page[0], **refused.page[1])}
        else:
            errors = {field: i18n.gettext(lang, MESSAGE_ERRORS.get(refused.code, MESSAGE_ERRORS[field]))}
        return _status(request, lang, 422, view, field_errors=errors, values=form, stamp=form["stamp"])
    query = urlencode({"reopen_asked" if reopen else "sent": 1, "lang": lang})
    return RedirectResponse(f"{status_path(complaint_id, token)}?{query}#messages", 303)
