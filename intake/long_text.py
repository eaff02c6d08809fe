"""A customer's text too long for the workflow state: its beginning in the state, the whole as a file.

A mail body (an HTML mail turned to text, a long thread quoted in full) or a livechat message can
be megabytes. Carried into the workflow it would make the complaint's state, which grows with
every message, pass Temporal's limits (a warning at 256 KB, a failed workflow task at 2 MB per
payload): a stuck complaint is a lost one. Refused instead, the customer's words would be lost
(a mail cannot be asked to be shorter).

So, before Temporal: a text over ``message_text_max_bytes`` of UTF-8 (or over what the domain
allows: 50,000 characters for a message, 10,000 for a complaint's text) keeps its beginning,
ending in ``MARKER``, and its full text is stored as a UTF-8 ``.txt`` attachment
(store.attachments, encrypted under the complaint's key, content-addressed) of the same message.
For a new complaint, whose files need its id first, the full text comes as the complaint's
first ``customer_message`` right after filing, idempotent by ``<intake key>:full-text`` (a
second delivery files nothing and adds nothing twice). The complaint page says, in the staff's
language, that the full text is in the attached file.
"""

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from temporalio.client import Client

from config.settings import Settings
from domain.models import AttachmentRef, ComplaintIntake
from intake.customer_messages import add_customer_message
from intake.filing import Filed, file_complaint
from store.attachments import AttachmentStore

MARKER = "\n\n[…]"  # ends a shortened text; language-neutral (the page explains it)
MESSAGE_MAX_CHARS = 50_000  # domain.models.MessageText
BODY_MAX_CHARS = 10_000  # domain.models.LongText (a complaint's text)
FULL_TEXT_NAME = "toan-van.txt"
# The message that carries a new complaint's full text (stored data, in Vietnamese as the other
# texts the intake writes, e.g. intake.mail_intake.FILES_TEXT).
FULL_BODY_TEXT = "(Toàn văn nội dung khiếu nại, trong tệp đính kèm)"


def shorten(text: str, max_bytes: int, max_chars: int) -> str | None:
    """``text`` cut to at most ``max_bytes`` of UTF-8 and ``max_chars`` characters, marker
    included; None when it fits as it is (compared stripped, as the domain stores it)."""
    text = text.strip()
    if len(text) <= max_chars and len(text.encode()) <= max_bytes:
        return None
    head = text[: max_chars - len(MARKER)].encode()[: max_bytes - len(MARKER.encode())]
    return head.decode(errors="ignore").rstrip() + MARKER  # a character cut in two is dropped


@dataclass(frozen=True)
class LongText:
    store: AttachmentStore
    max_bytes: int

    @classmethod
    def of(cls, settings: Settings, store: AttachmentStore) -> "LongText":
        return cls(store, settings.message_text_max_bytes)

    async def message(self, complaint_id: str, text: str) -> tuple[str, AttachmentRef | None]:
        """The text a customer message carries, and the full text's file if it was shortened."""
        shortened = shorten(text, self.max_bytes, MESSAGE_MAX_CHARS)
        if shortened is None:
            return text, None
        return shortened, await self.store.save_text(complaint_id, text.strip(), FULL_TEXT_NAME)

    def body(self, text: str) -> str:
        """A new complaint's text as it is filed."""
        return shorten(text, self.max_bytes, BODY_MAX_CHARS) or text

    async def file(
        self, client: Client, settings: Settings, intake_of: Callable[[str], ComplaintIntake], body: str
    ) -> Filed:
        """File the complaint ``intake_of(text)`` builds (it may raise ValidationError for its other
        fields) with ``body`` shortened if need be; a shortened body's full text then follows as
        the complaint's message (intake.customer_messages, once per intake key)."""
        shortened = shorten(body, self.max_bytes, BODY_MAX_CHARS)
        intake = intake_of(shortened or body)
        if intake.intake_key is None:
            intake = intake.model_copy(update={"intake_key": f"uuid:{uuid.uuid4()}"})
        filed = await file_complaint(client, settings, intake)
        if shortened is not None:
            ref = await self.store.save_text(filed.complaint_id, body.strip(), FULL_TEXT_NAME)
            await add_customer_message(client, filed.complaint_id, FULL_BODY_TEXT, intake.channel,
                                       message_id=f"{intake.intake_key}:full-text", attachments=[ref])  # fmt: skip
        return filed
