"""Whose payloads a staff member may decode through the codec endpoint: the payloads of the
complaints in their scope (``domain.access``), and never those of an anonymised complaint."""

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from admin.errors import ServiceError, no_access
from admin.users import User
from domain.access import can_access_department
from domain.ids import is_complaint_id
from store.complaint_keys import shredded_among
from store.tables import Complaint


async def check_decode_scope(session: AsyncSession, user: User, scopes: set[str]) -> None:
    """Refuse (403, 410) unless ``user`` may read every payload written for ``scopes``."""
    if not scopes:
        return
    complaints = {s for s in scopes if is_complaint_id(s)}
    if not user.sees_all and scopes - complaints:
        # Not a complaint's payload, or one from before payloads named their complaint.
        raise ServiceError(403, "no_access", "only staff who see every complaint may decode these payloads")
    query = select(Complaint.id, Complaint.department_code).where(Complaint.id.in_(complaints))
    rows = dict((await session.execute(query)).tuples().all())
    for cid in sorted(complaints):
        if cid not in rows and not user.sees_all:
            raise no_access(cid)  # not projected yet: its department is not known here
        if cid in rows and not can_access_department(user.actor, rows[cid]):
            raise no_access(cid)
    shredded = await shredded_among(session, complaints)
    if shredded:
        raise ServiceError(410, "shredded", f"the personal data of {', '.join(sorted(shredded))} was erased "
                           "(its data key destroyed): its payloads can no longer be read")  # fmt: skip
