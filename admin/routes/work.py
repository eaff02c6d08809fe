"""``/``: "My work", the queues of the user's role, soonest deadline first."""

from fastapi import APIRouter, Request
from fastapi.responses import Response

from admin.deps import CurrentStaff, ServiceDep
from admin.rendering import language, render

router = APIRouter(include_in_schema=False)


@router.get("/")
async def my_work(request: Request, user: CurrentStaff, service: ServiceDep) -> Response:
    names = await service.department_names(language(request, user))
    queues = await service.queues(user)
    people = await service.assignee_names([row for queue in queues for row in queue.rows])
    return render(request, user, "work.html", queues=queues, title="My work",
                  department_names=names, people=people)  # fmt: skip
