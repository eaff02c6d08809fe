"""``/dashboard``: the numbers of the user's scope (department staff and supervisors see their
department; customer service, managers and administrators see all)."""

from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import Response

from admin.deps import CurrentStaff, DashboardDep
from admin.rendering import render
from admin.services.dashboard import CLOSED_WINDOW
from domain.access import DUE_SOON

router = APIRouter(include_in_schema=False)


@router.get("/dashboard")
async def dashboard_page(request: Request, user: CurrentStaff, dashboards: DashboardDep) -> Response:
    now = datetime.now(UTC)
    numbers = await dashboards.dashboard(user, now)
    return render(
        request,
        user,
        "dashboard.html",
        d=numbers,
        title="Dashboard",
        now=now,
        due_soon_days=DUE_SOON.days,
        closed_window_days=CLOSED_WINDOW.days,
    )  # the one definition of each
