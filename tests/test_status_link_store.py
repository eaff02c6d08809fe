"""The link lookup's activity against each store (SQLite and a real PostgreSQL): the limit per
complaint holds for requests that arrive together (the row lock on PostgreSQL, the write lock on
SQLite), a retry finds its own mail, and a wrong address or an anonymised complaint queues nothing."""

import asyncio
import uuid
from datetime import UTC, datetime

from sqlalchemy import select
from temporalio.testing import ActivityEnvironment

from activities.status_link import PURPOSE, StatusLinkActivities
from config.settings import Settings
from domain.customer_view import address_hash
from domain.steps import StatusLinkRequest
from store.engine import transaction
from store.projection import project_complaint
from store.tables import Complaint, OutboxMail, PublicToken
from tests.test_store import Db, db, started  # noqa: F401  (the two stores)

LIMIT = 3


def request(complaint_id: str, email: str = "an.nguyen@example.vn") -> StatusLinkRequest:
    return StatusLinkRequest(complaint_id=complaint_id, email_hash=address_hash(email), key=uuid.uuid4().hex,
                             requested_at=datetime.now(UTC))  # fmt: skip


async def projected(store: Db) -> str:
    state = started()
    async with transaction(store.sessions) as session:
        await project_complaint(session, state)
    return state.complaint_id


def activities(store: Db) -> StatusLinkActivities:
    settings = Settings(database_url=store.url, public_lookup_mail_limit=LIMIT)
    return StatusLinkActivities(store.sessions, settings)


async def test_the_limit_holds_for_requests_at_once(db: Db) -> None:  # noqa: F811
    complaint_id = await projected(db)
    queue = activities(db).queue_status_link
    asked = [request(complaint_id, " AN.Nguyen@example.VN ") for _ in range(LIMIT + 3)]
    queued = await asyncio.gather(*(ActivityEnvironment().run(queue, r) for r in asked))
    assert len([q for q in queued if q]) == LIMIT
    async with db.sessions() as session:
        mails = list(await session.scalars(select(OutboxMail).where(OutboxMail.complaint_id == complaint_id)))
        tokens = list(await session.scalars(select(PublicToken).where(PublicToken.complaint_id == complaint_id)))
    assert sorted(m.message_id for m in mails) == sorted(q for q in queued if q)
    assert {m.purpose for m in mails} == {PURPOSE} and len(tokens) == LIMIT
    assert all(m.recipients == ["an.nguyen@example.vn"] for m in mails)
    # A retry of a request that queued finds its mail: no second mail, no second token.
    first = next(r for r, q in zip(asked, queued, strict=True) if q)
    assert await ActivityEnvironment().run(queue, first) in queued
    async with db.sessions() as session:
        assert (
            len(list(await session.scalars(select(PublicToken).where(PublicToken.complaint_id == complaint_id))))
            == LIMIT
        )


async def test_nothing_for_another_address_an_unknown_case_or_an_anonymised_one(db: Db) -> None:  # noqa: F811
    complaint_id = await projected(db)
    queue = activities(db).queue_status_link
    assert await ActivityEnvironment().run(queue, request(complaint_id, "someone.else@example.vn")) == ""
    assert await ActivityEnvironment().run(queue, request("KN-ZZZZZZ")) == ""
    async with transaction(db.sessions) as session:
        row = await session.get(Complaint, complaint_id)
        assert row is not None
        row.anonymised_at = datetime.now(UTC)
    assert await ActivityEnvironment().run(queue, request(complaint_id)) == ""
    async with db.sessions() as session:
        assert not list(await session.scalars(select(OutboxMail).where(OutboxMail.complaint_id == complaint_id)))
