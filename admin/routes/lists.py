"""What the complaint list does besides listing: saved views, bulk decisions, exports. Declared
before the complaint pages (``/complaints/export.csv`` is not a complaint id)."""

from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse

from admin import i18n
from admin.deps import CsrfChecked, CurrentStaff, ServiceDep, ViewsDep
from admin.errors import ServiceError
from admin.rendering import language, render
from admin.routes.complaints import list_filters, list_query, refusal_message
from admin.services import bulk
from admin.services.export import Export

router = APIRouter(include_in_schema=False)


@router.post("/complaints/views", dependencies=[CsrfChecked])
async def save_view(
    request: Request, user: CurrentStaff, views: ViewsDep, name: Annotated[str, Form()] = "",
    query: Annotated[str, Form()] = "",
) -> Response:  # fmt: skip
    try:
        view = await views.save(user, name, query)
    except ServiceError as refused:
        if refused.status not in (409, 422):
            raise
        kept = list_query(dict(parse_qsl(query)), view_error="1")  # only the list's own parameters, re-encoded
        return RedirectResponse(f"/complaints?{kept}", 303)
    return RedirectResponse(f"/complaints?{view.query}&view={view.id}" if view.query else f"/complaints?view={view.id}",
                            303)  # fmt: skip


@router.get("/complaints/views/{view_id}")
async def open_view(view_id: int, user: CurrentStaff, views: ViewsDep) -> Response:
    view = await views.open(user, view_id)
    return RedirectResponse(f"/complaints?{view.query}&view={view.id}" if view.query else f"/complaints?view={view.id}",
                            303)  # fmt: skip


@router.post("/complaints/views/{view_id}/delete", dependencies=[CsrfChecked])
async def delete_view(view_id: int, user: CurrentStaff, views: ViewsDep) -> Response:
    await views.delete(user, view_id)
    return RedirectResponse("/complaints", 303)


@router.post("/complaints/bulk", dependencies=[CsrfChecked])
async def bulk_action(request: Request, user: CurrentStaff, service: ServiceDep) -> Response:
    form = await request.form()
    ids = [v for v in form.getlist("complaint") if isinstance(v, str)]
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    outcomes = await bulk.apply(service, user, fields.get("action", ""), ids, fields)
    lang = language(request, user)
    shown = [
        {"complaint_id": o.complaint_id, "refusal": i18n.refusal_label(lang, o.refusal.code) if o.refusal else None,
         "detail": _detail(lang, o.refusal) if o.refusal else None}
        for o in outcomes
    ]  # fmt: skip
    return render(request, user, "bulk.html", outcomes=shown, action=fields.get("action", ""),
                  back=f"/complaints?{fields.get('query', '')}", title="Bulk action",
                  department_names=await service.department_names(lang))  # fmt: skip


def _detail(lang: str, refused: ServiceError) -> str | None:
    """What a refusal says beyond its kind, in ``lang`` (as the complaint page shows it)."""
    if refused.page is not None:
        return i18n.gettext(lang, refused.page[0], **refused.page[1])
    translated = i18n.translate(lang, refused.message)
    if translated != refused.message or lang == "en":
        return translated
    return None


@router.get("/complaints/export.{kind}")
async def export(request: Request, kind: str, user: CurrentStaff, service: ServiceDep) -> Response:
    if kind not in ("csv", "xlsx"):
        raise ServiceError(404, "not_found", f"no export as {kind}", page=("This page does not exist.", {}))
    lang = language(request, user)
    job = Export(service, user, list_filters(request.query_params), lang)
    try:
        await job.start()
    except ServiceError as refused:
        if refused.status != 422:
            raise
        raise ServiceError(422, "invalid", refused.message, page=(refusal_message(lang, refused), {})) from refused
    name = f"complaints-{datetime.now(UTC):%Y%m%d-%H%M}.{kind}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"}
    if kind == "csv":
        return StreamingResponse(job.csv(), media_type="text/csv; charset=utf-8", headers=headers)
    xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return StreamingResponse(job.xlsx(), media_type=xlsx, headers=headers)
