"""The customer behind a complaint, as the store finds them (SQLite and PostgreSQL): one
normalisation of phone and e-mail (domain.customer_identity), written by the projection and by
migration 0010 into indexed columns, searched within the reader's scope along those indexes;
the SLA badges' columns, and the badges themselves (domain.access.sla_badges)."""

import asyncio
import random
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from alembic import command
from sqlalchemy import Table, bindparam, inspect, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from admin.services.complaints import ComplaintService
from admin.services.queues import TO_VERIFY, queue_order
from admin.users import User
from config.settings import Settings
from domain.access import sla_badges
from domain.customer_identity import email_key, phone_key
from domain.models import ComplaintState, Customer
from domain.vocabulary import Channel, Role, Stage
from store import customers, projection, scopes
from store.anonymise import anonymise
from store.engine import make_engine, make_sessionmaker
from store.migrate import alembic_config, upgrade
from store.tables import Complaint
from tests.conftest import no_temporal
from tests.scratch_postgres import empty_store

CS = User("lan.cs", "Lan", Role.CS_AGENT, "CS", "vi")
TECH = User("minh.tech", "Minh", Role.DEPARTMENT_STAFF, "TECH", "vi")
NOW = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "typed",
    ["0901234567", "+84 90 123 4567", "+84901234567", "84901234567", "090.123.4567", "090-123-4567",
     " 090 123 4567 ", "0084 90 123 4567", "(+84) 90-123-4567"],
)  # fmt: skip
def test_every_way_of_writing_a_mobile_number_gives_one_key(typed: str) -> None:
    assert phone_key(typed) == "0901234567"


def test_phone_keys_keep_different_numbers_apart() -> None:
    assert phone_key("+84 24 3826 1234") == phone_key("024.3826.1234") == "02438261234"  # a Hà Nội landline
    assert phone_key("0901234568") != phone_key("0901234567")
    # a national number is never read as a country code, whatever its digits
    assert phone_key("0841234567") == "0841234567"
    assert phone_key("") is None and phone_key(None) is None and phone_key(" - . ") is None


def test_email_keys_are_trimmed_and_case_folded() -> None:
    assert email_key("  An.Nguyen@Example.VN ") == email_key("an.nguyen@example.vn") == "an.nguyen@example.vn"
    assert email_key("STRASSE@EXAMPLE.DE") == "strasse@example.de"
    assert email_key("  ") is None and email_key(None) is None


def test_badges_follow_the_first_response_the_warning_and_the_deadline() -> None:
    deadline = NOW + timedelta(days=5)
    due, past = NOW + timedelta(hours=3), NOW - timedelta(hours=3)
    assert sla_badges(Stage.RECEIVED, False, deadline, due, False, NOW) == ["first_response_due"]
    assert sla_badges(Stage.RECEIVED, False, deadline, past, False, NOW) == ["first_response_breached"]
    # past the first response, only the warning and the deadline count
    assert sla_badges(Stage.IN_PROGRESS, False, deadline, past, True, NOW) == ["warned"]
    assert sla_badges(Stage.IN_PROGRESS, False, NOW - timedelta(minutes=1), past, True, NOW) == ["overdue"]
    assert sla_badges(Stage.IN_PROGRESS, True, deadline, past, True, NOW) == ["overdue"]
    assert sla_badges(Stage.CLOSED, True, NOW - timedelta(days=1), past, True, NOW) == []


def state(
    complaint_id: str,
    *,
    phone: str | None = None,
    email: str | None = None,
    department: str | None = None,
    received_at: datetime = NOW,
    first_response: timedelta = timedelta(days=1),
    warned: bool = False,
    stage: Stage = Stage.RECEIVED,
) -> ComplaintState:
    return ComplaintState(
        complaint_id=complaint_id,
        channel=Channel.PHONE,
        customer=Customer(name="Trần Thị Bình", phone=phone, email=email),
        subject=f"Phản ánh {complaint_id}",
        body="Mạng chậm",
        received_at=received_at,
        stage=stage,
        department=department,
        bound_started_at=received_at,
        deadline=received_at + timedelta(days=20),
        warning_at=received_at + timedelta(days=15),
        first_response_due=received_at + first_response,
        warned=warned,
        version=1,
    )


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    async with AsyncExitStack() as cleanup:
        url = await cleanup.enter_async_context(empty_store(request.param, tmp_path, "history"))
        await upgrade(url)
        engine = make_engine(url)
        cleanup.push_async_callback(engine.dispose)
        yield make_sessionmaker(engine)


async def test_the_projection_writes_the_keys_and_the_history_is_found_within_scope(
    store: async_sessionmaker[AsyncSession],
) -> None:
    async with store() as session:
        for complaint in (
            state("KN-H00001", phone="+84 90 123 4567", department="TECH", received_at=NOW - timedelta(days=3)),
            state(
                "KN-H00002",
                phone="090.123.4567",
                email="Binh@Example.VN",
                department="BILLING",
                received_at=NOW - timedelta(days=2),
            ),
            state("KN-H00003", email=" binh@example.vn", department="TECH", received_at=NOW - timedelta(days=1)),
            state("KN-H00004", phone="0901234568", email="other@example.vn", department="TECH"),
        ):
            await projection.project_complaint(session, complaint)
        await session.commit()
        row = await session.get(Complaint, "KN-H00002")
        assert row is not None and (row.customer_phone_key, row.customer_email_key) == ("0901234567", "binh@example.vn")
        assert row.first_response_due == NOW - timedelta(days=1) and row.warned is False

        service = ComplaintService(session, no_temporal, Settings())
        found = await service.customer_complaints(CS, "84 90 123 4567", None)
        assert [r.id for r in found] == ["KN-H00002", "KN-H00001"]  # newest first
        found = await service.customer_complaints(CS, "0901 234 567", "BINH@example.vn ", exclude="KN-H00002")
        assert [r.id for r in found] == ["KN-H00003", "KN-H00001"]  # by phone or by e-mail, never itself
        # department staff find only what they may open: not BILLING's complaint of the same customer
        found = await service.customer_complaints(TECH, "0901234567", "binh@example.vn")
        assert [r.id for r in found] == ["KN-H00003", "KN-H00001"]
        assert await service.customer_complaints(CS, "", "  ") == []

        # an anonymised complaint no longer ties its customer to anything
        async with store() as fresh:
            anonymised = await fresh.get(Complaint, "KN-H00003")
            assert anonymised is not None
            await anonymise(fresh, anonymised, "quang.manager", "yêu cầu của khách hàng", NOW)
            await fresh.commit()
        found = await service.customer_complaints(CS, "0901234567", "binh@example.vn")
        assert [r.id for r in found] == ["KN-H00002", "KN-H00001"]


async def test_the_to_verify_queue_is_ordered_by_the_first_response_target(
    store: async_sessionmaker[AsyncSession],
) -> None:
    """Filed later with a shorter first-response target, due first: its 20-day deadline is later."""
    async with store() as session:
        await projection.project_complaint(session, state("KN-Q00001", first_response=timedelta(days=5)))
        later = state("KN-Q00002", received_at=NOW + timedelta(hours=2), first_response=timedelta(hours=4))
        await projection.project_complaint(session, later)
        await session.commit()
        service = ComplaintService(session, no_temporal, Settings())
        queues = {queue.title: [r.id for r in queue.rows] for queue in await service.queues(CS)}
        assert queues[TO_VERIFY] == ["KN-Q00002", "KN-Q00001"]


async def test_the_migration_fills_existing_rows(tmp_path: Path, postgres_or_sqlite: str) -> None:
    async with empty_store(postgres_or_sqlite, tmp_path, "fill") as url:
        config = alembic_config(url)
        await asyncio.to_thread(command.upgrade, config, "0010-1")  # the schema before this migration
        engine = make_engine(url)
        try:
            before = state("KN-M00001", phone="+84 (90) 123-4567", email=" Binh@Example.VN", warned=True)
            values = projection.complaint_values(before, None)
            async with engine.connect() as conn:  # the columns a store of that schema has (later ones too)
                stored = await conn.run_sync(lambda sync: {c["name"] for c in inspect(sync).get_columns("complaints")})
            added = {"customer_phone_key", "customer_email_key", "first_response_due", "warned"}
            assert not added & stored
            columns = [c for c in cast(Table, Complaint.__table__).columns if c.name in values and c.name in stored]
            names = ", ".join(c.name for c in columns)
            insert = text(f"INSERT INTO complaints ({names}) VALUES ({', '.join(':' + c.name for c in columns)})")
            async with engine.begin() as conn:
                await conn.execute(
                    insert.bindparams(*[bindparam(c.name, type_=c.type) for c in columns]),
                    {c.name: values[c.name] for c in columns},
                )
            await asyncio.to_thread(command.upgrade, config, "head")
            async with make_sessionmaker(engine)() as session:
                row = await session.get(Complaint, "KN-M00001")
                assert row is not None
                assert (row.customer_phone_key, row.customer_email_key) == ("0901234567", "binh@example.vn")
                assert row.first_response_due == before.first_response_due and row.warned is True
        finally:
            await engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def postgres_or_sqlite(request: pytest.FixtureRequest) -> str:
    return str(request.param)


# --- query plans: the history, the duplicates and the queue along their indexes ---

ROWS = 20_000
# As in service: most complaints are past their first response, about 1 % wait for it.
OTHER_STAGES = [s for s in Stage if s is not Stage.RECEIVED]


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def big_store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Any]:
    async with AsyncExitStack() as cleanup:
        url = await cleanup.enter_async_context(
            empty_store(request.param, tmp_path_factory.mktemp("plans"), "history_plans")
        )
        await upgrade(url)
        engine = make_engine(url)
        cleanup.push_async_callback(engine.dispose)
        sessions = make_sessionmaker(engine)
        rng = random.Random(13)
        async with sessions() as session:
            batch = []
            for i in range(ROWS):
                received = NOW - timedelta(minutes=7 * i)
                complaint = state(
                    f"KN-{i:06d}", phone=f"09{rng.randrange(10**8):08d}", email=f"k{rng.randrange(ROWS)}@example.vn",
                    department=rng.choice(["CS", "TECH", "BILLING"]), received_at=received,
                    stage=Stage.RECEIVED if rng.random() < 0.01 else rng.choice(OTHER_STAGES),
                )  # fmt: skip
                values = projection.complaint_values(complaint, None)
                values["duplicate_of"] = f"KN-{rng.randrange(ROWS):06d}" if rng.random() < 0.1 else None
                batch.append(values)
            for i in range(0, ROWS, 5000):
                await session.execute(cast(Table, Complaint.__table__).insert(), batch[i : i + 5000])
            await session.execute(text("ANALYZE"))
            await session.commit()
        yield request.param, sessions


async def _plan(dialect: str, sessions: Any, statement: Any) -> str:
    async with sessions() as session:
        compiled = statement.compile(session.bind, compile_kwargs={"literal_binds": True})
        if dialect == "sqlite":
            rows = (await session.execute(text(f"EXPLAIN QUERY PLAN {compiled}"))).all()
            return "\n".join(str(r[-1]) for r in rows)
        return "\n".join(str(r[0]) for r in (await session.execute(text(f"EXPLAIN {compiled}"))).all())


@pytest.mark.parametrize("user", [CS, TECH], ids=["cs", "tech"])
async def test_history_and_duplicates_use_their_indexes(big_store: Any, user: User) -> None:
    dialect, sessions = big_store
    scope = scopes.visible_to(user.actor)
    cases = [
        (customers.by_key("customer_phone_key", "0901234567", [*scope, Complaint.id != "KN-000001"]),
         "ix_complaints_phone_key"),
        (customers.by_key("customer_email_key", "k42@example.vn", scope), "ix_complaints_email_key"),
        (customers.duplicates_of("KN-000042", scope), "ix_complaints_duplicate_of"),
    ]  # fmt: skip
    for statement, index in cases:
        plan = await _plan(dialect, sessions, statement)
        assert index in plan, plan


async def test_the_to_verify_queue_reads_by_stage(big_store: Any) -> None:
    dialect, sessions = big_store
    statement = (
        select(Complaint)
        .where(*scopes.visible_to(CS.actor), Complaint.stage == Stage.RECEIVED.value)
        .order_by(*queue_order(TO_VERIFY))
        .limit(100)
    )
    plan = await _plan(dialect, sessions, statement)
    assert "ix_complaints_stage" in plan, plan
