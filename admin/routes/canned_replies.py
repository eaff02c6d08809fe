"""The canned replies' administration pages: the list (managers and administrators read it), and
a template's form to add, change or delete it (``CannedReplyEditor``: managers and
administrators). A refused form is shown again as typed, with each problem beside its field."""

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from admin import i18n
from admin.deps import AdministrationDep, AdminReader, CannedRepliesDep, CannedReplyEditor, CsrfChecked
from admin.errors import ServiceError
from admin.rendering import render
from admin.routes.administration import ADMIN_TABS
from admin.services.canned_replies import CannedReplyForm
from admin.sign_in import utcnow
from admin.users import User
from domain.canned_replies import MAX_BODY, MAX_TITLE, PLACEHOLDERS
from store.tables import CannedReply

router = APIRouter(include_in_schema=False)
LIST = "/admin/canned-replies"


def _tabs(request: Request) -> list[dict[str, Any]]:
    path = request.url.path
    return [{"href": href, "label": label, "active": path == href or path.startswith(f"{href}/")}
            for href, label in ADMIN_TABS]  # fmt: skip


@router.get(LIST)
async def canned_replies_page(
    request: Request, user: AdminReader, replies: CannedRepliesDep, admin: AdministrationDep
) -> Response:
    rows = await replies.all()
    people = {s.username: s.full_name for s in await admin.staff_rows()}
    saved = request.query_params.get("saved")
    messages = [{"kind": "success", "text": "Deleted." if saved == "deleted" else "Saved."}] if saved else []
    return render(request, user, "canned_replies.html", rows=rows, people=people, tabs=_tabs(request),
                  departments=await admin.departments(), messages=messages, title="Canned replies")  # fmt: skip


async def _form_page(
    request: Request,
    user: User,
    admin: AdministrationDep,
    reply: CannedReply | None,
    form: CannedReplyForm,
    status: int = 200,
    errors: dict[str, str] | None = None,
) -> Response:
    title = "Edit the canned reply" if reply else "Add a canned reply"
    return render(request, user, "canned_reply.html", status, reply=reply, form=form, field_errors=errors or {},
                  departments=await admin.departments(), placeholders=PLACEHOLDERS, tabs=_tabs(request),
                  max_title=MAX_TITLE, max_body=MAX_BODY, title=title)  # fmt: skip


async def _reply(replies: CannedRepliesDep, reply_id: int) -> CannedReply:
    reply = await replies.get(reply_id)
    if reply is None:
        raise ServiceError(404, "not_found", "no such canned reply", page=("There is no such canned reply.", {}))
    return reply


@router.get(f"{LIST}/new")
async def new_canned_reply(request: Request, user: CannedReplyEditor, admin: AdministrationDep) -> Response:
    return await _form_page(request, user, admin, None, CannedReplyForm(language=i18n.normalize(user.language)))


@router.get(LIST + "/{reply_id}")
async def canned_reply_page(
    request: Request, reply_id: int, user: CannedReplyEditor, replies: CannedRepliesDep, admin: AdministrationDep
) -> Response:
    reply = await _reply(replies, reply_id)
    return await _form_page(request, user, admin, reply, CannedReplyForm.of(reply))


async def _save(
    request: Request, user: User, replies: CannedRepliesDep, admin: AdministrationDep, reply: CannedReply | None
) -> Response:
    raw = await request.form()
    form = CannedReplyForm.typed({k: v for k, v in raw.items() if isinstance(v, str)})
    if problems := await replies.problems(form):
        lang = i18n.normalize(user.language)
        errors = {field: i18n.gettext(lang, msgid, **values) for field, (msgid, values) in problems.items()}
        return await _form_page(request, user, admin, reply, form, 422, errors)
    saved = await replies.save(reply, form, user.username, utcnow())
    return RedirectResponse(f"{LIST}?saved={saved.id}", 303)


@router.post(LIST, dependencies=[CsrfChecked])
async def add_canned_reply(
    request: Request, user: CannedReplyEditor, replies: CannedRepliesDep, admin: AdministrationDep
) -> Response:
    return await _save(request, user, replies, admin, None)


@router.post(LIST + "/{reply_id}", dependencies=[CsrfChecked])
async def change_canned_reply(
    request: Request, reply_id: int, user: CannedReplyEditor, replies: CannedRepliesDep, admin: AdministrationDep
) -> Response:
    return await _save(request, user, replies, admin, await _reply(replies, reply_id))


@router.post(LIST + "/{reply_id}/delete", dependencies=[CsrfChecked])
async def delete_canned_reply(reply_id: int, user: CannedReplyEditor, replies: CannedRepliesDep) -> Response:
    await replies.delete(await _reply(replies, reply_id))
    return RedirectResponse(f"{LIST}?saved=deleted", 303)
