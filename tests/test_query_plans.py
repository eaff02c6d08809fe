"""With 100,000 stored complaints, the list and search queries use indexes: the database's own
query plan shows no full table scan (SQLite and PostgreSQL). Their speed is measured by
`make bench`, not here."""

import os
import random
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from sqlalchemy import Table, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from admin.services.complaints import ComplaintService, Filters
from admin.services.queues import QUEUE_LIMIT, WROTE_AFTER_CLOSING, queue_order, work_queues
from admin.users import User
from config.settings import Settings
from domain.vocabulary import Category, Channel, Role, Stage
from store import scopes
from store.engine import make_engine, make_sessionmaker
from store.migrate import upgrade
from store.tables import LISTED, Complaint
from tests.conftest import no_temporal
from tests.scratch_postgres import scratch_database

ROWS = 100_000
CS = User("lan.cs", "Lan", Role.CS_AGENT, "CS", "vi")
TECH = User("minh.tech", "Minh", Role.DEPARTMENT_STAFF, "TECH", "vi")
CASES: list[tuple[User, Filters]] = [
    (CS, Filters()),
    (CS, Filters(stage="in_progress")),
    (CS, Filters(department="BILLING")),
    (CS, Filters(category="technical")),
    (CS, Filters(channel="email")),
    (CS, Filters(overdue=True)),
    (TECH, Filters()),
    (TECH, Filters(stage="in_progress")),
    (CS, Filters(q="KN-22222A")),
    (CS, Filters(q="khách 4242")),
    (TECH, Filters(q="mạng chậm", stage="in_progress")),
    (CS, Filters(q="khach 4242")),  # without diacritics: the same folded index (migration 0007)
    (CS, Filters(q="mang cham")),
    (CS, Filters(received_from=datetime(2026, 1, 1, tzinfo=UTC))),
    # the list's other sorts (migration 0011), for everyone and within one department
    *[(user, Filters(sort=sort)) for sort in ("deadline", "priority", "stage") for user in (CS, TECH)],
    (CS, Filters(sort="deadline", stage="in_progress")),
    (TECH, Filters(sort="priority", stage="in_progress")),
    (CS, Filters(sort="stage", overdue=True)),
    (CS, Filters(sort="priority", q="khach 4242")),
    (TECH, Filters(assignee="me")),  # migration 0008
    (CS, Filters(assignee="minh.tech", stage="in_progress")),
]
ASSIGNEES = [None] * 17 + ["minh.tech", "lan.cs", "tuan.tech"]


def rows(n: int) -> list[dict[str, Any]]:
    rng, assigned = random.Random(7), random.Random(8)  # the assignees apart: the other columns as before
    start = datetime(2025, 1, 1, tzinfo=UTC)
    stages, departments = [s.value for s in Stage], ["CS", "TECH", "BILLING", "SALES"]
    out: list[dict[str, Any]] = []
    for i in range(n):
        received = start + timedelta(minutes=7 * i)
        out.append({
            "id": f"KN-{i:06d}", "intake_key": None, "channel": rng.choice(list(Channel)).value,
            "customer_name": f"Khách {i}", "customer_email": f"k{i}@example.vn", "customer_phone": None,
            "customer_address": None, "language": "vi", "subject": f"Phản ánh {i}", "body": "Mạng chậm " * 5,
            "summary": None, "category": rng.choice(list(Category)).value,
            "priority": rng.choice(["normal"] * 8 + ["high", "urgent"]),
            "department_code": rng.choice(departments), "stage": rng.choice(stages), "outcome": None,
            "overdue": rng.random() < 0.05, "escalation_level": 0, "reopen_count": 0, "received_at": received,
            "deadline": received + timedelta(days=20), "closed_at": None, "updated_at": received,
            "root_cause": None, "rejection_reason": None, "duplicate_of": None, "version": 1, "state": {},
            "assignee": assigned.choice(ASSIGNEES),
        })  # fmt: skip
    return out


async def fill(session: AsyncSession) -> None:
    data = rows(ROWS)
    for i in range(0, ROWS, 5000):
        await session.execute(cast(Table, Complaint.__table__).insert(), data[i : i + 5000])  # Core, not the ORM
    await session.commit()


# Built once per store: make test runs the suite with --dist loadfile, one module per xdist worker.
@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
async def big_store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Any]:
    async with AsyncExitStack() as cleanup:
        if request.param == "sqlite":
            url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('big') / 'complaints.db'}"
        else:
            url = await cleanup.enter_async_context(scratch_database("plans"))
        await upgrade(url)
        engine = make_engine(url)
        cleanup.push_async_callback(engine.dispose)
        sessions = make_sessionmaker(engine)
        async with sessions() as session:
            await fill(session)
            await session.execute(text("ANALYZE"))
            await session.commit()
        yield request.param, sessions


class Capture(ComplaintService):
    """The service, with the first statement it would run captured instead of executed."""

    statement: Any = None

    def __init__(self, session: AsyncSession) -> None:
        super().__init__(session, no_temporal, Settings())

        async def capture(statement: Any) -> Any:
            self.statement = statement
            raise _Captured

        vars(session).update(scalars=capture, execute=capture)  # the session's own methods, shadowed


class _Captured(Exception):
    pass


@pytest.mark.parametrize(("user", "filters"), CASES)
async def test_list_queries_use_indexes(big_store: Any, user: User, filters: Filters) -> None:
    dialect, sessions = big_store
    async with sessions() as session:
        capture = Capture(session)
        with pytest.raises(_Captured):
            await capture.search(user, filters)
        compiled = capture.statement.compile(session.bind, compile_kwargs={"literal_binds": True})
    async with sessions() as session:
        if dialect == "sqlite":
            plan = [r[-1] for r in (await session.execute(text(f"EXPLAIN QUERY PLAN {compiled}"))).all()]
            full_scans = [line for line in plan if line.strip() == "SCAN complaints"]
        else:
            plan = [r[0] for r in (await session.execute(text(f"EXPLAIN {compiled}"))).all()]
            full_scans = [line for line in plan if "Seq Scan on complaints" in line]
    assert plan and not full_scans, "\n".join(plan)
    if filters.sort != "received" and filters == Filters(sort=filters.sort):
        # a sort's own index gives its order: no sorting of all the rows the scope allows
        sorting = [line for line in plan if "TEMP B-TREE FOR ORDER BY" in line or line.strip().startswith("Sort")]
        assert not sorting, "\n".join(plan)


async def test_the_assigned_to_me_queue_uses_its_index(big_store: Any) -> None:
    """My work's first queue (admin.services.queues): open complaints assigned to the reader."""
    dialect, sessions = big_store
    async with sessions() as session:
        capture = Capture(session)
        with pytest.raises(_Captured):
            await capture.queues(TECH)
        compiled = capture.statement.compile(session.bind, compile_kwargs={"literal_binds": True})
    assert "assignee" in str(compiled)
    async with sessions() as session:
        if dialect == "sqlite":
            plan = [r[-1] for r in (await session.execute(text(f"EXPLAIN QUERY PLAN {compiled}"))).all()]
            assert any("ix_complaints_assignee" in line for line in plan), plan
            full_scans = [line for line in plan if line.strip() == "SCAN complaints"]
        else:
            plan = [r[0] for r in (await session.execute(text(f"EXPLAIN {compiled}"))).all()]
            full_scans = [line for line in plan if "Seq Scan on complaints" in line]
    assert plan and not full_scans, "\n".join(plan)


async def test_the_wrote_after_closing_queue_uses_its_index(big_store: Any) -> None:
    """CS's queue of closed complaints the customer wrote about (migration 0012)."""
    dialect, sessions = big_store
    where = dict(work_queues(CS.actor))[WROTE_AFTER_CLOSING]
    query = (
        select(Complaint)
        .options(LISTED)
        .where(*scopes.visible_to(CS.actor), where)
        .order_by(*queue_order(WROTE_AFTER_CLOSING))
        .limit(QUEUE_LIMIT)
    )
    async with sessions() as session:
        compiled = query.compile(session.bind, compile_kwargs={"literal_binds": True})
        if dialect == "sqlite":
            plan = [r[-1] for r in (await session.execute(text(f"EXPLAIN QUERY PLAN {compiled}"))).all()]
            assert any("ix_complaints_wrote_after_closing" in line for line in plan), plan
            full_scans = [line for line in plan if line.strip() == "SCAN complaints"]
        else:
            plan = [r[0] for r in (await session.execute(text(f"EXPLAIN {compiled}"))).all()]
            full_scans = [line for line in plan if "Seq Scan on complaints" in line]
    assert plan and not full_scans, "\n".join(plan)


async def test_postgres_plans_every_statement_for_its_own_parameters() -> None:
    """A generic plan PostgreSQL settles on while the table is small (walk the newest rows and
    filter) stays after it grows, and then reads every row to find one phone number (measured
    2 ms → 360 ms at 100,000 by `make bench`): each statement is planned for its parameters."""
    url = os.environ.get("COMPLAINTS_TEST_POSTGRES_URL")
    if not url:
        pytest.fail("COMPLAINTS_TEST_POSTGRES_URL is not set: run through `make test` (python -m localstack.postgres)")
    engine = make_engine(url)
    try:
        for _ in range(2):  # every pooled connection, not only the first
            async with engine.connect() as first, engine.connect() as second:
                for conn in (first, second):
                    assert await conn.scalar(text("SHOW plan_cache_mode")) == "force_custom_plan"
    finally:
        await engine.dispose()
