"""Anonymising one complaint's personal data in the store, and recording the request."""

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.data_requests import REDACTED, redact_detail, redact_state
from store import public_tokens
from store.complaint_keys import shred
from store.tables import Complaint, ComplaintLog, DataRequest, Letter, OutboxMail

LETTER_REMOVED = "<p>[Thư trả lời đã được ẩn danh theo yêu cầu về dữ liệu cá nhân]</p>"


async def anonymise(
    session: AsyncSession, complaint: Complaint, requested_by: str, reason: str, now: datetime
) -> DataRequest:
    """Within the caller's transaction: the row, its log details (their digests stay, so the
    hash chain still verifies and shows them as redacted), letters and mail copies, and the
    complaint's data key (crypto-shredding: what Temporal's history and the archive hold of it,
    encrypted under that key, can no longer be read by anyone)."""
    email = complaint.customer_email
    complaint.customer_name = REDACTED
    complaint.customer_email = complaint.customer_phone = complaint.customer_address = None
    complaint.customer_phone_key = complaint.customer_email_key = None
    complaint.subject = complaint.body = REDACTED
    if complaint.summary:
        complaint.summary = REDACTED
    if complaint.satisfaction_comment:
        complaint.satisfaction_comment = REDACTED
    complaint.state = redact_state(dict(complaint.state))
    complaint.anonymised_at = now
    counts: dict[str, Any] = {"log_rows": 0, "letters": 0, "mails": 0}
    for row in await session.scalars(select(ComplaintLog).where(ComplaintLog.complaint_id == complaint.id)):
        row.detail = redact_detail(dict(row.detail))
        row.redacted_at = now
        counts["log_rows"] += 1
    for letter in await session.scalars(select(Letter).where(Letter.complaint_id == complaint.id)):
        letter.html = LETTER_REMOVED
        counts["letters"] += 1
    for mail in await session.scalars(select(OutboxMail).where(OutboxMail.complaint_id == complaint.id)):
        mail.subject = mail.body_text = REDACTED
        mail.body_html = f"<p>{REDACTED}</p>"
        mail.recipients = [REDACTED if r == email else r for r in mail.recipients]
        counts["mails"] += 1
    # The customer's links to the status page stop working: nothing is left to show them.
    counts["public_links_revoked"] = await public_tokens.revoke(session, complaint.id, requested_by, now)
    counts["data_key"] = "shredded" if await shred(session, complaint.id, now) else "none (filed before data keys)"
    request = DataRequest(
        complaint_id=complaint.id,
        kind="anonymise",
        requested_by=requested_by,
        reason=reason,
        done_at=now,
        detail=counts,
    )
    session.add(request)
    await session.flush()
    return request
