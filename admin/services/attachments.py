"""Attachments as staff meet them: a complaint's file downloaded (scope first, one access policy
through ``ComplaintService.state``), and files added to a ``customer_message`` from a form."""

from starlette.datastructures import FormData, UploadFile

from admin.errors import ServiceError
from admin.services.complaints import ComplaintService
from admin.users import User
from domain.models import AttachmentRef
from store.attachments import GONE, MISSING, AttachmentRefused, AttachmentStore, Opened

FIELD = "attachments"  # the form field of the files, named as the decision's field


def not_served(refused: AttachmentRefused) -> ServiceError:
    status = 410 if refused.msgid == GONE else 404
    return ServiceError(status, "attachment_unavailable", str(refused), page=(refused.msgid, refused.params))


class AttachmentService:
    def __init__(self, complaints: ComplaintService, store: AttachmentStore) -> None:
        self.complaints, self.store = complaints, store

    async def open(self, user: User, complaint_id: str, sha256: str) -> Opened:
        """A file of the complaint's conversation, for staff whose scope includes the complaint
        (403 otherwise, before the file is looked at); 404 for a hash the complaint does not
        reference, 410 once its data key is shredded."""
        state = await self.complaints.state(user, complaint_id)
        ref = next((a for m in state.messages for a in m.attachments if a.sha256 == sha256), None)
        if ref is None:
            raise not_served(AttachmentRefused(MISSING))
        try:
            return await self.store.open(complaint_id, ref)
        except AttachmentRefused as refused:
            raise not_served(refused) from None

    async def save_from_form(self, user: User, complaint_id: str, form: FormData) -> list[AttachmentRef]:
        """The form's files, checked together (sizes, sniffed types) and stored; a refusal names
        the field, in the catalogue's words. Nothing is stored for someone who may not add a
        customer message to this complaint (the decision then refuses them as usual)."""
        files = [v for v in form.getlist(FIELD) if isinstance(v, UploadFile) and (v.filename or v.size)]
        if not files:
            return []
        state = await self.complaints.state(user, complaint_id)
        if "customer_message" not in self.complaints.actions(user, state):
            return []
        loaded = [(f.filename or "", await f.read()) for f in files]
        try:
            return await self.store.save_all(complaint_id, loaded)
        except AttachmentRefused as refused:
            raise ServiceError(422, "attachment_refused", str(refused), field=FIELD,
                               page=(refused.msgid, refused.params)) from None  # fmt: skip
