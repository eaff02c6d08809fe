"""The complaint pages: the list with its filters, filing a new complaint, and the complaint page
with exactly the decisions its user may take. Thin over ``ComplaintService``."""

import secrets
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from admin import forms, i18n
from admin.deps import AttachmentsDep, Auditor, CsrfChecked, CurrentStaff, ServiceDep, ViewsDep
from admin.errors import ServiceError
from admin.rendering import language, render
from admin.services import bulk
from admin.services.bulk import BULK_ACTIONS
from admin.services.canned_replies import TARGETS, Offer
from admin.services.complaints import SORT_NAMES, ComplaintPage, ComplaintService, Filters
from admin.services.views import LIST_PARAMS
from admin.users import User
from domain import access
from domain.canned_replies import MAX_BODY, appended
from domain.lifecycle import DraftVersion, draft_versions
from domain.models import ComplaintIntake, ComplaintState
from domain.sla import VN_TZ
from domain.vocabulary import Channel, Role
from store.tables import Staff

router = APIRouter(include_in_schema=False)


# The list's filters by the field the service names in a refusal (their labels on the page).
FILTER_LABELS = {
    "q": "Search",
    "received_from": "Received",
    "received_to": "Received",
    "after": "Next page",
    "sort": "Sort by",
}


# The list's sorts by the column they sort (their msgids).
SORT_LABELS = {"received": "Received", "deadline": "Deadline", "priority": "Priority", "stage": "Status"}


def list_filters(q: Mapping[str, str]) -> Filters:
    """The list's filters and sort from its query string (the page, an export, a saved view)."""
    overdue = {"true": True, "false": False}.get(q.get("overdue", ""))
    return Filters(stage=q.get("stage") or None, department=q.get("department") or None,
                   category=q.get("category") or None, channel=q.get("channel") or None,
                   priority=q.get("priority") or None, assignee=q.get("assignee") or None, overdue=overdue,
                   q=(q.get("q") or "").strip() or None, received_from=_day(q.get("from"), "received_from"),
                   received_to=_day(q.get("to"), "received_to", next_day=True),
                   sort=q.get("sort") or "received")  # fmt: skip


def list_query(q: Mapping[str, str], **changes: str) -> str:
    """The list's query string (its own parameters only, the empty ones left out), with ``changes``."""
    values = {k: v for k, v in q.items() if k in LIST_PARAMS and v} | changes
    return "&".join(f"{k}={quote(v)}" for k, v in values.items() if v)


def refusal_message(lang: str, refused: ServiceError) -> str:
    """A refused list query, in words for the page."""
    if refused.page is not None:
        return i18n.gettext(lang, refused.page[0], **refused.page[1])
    label = i18n.gettext(lang, FILTER_LABELS.get(refused.field or "", "Filter"))
    return i18n.gettext(lang, "Check this field: %(field)s", field=label)


@router.get("/complaints")
async def complaint_list(request: Request, user: CurrentStaff, service: ServiceDep, views: ViewsDep) -> Response:
    q = request.query_params
    lang = language(request, user)
    departments = await service.departments()
    names = {d.code: d.name_vi if lang == "vi" else d.name_en for d in departments}
    sort_labels = {sort: i18n.gettext(lang, msgid) for sort, msgid in SORT_LABELS.items()}
    common: dict[str, Any] = {
        "filters": q, "title": "Complaints", "departments": departments, "department_names": names,
        "views": await views.list(user), "sorts": SORT_NAMES, "sort_labels": sort_labels, "query": list_query(q),
        "sort_urls": {s: "/complaints?" + list_query(q, sort=s) for s in SORT_NAMES},
        "bulk_actions": list(BULK_ACTIONS) if bulk.may_bulk(user) else [],
        "staff": await service.assignable_staff(user),
    }  # fmt: skip
    try:
        page = await service.search(user, list_filters(q), q.get("after") or None)
    except ServiceError as refused:
        if refused.status != 422:
            raise
        message = refusal_message(lang, refused)
        return render(request, user, "list.html", 422, rows=[], next_url=None, people={},
                      messages=[{"kind": "error", "text": message}], **common)  # fmt: skip
    next_url = f"/complaints?{list_query(q, after=page.next_cursor)}" if page.next_cursor else None
    return render(request, user, "list.html", rows=page.items, next_url=next_url,
                  people=await service.assignee_names(page.items), **common)  # fmt: skip


def _day(value: str | None, field: str, next_day: bool = False) -> datetime | None:
    """A yyyy-mm-dd date from the filter form, as the start of that day in Vietnam (or the next)."""
    try:
        day = datetime.strptime(value or "", "%Y-%m-%d").replace(tzinfo=i18n.VN_TZ)
    except ValueError:
        return None
    try:
        return day + timedelta(days=1) if next_day else day
    except OverflowError:  # 9999-12-31: there is no next day
        raise ServiceError(422, "invalid", f"{field}: out of range", field=field) from None


@router.get("/complaints/new")
async def new_complaint_page(request: Request, user: CurrentStaff) -> Response:
    # a key per form: submitting it twice (double click, reload) files one complaint
    values = {"form_key": secrets.token_hex(8)}
    return render(request, user, "new.html", field_errors={}, values=values, title="New complaint",
                  possible_duplicates=[])  # fmt: skip


@router.post("/complaints/new", dependencies=[CsrfChecked])
async def new_complaint(request: Request, user: CurrentStaff, service: ServiceDep) -> Response:
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    try:
        try:
            intake = ComplaintIntake.model_validate(
                {
                    "channel": form.get("channel") or None,
                    "customer": {
                        "name": form.get("name", ""),
                        "email": form.get("email") or None,
                        "phone": form.get("phone") or None,
                        "address": form.get("address") or None,
                        "language": form.get("language") or "vi",
                    },
                    "subject": form.get("subject", ""),
                    "body": form.get("body", ""),
                    "received_at": local_time(form.get("received_at")),
                    "intake_key": f"web:{user.username}:{form.get('form_key')}" if form.get("form_key") else None,
                }
            )
        except ValidationError as exc:
            raise ServiceError.invalid(exc) from exc
        filed = await service.file(user, intake)
    except ServiceError as refused:
        if refused.status != 422:
            raise
        errors = forms.field_errors(language(request, user), refused) or {"body": refused.message}
        # the same customer's complaints, as the page shows them live while typing
        found = await service.customer_complaints(user, form.get("phone"), form.get("email"))
        return render(request, user, "new.html", 422, field_errors=errors, values=form, title="New complaint",
                      possible_duplicates=found)  # fmt: skip
    return RedirectResponse(f"/complaints/{filed.complaint_id}?filed={'new' if filed.created else 'again'}", 303)


def local_time(value: str | None) -> str | datetime | None:
    """A form's date and time (``datetime-local`` sends no zone) as a time in Vietnam; a value
    that does not parse is passed on as it is, for the model to name the field."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    return moment if moment.tzinfo else moment.replace(tzinfo=VN_TZ)


@router.get("/complaints/{complaint_id}")
async def complaint_page(request: Request, complaint_id: str, user: CurrentStaff, service: ServiceDep) -> Response:
    return await _complaint(request, user, service, complaint_id)


async def _complaint(
    request: Request,
    user: User,
    service: ComplaintService,
    complaint_id: str,
    status: int = 200,
    page: ComplaintPage | None = None,
    **extra: Any,
) -> Response:
    page = page or await service.page(user, complaint_id)
    settings = service.settings
    versions = draft_versions(page.state)
    return render(
        request, user, "complaint.html", status,
        state=page.state, actions=[(name, forms.fields(name)) for name in page.actions],
        mails=page.customer_mails, staff_mails=page.staff_mails, departments=page.departments, events=page.events,
        may_audit=access.reads_raw_history(user.actor),
        notes=[e for e in page.state.log if e.action == "note"],
        temporal_url=f"{settings.temporal_ui_url}/namespaces/{settings.temporal_namespace}/workflows/{complaint_id}",
        # The address this browser holds its session cookie for: the UI's codec calls must go there.
        codec_endpoint=f"{str(request.base_url).rstrip('/')}/codec",
        filed=request.query_params.get("filed"), done=request.query_params.get("done"),
        refusal=extra.get("refusal"), failed_action=extra.get("failed_action"), title=complaint_id,
        posted=extra.get("posted", {}), field_errors=extra.get("field_errors", {}), focus=extra.get("focus"),
        prefilled=_prefilled(page.state), irreversible=IRREVERSIBLE,
        may_anonymise=page.may_anonymise, anonymised=page.anonymised, people=page.people,
        public_links=page.public_links, may_revoke_links=access.revokes_public_links(user.actor),
        history=page.history, duplicates=page.duplicates,
        assign_choices=_assign_choices(user, page.state, page.assignees),
        may_take=any(p.username == user.username for p in page.assignees) and page.state.assignee != user.username,
        department_names=await service.department_names(language(request, user)),
        canned=_canned_groups(page.canned), canned_targets=TARGETS,
        conversation=page.conversation,
        draft_versions=versions, draft_numbers=_draft_numbers(versions),
        attachment_limit_mb=f"{settings.attachment_max_bytes / 1_048_576:g}",
    )  # fmt: skip


def _canned_groups(offers: list[Offer]) -> list[tuple[str, list[Offer]]]:
    """The canned replies by language, in the order offered (the customer's language first)."""
    groups: dict[str, list[Offer]] = {}
    for offer in offers:
        groups.setdefault(offer.language, []).append(offer)
    return list(groups.items())


def _draft_numbers(versions: list[DraftVersion]) -> dict[tuple[str, str], int]:
    """The version each draft of the audit trail made, by (who, text): the trail reads the
    workflow's history, the versions its log (only what was applied)."""
    return {(v.actor.user, v.text): v.number for v in versions}


def _assign_choices(user: User, state: ComplaintState, assignees: list[Staff]) -> list[Staff]:
    """The assign form's picker: whoever may take the complaint; department staff only take it
    themselves (domain.transitions), so their picker holds themselves alone."""
    if user.role is Role.DEPARTMENT_STAFF:
        return [p for p in assignees if p.username == user.username]
    return assignees


# Decisions that cannot be taken back (a mail goes out, or the complaint closes): asked twice.
IRREVERSIBLE = frozenset({"reject", "close", "sign_reply", "resolve_on_spot", "reply"})


def _prefilled(state: ComplaintState) -> dict[str, dict[str, str]]:
    """What a decision form starts with, so nobody types it twice: CS replies with the draft
    (the department's, or the supervisor's version of it), and the supervisor edits it; a
    customer's words CS notes came by phone, most often, and ask for no reopening unless CS says so."""
    prefilled: dict[str, dict[str, str]] = {
        "customer_message": {"via": Channel.PHONE.value, "reopen_requested": "false"}
    }
    if state.resolution is not None:
        draft = state.resolution.reply_draft
        prefilled |= {"reply": {"message": draft}, "edit_draft": {"reply_draft": draft}}
    return prefilled


@router.post("/complaints/{complaint_id}/actions/{decision}", dependencies=[CsrfChecked])
async def decide(
    request: Request, complaint_id: str, decision: str, user: CurrentStaff, service: ServiceDep, files: AttachmentsDep
) -> Response:
    raw = await request.form()
    form = {k: v for k, v in raw.items() if isinstance(v, str)}
    if decision not in forms.TRANSITIONS:
        raise ServiceError(404, "unknown_decision", decision, page=("This action does not exist.", {}))
    try:
        body = forms.payload_from_form(decision, form)
        if decision == "customer_message":  # a letter scanned, a recording: its files, stored first
            refs = await files.save_from_form(user, complaint_id, raw)
            body["attachments"] = [ref.model_dump() for ref in refs]
        await service.decide(user, complaint_id, decision, body)
    except ServiceError as refused:
        if refused.status in (403, 409, 422):
            errors = forms.field_errors(language(request, user), refused)
            return await _complaint(request, user, service, complaint_id, refused.status, refusal=refused,
                                    failed_action=decision, posted=form, field_errors=errors)  # fmt: skip
        raise
    return RedirectResponse(f"/complaints/{complaint_id}?done={decision}", 303)


@router.post("/complaints/{complaint_id}/canned/{decision}/{target}", dependencies=[CsrfChecked])
async def insert_canned_reply(
    request: Request, complaint_id: str, decision: str, target: str, user: CurrentStaff, service: ServiceDep
) -> Response:
    """A canned reply inserted without script: the decision's form comes back as it was typed,
    the chosen reply (filled in for this complaint) added at the end of its field. Nothing is
    decided, and nothing typed travels in a URL. (app.js inserts in place, at the cursor.)"""
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    if target not in TARGETS.get(decision, ()):
        raise ServiceError(404, "unknown_decision", decision, page=("This action does not exist.", {}))
    page = await service.page(user, complaint_id)
    if decision not in page.actions:
        refused = ServiceError(409, "wrong_stage", f"{decision} is not available now")
        return await _complaint(request, user, service, complaint_id, 409, page, refusal=refused,
                                failed_action=decision, posted=form)  # fmt: skip
    chosen = next((o for o in page.canned if str(o.id) == form.get(f"canned_{target}")), None)
    errors: dict[str, str] = {}
    if chosen is None:
        errors[f"canned_{target}"] = i18n.gettext(language(request, user), "Choose a canned reply from the list.")
    elif len(text := appended(form.get(target, ""), chosen.text)) > MAX_BODY:
        message = i18n.gettext(language(request, user), "Too long: at most %(max_length)s characters.",
                               max_length=MAX_BODY)  # fmt: skip
        errors[f"canned_{target}"] = message
    else:
        form[target] = text
    return await _complaint(request, user, service, complaint_id, 422 if errors else 200, page,
                            failed_action=decision, posted=form, field_errors=errors,
                            focus=f"{decision}-{target}")  # fmt: skip


@router.post("/complaints/{complaint_id}/anonymise", dependencies=[CsrfChecked])
async def anonymise(
    request: Request, complaint_id: str, user: CurrentStaff, service: ServiceDep, reason: Annotated[str, Form()] = ""
) -> Response:
    """A customer's personal data request, carried out by a manager (see ComplaintService.anonymise)."""
    try:
        if not 3 <= len(reason.strip()) <= 1000:  # as the API's AnonymiseRequest
            raise ServiceError(422, "invalid", "reason: give the customer's request (3 to 1000 characters)")
        await service.anonymise(user, complaint_id, reason.strip())
    except ServiceError as refused:
        if refused.status in (403, 409, 422):
            return await _complaint(request, user, service, complaint_id, refused.status,
                                    refusal=refused, failed_action="anonymise")  # fmt: skip
        raise
    return RedirectResponse(f"/complaints/{complaint_id}?done=anonymise", 303)


@router.post("/complaints/{complaint_id}/public-links/revoke", dependencies=[CsrfChecked])
async def revoke_public_links(complaint_id: str, user: CurrentStaff, service: ServiceDep) -> Response:
    """The customer's status-page links stop working (a link forwarded to the wrong person)."""
    await service.revoke_public_links(user, complaint_id)
    return RedirectResponse(f"/complaints/{complaint_id}?done=revoke_links", 303)


@router.get("/complaints/{complaint_id}/letter")
async def letter(complaint_id: str, user: CurrentStaff, service: ServiceDep) -> Response:
    """The supervisor-signed written reply as issued (print-ready HTML, no script)."""
    issued = await service.letter(user, complaint_id)
    if issued is None:
        page = ("No letter has been issued for complaint %(id)s.", {"id": complaint_id})
        raise ServiceError(404, "not_found", f"no letter for {complaint_id}", page=page)
    # The letter carries its own print styles; it may not run script nor be framed elsewhere.
    csp = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'"
    return HTMLResponse(issued.html, headers={"Content-Security-Policy": csp})


@router.get("/complaints/{complaint_id}/letter/preview")
async def letter_preview(complaint_id: str, user: CurrentStaff, service: ServiceDep) -> Response:
    """The letter as the current draft would issue it (marked as a draft), read before signing."""
    html = await service.letter_preview(user, complaint_id)
    csp = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'"
    return HTMLResponse(html, headers={"Content-Security-Policy": csp, "X-Frame-Options": "SAMEORIGIN"})


@router.get("/complaints/{complaint_id}/history.json")
async def raw_history(complaint_id: str, user: Auditor, service: ServiceDep) -> Response:
    body = await service.raw_history(user, complaint_id)
    return Response(body, media_type="application/json",
                    headers={"Content-Disposition": f'attachment; filename="{complaint_id}-history.json"'})  # fmt: skip
