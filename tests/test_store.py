"""The store (projection) against both real databases: SQLite and PostgreSQL.

Every test runs twice: on a fresh SQLite file and on a fresh PostgreSQL database created on the
server named by ``COMPLAINTS_TEST_POSTGRES_URL`` (exported by ``python -m localstack.postgres``, which
``make test`` uses). Without that variable the PostgreSQL cases fail: they are never skipped.
"""

import asyncio
import hashlib
import json
import os
import random
import unicodedata
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

import asyncpg
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import delete, func, inspect, select, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from domain.lifecycle import apply_decision, assign_department, new_state, record
from domain.models import (
    SYSTEM_ACTOR,
    Close,
    ComplaintIntake,
    ComplaintStart,
    ComplaintState,
    Customer,
    CustomerMessage,
    LogEntry,
    Rate,
    Resolve,
    Verify,
)
from domain.sla import VN_TZ, SlaPolicy
from domain.vocabulary import DEFAULT_ROUTING, Category, Channel, Priority, Role, Stage
from store import public_tokens, search, webhook_deliveries
from store.engine import make_engine, make_sessionmaker, transaction
from store.migrate import alembic_config, upgrade
from store.projection import (
    KEPT_ON_CONFLICT,
    add_lesson,
    add_letter,
    append_log,
    complaint_values,
    department_for,
    enqueue_mail,
    get_mail,
    log_rows,
    mark_mail,
    project_complaint,
    staff_with_roles,
)
from store.tables import (
    Complaint,
    ComplaintLog,
    Department,
    Lesson,
    Letter,
    OutboxMail,
    PublicToken,
    RoutingRule,
    Staff,
)
from tests.journey import CS, CS_SUP, TECH

POSTGRES_ENV = "COMPLAINTS_TEST_POSTGRES_URL"
HEAD_REVISION = "0016"
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
POLICY = SlaPolicy()
TEXT_VI = "Khách hàng phản ánh: mạng chậm, đứt kết nối — ưu tiên"
EXPECTED_TABLES = {
    "alembic_version",
    "departments",
    "routing_rules",
    "staff",
    "complaints",
    "complaint_log",
    "lessons",
    "letters",
    "mail_outbox",
    "complaint_keys",
    "saved_views",
    "canned_replies",
    "public_tokens",
    "mail_inbox",
    "webhook_deliveries",
}
DEPARTMENTS = {"CS", "TECH", "BILLING", "SALES"}


# --- the two databases: a fresh one per module and kind ---


@dataclass
class Db:
    kind: str
    url: str
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]


MISSING_POSTGRES = (
    f"{POSTGRES_ENV} is not set: the PostgreSQL store tests need a real PostgreSQL server. Run them via "
    "`make test` or `.venv/bin/python -m localstack.postgres -- .venv/bin/python -m pytest tests/test_store.py`."
)


class _NoDatabase(Db):
    """Stands in for a database that could not be provided: any use fails the test (never skips it)."""

    def __init__(self, reason: str) -> None:
        self._reason = reason

    def __getattr__(self, name: str) -> NoReturn:
        pytest.fail(self._reason, pytrace=False)


async def _on_server(server_url: str, sql: str) -> None:
    """Run ``sql`` outside any transaction (CREATE/DROP DATABASE) on the server of ``server_url``."""
    dsn = make_url(server_url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Db]:
    kind = str(request.param)
    server_url = name = None
    if kind == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('store') / 'store.db'}"
    else:
        server_url = os.environ.get(POSTGRES_ENV)
        if not server_url:
            # Fail in each test's own call (reported as FAILED, with the reason), not in setup.
            yield _NoDatabase(MISSING_POSTGRES)
            return
        name = f"store_test_{uuid.uuid4().hex[:12]}"
        await _on_server(server_url, f'CREATE DATABASE "{name}"')
        url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    try:
        await upgrade(url)
        engine = make_engine(url)
        try:
            yield Db(kind, url, engine, make_sessionmaker(engine))
        finally:
            await engine.dispose()
    finally:
        if server_url and name:
            await _on_server(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- helpers ---


def new_id() -> str:
    return "KN-" + uuid.uuid4().hex[:8].upper()


def started(
    complaint_id: str | None = None,
    *,
    received_at: datetime = T0,
    name: str = "Nguyễn Văn An",
    subject: str = "Mất kết nối Internet",
    body: str = "Đường truyền bị mất liên tục từ ngày 10.",
) -> ComplaintState:
    intake = ComplaintIntake(
        channel=Channel.EMAIL,
        customer=Customer(name=name, email="an.nguyen@example.vn", phone="0901234567"),
        subject=subject,
        body=body,
        intake_key=f"test:{uuid.uuid4()}",
    )
    start = ComplaintStart(complaint_id=complaint_id or new_id(), intake=intake, received_at=received_at, policy=POLICY)
    return new_state(start)


def history(complaint_id: str | None = None, **kwargs: Any) -> list[ComplaintState]:
    """Successive states of one complaint, versions 1..4: received, verified, routed, escalated."""
    s1 = started(complaint_id, **kwargs)
    s2 = apply_decision(
        s1,
        "verify",
        Verify(actor=CS, summary="Mạng chập chờn", category=Category.TECHNICAL, priority=Priority.HIGH),
        T0 + timedelta(hours=1),
        POLICY,
    )
    s3 = assign_department(s2, "TECH", SYSTEM_ACTOR, T0 + timedelta(hours=1), None)
    s4 = apply_decision(
        s3,
        "resolve",
        Resolve(
            actor=TECH,
            cause="Hỏng bộ chia quang",
            resolution="Thay bộ chia, cần bồi thường",
            within_authority=False,
            reply_draft="Kính gửi quý khách...",
        ),
        T0 + timedelta(days=2),
        POLICY,
    )
    assert [s.version for s in (s1, s2, s3, s4)] == [1, 2, 3, 4]
    return [s1, s2, s3, s4]


def closed(state: ComplaintState, root_cause: str, lessons: str) -> ComplaintState:
    payload = Close(actor=CS_SUP, root_cause=root_cause, lessons_learned=lessons, preventive_action="Kiểm tra định kỳ")
    return apply_decision(state, "close", payload, T0 + timedelta(days=5), POLICY)


def as_utc(value: datetime | None) -> datetime | None:
    """The instant of ``value``, reading a naive value as UTC. The timezone behaviour itself is
    checked by ``test_timestamps_come_back_timezone_aware_and_equal``; elsewhere this keeps that
    one concern from failing every test."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


async def project(db: Db, state: ComplaintState, intake_key: str | None = None) -> bool:
    async with transaction(db.sessions) as session:
        return await project_complaint(session, state, intake_key)


async def complaint_row(db: Db, complaint_id: str) -> Complaint:
    async with db.sessions() as session:
        row = await session.get(Complaint, complaint_id)
    assert row is not None, complaint_id
    return row


async def count(db: Db, table: type, **where: object) -> int:
    query = select(func.count()).select_from(table)
    for column, value in where.items():
        query = query.where(getattr(table, column) == value)
    async with db.sessions() as session:
        return int(await session.scalar(query) or 0)


async def table_counts(db: Db) -> dict[str, int]:
    tables = (Department, RoutingRule, Staff, Complaint, ComplaintLog, Lesson, Letter, OutboxMail)
    return {t.__tablename__: await count(db, t) for t in tables}


# --- 1. migration and seed ---


async def test_upgrade_creates_all_tables_seeds_and_is_idempotent(db: Db) -> None:
    before = await table_counts(db)
    await upgrade(db.url)
    await upgrade(db.url)
    assert await table_counts(db) == before, "a second upgrade() must add nothing"

    def reflect(sync_conn: Connection) -> tuple[set[str], dict[str, set[str | None]]]:
        inspector = inspect(sync_conn)
        uniques = {
            t: {u["name"] for u in inspector.get_unique_constraints(t)} for t in ("complaint_log", "lessons", "letters")
        }
        return set(inspector.get_table_names()), uniques

    async with db.engine.connect() as conn:
        tables, uniques = await conn.run_sync(reflect)
    assert tables >= EXPECTED_TABLES, EXPECTED_TABLES - tables
    assert "uq_complaint_log_seq" in uniques["complaint_log"]
    assert "uq_lessons_seq" in uniques["lessons"]
    assert "uq_letters_seq" in uniques["letters"]

    async with db.sessions() as session:
        departments = set(await session.scalars(select(Department.code)))
        rules = {r.category: r.department_code for r in await session.scalars(select(RoutingRule))}
        staff = list(await session.scalars(select(Staff).where(Staff.active.is_(True))))
        revisions = list(await session.scalars(text("SELECT version_num FROM alembic_version")))
    assert departments == DEPARTMENTS
    assert set(rules) == {c.value for c in Category}, "every category needs a routing rule"
    assert rules == {c.value: d for c, d in DEFAULT_ROUTING.items()}
    assert set(rules.values()) <= departments
    assert any(s.role == Role.MANAGER.value for s in staff), "no manager seeded"
    for code in DEPARTMENTS:
        assert any(s.role == Role.SUPERVISOR.value and s.department_code == code for s in staff), code
    assert all(s.email for s in staff)
    assert revisions == [HEAD_REVISION]
    assert ScriptDirectory.from_config(alembic_config(db.url)).get_heads() == [HEAD_REVISION]


async def test_migration_0008_adds_the_assignee_and_its_index_and_goes_back(db: Db) -> None:
    """Rows stored before it read as unassigned; down and up again, the search triggers of 0007
    still index new rows (a table copy would have dropped them on SQLite)."""
    config = alembic_config(db.url)
    await asyncio.to_thread(command.downgrade, config, "0007")

    def columns(sync_conn: Connection) -> tuple[set[str], set[str | None]]:
        inspector = inspect(sync_conn)
        names = {c["name"] for c in inspector.get_columns("complaints")}
        return names, {i["name"] for i in inspector.get_indexes("complaints")}

    try:
        async with db.engine.connect() as conn:
            names, indexes = await conn.run_sync(columns)
        assert "assignee" not in names and "ix_complaints_assignee_stage_deadline" not in indexes
    finally:
        await upgrade(db.url)
    async with db.engine.connect() as conn:
        names, indexes = await conn.run_sync(columns)
    assert "assignee" in names and "ix_complaints_assignee_stage_deadline" in indexes
    state = started(subject=f"Sau 0008 {uuid.uuid4().hex[:6]}")
    async with transaction(db.sessions) as session:
        await project_complaint(session, state)
    async with db.sessions() as session:
        row = await session.get(Complaint, state.complaint_id)
        assert row is not None and row.assignee is None
        found = await session.scalars(select(Complaint.id).where(search.matches(db.engine.dialect.name, state.subject)))
        assert list(found) == [state.complaint_id]


async def test_migration_0013_adds_the_conversation_columns_and_goes_back(db: Db) -> None:
    """A row stored before 0013 reads as no message yet; down and up again, the search triggers
    still index new rows; a projected state carries the flags CS's queue reads."""
    config = alembic_config(db.url)
    before = started(subject=f"Trước 0013 {uuid.uuid4().hex[:6]}")
    await asyncio.to_thread(command.downgrade, config, "0012")

    def columns(sync_conn: Connection) -> tuple[set[str], set[str | None]]:
        inspector = inspect(sync_conn)
        names = {c["name"] for c in inspector.get_columns("complaints")}
        return names, {i["name"] for i in inspector.get_indexes("complaints")}

    conversation = {"wrote_after_closing", "reopen_requested", "last_customer_message_at", "reopen_until"}
    try:
        async with db.engine.connect() as conn:
            names, indexes = await conn.run_sync(columns)
            assert not names & conversation and "ix_complaints_wrote_after_closing" not in indexes
            # a row as 0012 wrote it (the columns it has)
            values = {k: v for k, v in complaint_values(before, None).items() if k in names}
            # only these columns (the model's defaults would name the new ones); JSON as the ORM stores it
            raw = {k: json.dumps(v) if k == "state" else v for k, v in values.items()}
            await conn.execute(sa.table("complaints", *(sa.column(k) for k in raw)).insert().values(raw))
            await conn.commit()
    finally:
        await upgrade(db.url)
    async with db.engine.connect() as conn:
        names, indexes = await conn.run_sync(columns)
    assert conversation <= names and "ix_complaints_wrote_after_closing" in indexes
    old = await complaint_row(db, before.complaint_id)
    assert (old.wrote_after_closing, old.reopen_requested, old.last_customer_message_at) == (False, False, None)

    done = closed(started(subject=f"Sau 0013 {uuid.uuid4().hex[:6]}"), "Firmware cũ", "Cập nhật định kỳ")
    message = CustomerMessage(actor=SYSTEM_ACTOR, text="Xin mở lại", via=Channel.WEB, reopen_requested=True)
    wrote = apply_decision(done, "customer_message", message, T0 + timedelta(days=6), POLICY)
    await project(db, wrote)
    row = await complaint_row(db, wrote.complaint_id)
    assert (row.wrote_after_closing, row.reopen_requested) == (True, True)
    assert as_utc(row.last_customer_message_at) == T0 + timedelta(days=6)
    assert as_utc(row.reopen_until) == wrote.reopen_until
    async with db.sessions() as session:
        found = await session.scalars(select(Complaint.id).where(search.matches(db.engine.dialect.name, wrote.subject)))
        assert list(found) == [wrote.complaint_id]


async def test_webhook_signatures_are_claimed_once_released_and_forgotten(db: Db) -> None:
    """Replay protection (0016): a signature is claimed once, also by two claims racing each
    other; a released claim (the request failed) can be claimed again; an old one is forgotten."""
    signature = f"sha256={uuid.uuid4().hex}"
    keep = timedelta(minutes=10)

    async def claim(at: datetime) -> bool:
        async with db.sessions() as session:
            return await webhook_deliveries.claim(session, signature, at, keep)

    assert sorted(await asyncio.gather(claim(T0), claim(T0))) == [False, True]
    assert not await claim(T0 + timedelta(minutes=1))
    async with db.sessions() as session:
        await webhook_deliveries.release(session, signature)
    assert await claim(T0 + timedelta(minutes=2))
    assert await claim(T0 + timedelta(minutes=13)), "a claim older than the window is forgotten"

    config = alembic_config(db.url)
    await asyncio.to_thread(command.downgrade, config, "0015")
    try:
        async with db.engine.connect() as conn:
            assert "webhook_deliveries" not in await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
    finally:
        await upgrade(db.url)


# --- 2. seeding never overwrites edits ---


async def test_seeding_keeps_edits_made_by_staff(db: Db) -> None:
    async with db.sessions() as session:
        minh = await session.scalar(select(Staff).where(Staff.username == "minh.tech"))
        assert minh is not None
        old_email = minh.email
        tech = await session.get(Department, "TECH")
        assert tech is not None
        old_dept_email = tech.email
    try:
        async with transaction(db.sessions) as session:
            rule = await session.get(RoutingRule, Category.TECHNICAL.value)
            assert rule is not None
            rule.department_code = "SALES"
            person = await session.scalar(select(Staff).where(Staff.username == "minh.tech"))
            assert person is not None
            person.email = "minh.le.quang@luarong.vn"
            dept = await session.get(Department, "TECH")
            assert dept is not None
            dept.email = "hotro-kythuat@luarong.vn"
            # A deleted rule is missing, not edited: routing falls back, and seeding adds it back.
            await session.execute(delete(RoutingRule).where(RoutingRule.category == Category.OTHER.value))
        async with db.sessions() as session:
            assert await department_for(session, Category.OTHER) == DEFAULT_ROUTING[Category.OTHER]

        await upgrade(db.url)

        async with db.sessions() as session:
            assert await department_for(session, Category.TECHNICAL) == "SALES"
            assert await department_for(session, Category.BILLING) == "BILLING"
            assert (await session.get(RoutingRule, Category.OTHER.value)) is not None
            person = await session.scalar(select(Staff).where(Staff.username == "minh.tech"))
            assert person is not None and person.email == "minh.le.quang@luarong.vn"
            tech = await session.get(Department, "TECH")
            assert tech is not None and tech.email == "hotro-kythuat@luarong.vn"
        assert await count(db, Staff, username="minh.tech") == 1
    finally:
        async with transaction(db.sessions) as session:
            rule = await session.get(RoutingRule, Category.TECHNICAL.value)
            if rule is not None:
                rule.department_code = DEFAULT_ROUTING[Category.TECHNICAL]
            person = await session.scalar(select(Staff).where(Staff.username == "minh.tech"))
            if person is not None:
                person.email = old_email
            dept = await session.get(Department, "TECH")
            if dept is not None:
                dept.email = old_dept_email


# --- 3. complaint rows only move forward ---


async def test_project_complaint_upserts_and_never_moves_backwards(db: Db) -> None:
    s1, s2, s3, s4 = history()
    cid = s1.complaint_id

    assert await project(db, s3, intake_key=s1.intake_key) is True
    row = await complaint_row(db, cid)
    assert (row.version, row.stage, row.department_code, row.category) == (3, "in_progress", "TECH", "technical")
    assert row.intake_key == s1.intake_key

    # A retried or replayed activity writes an older state: nothing changes.
    assert await project(db, s2) is False
    assert await project(db, s1) is False
    # The same version again: nothing changes either.
    assert await project(db, s3.model_copy(update={"summary": "không được ghi"})) is False
    row = await complaint_row(db, cid)
    assert (row.version, row.stage, row.department_code, row.summary) == (3, "in_progress", "TECH", s3.summary)
    assert row.priority == "high" and row.escalation_level == 0
    assert row.state["version"] == 3 and "log" not in row.state
    assert as_utc(row.updated_at) == s3.log[-1].at

    # A newer version wins, and the intake key stays as first written.
    assert await project(db, s4) is True
    row = await complaint_row(db, cid)
    assert (row.version, row.stage, row.escalation_level) == (4, Stage.ESCALATED.value, 1)
    resolution = row.state["resolution"]
    assert isinstance(resolution, dict) and resolution["cause"] == "Hỏng bộ chia quang"
    assert as_utc(row.updated_at) == s4.log[-1].at
    assert row.intake_key == s1.intake_key
    assert await count(db, Complaint, id=cid) == 1


async def test_satisfaction_is_projected_and_status_links_are_kept_hashed(db: Db) -> None:
    """The customer's rating lands in its own columns (for reports); a status-page token is kept
    as its hash only, once however often it is kept, and revoked for good (issue 14)."""
    state = closed(started(), "Nguyên nhân", "Bài học")
    rated = apply_decision(
        state, "rate", Rate(actor=SYSTEM_ACTOR, score=3, comment="Tạm được"), T0 + timedelta(days=6), POLICY
    )
    await project(db, rated)
    row = await complaint_row(db, rated.complaint_id)
    assert (row.satisfaction_score, row.satisfaction_comment) == (3, "Tạm được")
    assert as_utc(row.satisfaction_at) == T0 + timedelta(days=6)

    cid, token = rated.complaint_id, public_tokens.new_token()
    async with transaction(db.sessions) as session:
        await public_tokens.keep(session, cid, token, public_tokens.MAIL, T0)
        await public_tokens.keep(session, cid, token, public_tokens.MAIL, T0)  # a retried step
    async with db.sessions() as session:
        stored = list(await session.scalars(select(PublicToken.token_hash).where(PublicToken.complaint_id == cid)))
        assert stored == [hashlib.sha256(token.encode()).hexdigest()] and token not in stored
        assert await public_tokens.valid(session, cid, token)
        assert not await public_tokens.valid(session, cid, token + "x")
        assert not await public_tokens.valid(session, new_id(), token)
    async with transaction(db.sessions) as session:
        assert await public_tokens.revoke(session, cid, "lan.cs", T0) == 1
    async with db.sessions() as session:
        assert not await public_tokens.valid(session, cid, token)
        assert await public_tokens.live_count(session, cid) == 0


def test_projection_writes_every_column_but_the_anonymisation_mark() -> None:
    """The prepared upsert updates every column but the keys and the anonymisation mark; a
    column the projection forgot would silently stay as first written."""
    columns = {c.name for c in Complaint.__table__.columns}
    assert set(complaint_values(history()[-1], "k")) == columns - {"anonymised_at"}
    assert set(KEPT_ON_CONFLICT) <= columns


# --- 4. the log is written once per (complaint, seq) ---


async def test_append_log_is_idempotent_per_complaint_and_seq(db: Db) -> None:
    states = history()
    last = states[-1]
    cid = last.complaint_id
    await project(db, last)

    for state in states:
        async with transaction(db.sessions) as session:
            assert await append_log(session, cid, state.log[-1], state.stage.value) is True
    first = last.log[1]
    replay = first.model_copy(update={"action": "note", "detail": {"text": "ghi đè"}})
    async with transaction(db.sessions) as session:
        assert await append_log(session, cid, first, Stage.IN_PROGRESS.value) is False
        assert await append_log(session, cid, replay, Stage.CLOSED.value) is False

    assert await count(db, ComplaintLog, complaint_id=cid) == 4
    assert await count(db, ComplaintLog, complaint_id=cid, seq=first.seq) == 1
    async with db.sessions() as session:
        rows = await log_rows(session, cid)
    assert [r.seq for r in rows] == [1, 2, 3, 4]
    assert [r.action for r in rows] == ["receive", "verify", "route", "resolve"]
    assert [r.stage_after for r in rows] == [s.stage.value for s in states]
    assert rows[1].detail == first.detail and rows[1].actor_user == CS.user
    assert (rows[1].actor_role, rows[1].actor_department) == (Role.CS_AGENT.value, "CS")
    assert rows[0].actor_role == Role.SYSTEM.value and rows[0].actor_department is None


# --- 5. the mail outbox ---


async def test_outbox_keeps_one_row_per_message_id_and_marks_attempts(db: Db) -> None:
    cid = new_id()
    message_id = f"<{cid}.ack@luarong.vn>"
    created = T0 + timedelta(minutes=3)
    for subject in ("Xác nhận tiếp nhận khiếu nại", "bản khác không được ghi"):
        async with transaction(db.sessions) as session:
            await enqueue_mail(
                session,
                message_id=message_id,
                complaint_id=cid,
                purpose="acknowledge",
                recipients=["an.nguyen@example.vn"] if subject.startswith("X") else ["other@example.vn"],
                subject=subject,
                body_text="Chúng tôi đã nhận được khiếu nại.",
                body_html="<p>Chúng tôi đã nhận được khiếu nại.</p>",
                created_at=created,
            )
    assert await count(db, OutboxMail, message_id=message_id) == 1
    async with db.sessions() as session:
        mail = await get_mail(session, message_id)
        assert await get_mail(session, "<missing@luarong.vn>") is None
    assert mail is not None
    assert (mail.status, mail.attempts, mail.last_error, mail.sent_at) == ("pending", 0, None, None)
    assert mail.subject == "Xác nhận tiếp nhận khiếu nại" and mail.recipients == ["an.nguyen@example.vn"]
    assert as_utc(mail.created_at) == created

    async with transaction(db.sessions) as session:
        await mark_mail(session, message_id, status="failed", error="421 thử lại sau", at=None)
    async with db.sessions() as session:
        mail = await get_mail(session, message_id)
    assert mail is not None
    assert (mail.status, mail.attempts, mail.last_error, mail.sent_at) == ("failed", 1, "421 thử lại sau", None)

    sent_at = T0 + timedelta(minutes=5)
    async with transaction(db.sessions) as session:
        await mark_mail(session, message_id, status="sent", error=None, at=sent_at)
    async with db.sessions() as session:
        mail = await get_mail(session, message_id)
    assert mail is not None
    assert (mail.status, mail.attempts, mail.last_error) == ("sent", 2, None)
    assert as_utc(mail.sent_at) == sent_at


# --- 6. lessons register and letters ---


async def test_lessons_and_letters_are_idempotent_per_complaint_and_seq(db: Db) -> None:
    state = closed(history()[-1], "Bộ chia quang quá tải", "Theo dõi tải thiết bị hằng tuần")
    cid = state.complaint_id
    await project(db, state)
    other = state.model_copy(update={"root_cause": "không được ghi", "lessons_learned": "không được ghi"})
    recorded = T0 + timedelta(days=5)

    for version in (state, other, state):
        async with transaction(db.sessions) as session:
            await add_lesson(session, version, state.version, CS_SUP.user, recorded)
            await add_letter(session, cid, 4, "tuan.tech", recorded, "<p>Kính gửi quý khách</p>")
            await add_letter(session, cid, 4, "someone.else", recorded, "<p>không được ghi</p>")
    async with transaction(db.sessions) as session:
        await add_letter(session, cid, 6, "tuan.tech", recorded + timedelta(days=1), "<p>Thư thứ hai</p>")

    async with db.sessions() as session:
        lessons = list(await session.scalars(select(Lesson).where(Lesson.complaint_id == cid)))
        letters = list(await session.scalars(select(Letter).where(Letter.complaint_id == cid).order_by(Letter.seq)))
    assert len(lessons) == 1
    lesson = lessons[0]
    assert (lesson.seq, lesson.root_cause, lesson.lessons_learned) == (
        state.version,
        "Bộ chia quang quá tải",
        "Theo dõi tải thiết bị hằng tuần",
    )
    assert (lesson.department_code, lesson.category, lesson.recorded_by) == ("TECH", "technical", CS_SUP.user)
    assert lesson.preventive_action == "Kiểm tra định kỳ"
    assert as_utc(lesson.recorded_at) == recorded
    assert [(x.seq, x.signer, x.html) for x in letters] == [
        (4, "tuan.tech", "<p>Kính gửi quý khách</p>"),
        (6, "tuan.tech", "<p>Thư thứ hai</p>"),
    ]


# --- 7. the staff directory ---


async def test_staff_with_roles_narrows_by_department_and_skips_inactive(db: Db) -> None:
    suffix = uuid.uuid4().hex[:6]
    async with transaction(db.sessions) as session:
        session.add_all(
            [
                Staff(
                    username=f"cu.tech.{suffix}",
                    full_name="Trưởng phòng cũ",
                    role=Role.SUPERVISOR.value,
                    department_code="TECH",
                    active=False,
                ),
                Staff(username=f"cu.manager.{suffix}", full_name="Giám đốc cũ", role=Role.MANAGER.value, active=False),
            ]
        )
    async with db.sessions() as session:
        tech = await staff_with_roles(session, [Role.SUPERVISOR, Role.MANAGER], "TECH")
        supervisors_only = await staff_with_roles(session, [Role.SUPERVISOR], "TECH")
        everywhere = await staff_with_roles(session, [Role.SUPERVISOR, Role.MANAGER])
        dept_staff = await staff_with_roles(session, [Role.DEPARTMENT_STAFF], "BILLING")
    assert [s.username for s in tech] == ["quang.manager", "tuan.tech"]
    assert [s.username for s in supervisors_only] == ["tuan.tech"]
    assert [s.username for s in everywhere] == sorted(
        ["hung.cs", "tuan.tech", "thu.billing", "phuong.sales", "quang.manager"]
    )
    assert [s.username for s in dept_staff] == ["ha.billing"]
    assert all(s.active for s in [*tech, *everywhere])


# --- 8. Vietnamese text and timestamps ---


async def test_vietnamese_text_round_trips_exactly(db: Db) -> None:
    decomposed = unicodedata.normalize("NFD", TEXT_VI)
    assert decomposed != TEXT_VI
    state = started(name="Nguyễn Thị Hồng Nhung", subject="Khiếu nại: cước phí tháng 10", body=TEXT_VI)
    state = record(state, "note", CS, T0 + timedelta(hours=1), {"text": TEXT_VI, "nfd": decomposed}, summary=decomposed)
    state = closed(state, TEXT_VI, "Ưu tiên xử lý đứt kết nối — gọi lại trong 2 giờ")
    cid = state.complaint_id
    await project(db, state)
    async with transaction(db.sessions) as session:
        await append_log(session, cid, state.log[1], state.stage.value)
        await add_lesson(session, state, state.version, "hưng", state.closed_at or T0)
        await add_letter(session, cid, state.version, "tuan.tech", T0, f"<p>{TEXT_VI}</p>")
        await enqueue_mail(
            session,
            message_id=f"<{cid}.vi@luarong.vn>",
            complaint_id=cid,
            purpose="acknowledge",
            recipients=["nhung@example.vn"],
            subject=f"[{cid}] {TEXT_VI}",
            body_text=TEXT_VI,
            body_html=f"<p>{TEXT_VI}</p>",
            created_at=T0,
        )

    row = await complaint_row(db, cid)
    assert row.body == TEXT_VI and row.state["body"] == TEXT_VI
    customer = row.state["customer"]
    assert isinstance(customer, dict)
    assert row.customer_name == "Nguyễn Thị Hồng Nhung" and customer["name"] == "Nguyễn Thị Hồng Nhung"
    assert row.subject == "Khiếu nại: cước phí tháng 10"
    assert row.summary == decomposed and row.state["summary"] == decomposed
    assert row.root_cause == TEXT_VI
    async with db.sessions() as session:
        (log,) = await log_rows(session, cid)
        lesson = await session.scalar(select(Lesson).where(Lesson.complaint_id == cid))
        letter = await session.scalar(select(Letter).where(Letter.complaint_id == cid))
        mail = await get_mail(session, f"<{cid}.vi@luarong.vn>")
        # Searching by the Vietnamese text finds the row (what the admin's search relies on).
        found = list(await session.scalars(select(Complaint.id).where(Complaint.body.contains("đứt kết nối"))))
    assert log.detail == {"text": TEXT_VI, "nfd": decomposed}
    assert lesson is not None and lesson.recorded_by == "hưng" and lesson.root_cause == TEXT_VI
    assert lesson.lessons_learned == "Ưu tiên xử lý đứt kết nối — gọi lại trong 2 giờ"
    assert letter is not None and letter.html == f"<p>{TEXT_VI}</p>"
    assert mail is not None and (mail.subject, mail.body_text) == (f"[{cid}] {TEXT_VI}", TEXT_VI)
    assert cid in found


async def test_timestamps_come_back_timezone_aware_and_equal(db: Db) -> None:
    # A letter received in Hà Nội and entered later: the offset is +07:00, not UTC.
    received = datetime(2026, 11, 2, 16, 30, 15, 123456, tzinfo=VN_TZ)
    state = closed(started(received_at=received), "Nguyên nhân", "Bài học")
    cid = state.complaint_id
    signed = datetime(2026, 11, 7, 8, 15, tzinfo=VN_TZ)
    sent = datetime(2026, 11, 7, 1, 20, 0, 5, tzinfo=UTC)
    await project(db, state)
    async with transaction(db.sessions) as session:
        await append_log(session, cid, state.log[0], Stage.RECEIVED.value)
        await add_lesson(session, state, state.version, CS_SUP.user, signed)
        await add_letter(session, cid, state.version, "tuan.tech", signed, "<p>thư</p>")
        await enqueue_mail(
            session,
            message_id=f"<{cid}.tz@luarong.vn>",
            complaint_id=cid,
            purpose="acknowledge",
            recipients=["an.nguyen@example.vn"],
            subject="s",
            body_text="t",
            body_html="h",
            created_at=received,
        )
        await mark_mail(session, f"<{cid}.tz@luarong.vn>", status="sent", error=None, at=sent)

    row = await complaint_row(db, cid)
    async with db.sessions() as session:
        (log,) = await log_rows(session, cid)
        lesson = await session.scalar(select(Lesson).where(Lesson.complaint_id == cid))
        letter = await session.scalar(select(Letter).where(Letter.complaint_id == cid))
        mail = await get_mail(session, f"<{cid}.tz@luarong.vn>")
    assert lesson is not None and letter is not None and mail is not None
    got = {
        "complaints.received_at": (row.received_at, received),
        "complaints.deadline": (row.deadline, state.deadline),
        "complaints.closed_at": (row.closed_at, state.closed_at),
        "complaints.updated_at": (row.updated_at, state.log[-1].at),
        "complaint_log.at": (log.at, state.log[0].at),
        "lessons.recorded_at": (lesson.recorded_at, signed),
        "letters.signed_at": (letter.signed_at, signed),
        "mail_outbox.created_at": (mail.created_at, received),
        "mail_outbox.sent_at": (mail.sent_at, sent),
    }
    naive = sorted(column for column, (value, _) in got.items() if value is None or value.utcoffset() is None)
    # Read naive values as UTC to show whether the instant itself survived (it does not when the
    # offset is dropped and the +07:00 wall-clock time is stored as is).
    shifted = {
        column: f"{want.isoformat() if want else None} -> {value.isoformat() if value else None}"
        for column, (value, want) in got.items()
        if as_utc(value) != want
    }
    assert not naive and not shifted, (
        f"{db.kind}: columns that came back without a timezone: {naive}; instants changed: {shifted}"
    )
    assert all(value == want for value, want in got.values())
    # The JSON copy of the state keeps the offset as written.
    assert datetime.fromisoformat(str(row.state["received_at"])) == received


# --- 9. concurrency ---


async def test_concurrent_projections_end_at_the_newest_version(db: Db) -> None:
    states = [started()]
    for n in range(2, 21):
        states.append(record(states[-1], "note", CS, T0 + timedelta(minutes=n), {"n": n}, summary=f"phiên bản {n}"))
    assert [s.version for s in states] == list(range(1, 21))
    shuffled = random.Random(20).sample(states, len(states))

    async def write(state: ComplaintState) -> bool:
        async with transaction(db.sessions) as session:
            return await project_complaint(session, state, state.intake_key)

    written = await asyncio.gather(*(write(s) for s in shuffled))
    assert any(written)
    # the write of version 20 must have landed: nothing newer exists to have beaten it
    assert written[shuffled.index(states[-1])] is True
    row = await complaint_row(db, states[0].complaint_id)
    assert (row.version, row.summary) == (20, "phiên bản 20")
    assert row.state["version"] == 20
    assert await count(db, Complaint, id=states[0].complaint_id) == 1


async def test_concurrent_log_appends_write_one_row(db: Db) -> None:
    state = started()
    await project(db, state)
    entry: LogEntry = state.log[0]

    async def write() -> bool:
        async with transaction(db.sessions) as session:
            return await append_log(session, state.complaint_id, entry, Stage.RECEIVED.value)

    written = await asyncio.gather(*(write() for _ in range(10)))
    assert written.count(True) == 1
    assert await count(db, ComplaintLog, complaint_id=state.complaint_id) == 1
