"""A text search lists exactly what a full read would: every match, once, newest first, page
after page, under filters and date bounds. On SQLite it walks the FTS index newest second first
(migration 0005), so ties within one second and one instant are what could go wrong; the data
here has many of both. The triggers keep that index right through edits, deletes and a
migration from the previous schema."""

import asyncio
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import delete, insert, text, update

from admin.services.complaints import ComplaintService, Filters
from admin.users import User
from config.settings import Settings
from domain.ids import complaint_id_for
from domain.search_text import fold
from domain.vocabulary import Role
from store.engine import make_engine, make_sessionmaker
from store.migrate import alembic_config, upgrade
from store.tables import Complaint
from tests.conftest import no_temporal
from tests.scratch_postgres import empty_store, insert_as_stored

CS = User("lan.cs", "Lan", Role.CS_AGENT, "CS", "vi")
TECH = User("minh.tech", "Minh", Role.DEPARTMENT_STAFF, "TECH", "vi")
PHRASE = "Cáp Quang"
ORIGIN = datetime(2026, 3, 1, tzinfo=UTC)


def row(i: int, received: datetime, body: str, department: str = "CS", name: str = "Khách") -> dict[str, Any]:
    return {
        "id": complaint_id_for(f"t{i}"), "intake_key": None, "channel": "email", "customer_name": f"{name} {i}",
        "customer_email": None, "customer_phone": None, "customer_address": None, "language": "vi",
        "subject": f"Phản ánh {i}", "body": body, "summary": None, "category": None, "priority": "normal",
        "department_code": department, "stage": "in_progress", "outcome": None, "overdue": False,
        "escalation_level": 0, "reopen_count": 0, "received_at": received, "deadline": received + timedelta(days=20),
        "closed_at": None, "updated_at": received, "root_cause": None, "rejection_reason": None,
        "duplicate_of": None, "version": 1, "state": {},
    }  # fmt: skip


def dataset(n: int = 600) -> list[dict[str, Any]]:
    """Complaints mostly bunched into few seconds (many in the very same instant), a third matching."""
    rng = random.Random(5)
    out = []
    for i in range(n):
        crowded = rng.random() < 0.7  # the rest alone in their second: pages end on either kind
        second = ORIGIN + timedelta(seconds=rng.randrange(12) if crowded else rng.randrange(20, 40_000))
        received = second if rng.random() < 0.4 else second + timedelta(microseconds=rng.randrange(1_000_000))
        body = f"mạng chập chờn, {PHRASE.lower() if i % 2 else PHRASE.upper()} đứt" if i % 3 == 0 else "mạng chậm"
        out.append(row(i, received, body, department=rng.choice(["CS", "TECH"])))
    rng.shuffle(out)  # inserted out of received order, as concurrent projections are
    return out


def expected(rows: list[dict[str, Any]], user: User, filters: Filters) -> list[str]:
    def keep(r: dict[str, Any]) -> bool:
        document = fold(" ".join((r["subject"], r["body"], r["customer_name"])))
        return (
            fold(filters.q or "") in document or r["id"] == (filters.q or "").upper()
        ) and (user.sees_all or r["department_code"] == user.department) and (
            filters.department is None or r["department_code"] == filters.department
        ) and (filters.received_from is None or r["received_at"] >= filters.received_from) and (
            filters.received_to is None or r["received_at"] < filters.received_to
        )  # fmt: skip

    return [r["id"] for r in sorted(filter(keep, rows), key=lambda r: (r["received_at"], r["id"]), reverse=True)]


async def read_all(sessions: Any, user: User, filters: Filters, limit: int) -> list[str]:
    ids: list[str] = []
    after = None
    for _ in range(1000):
        async with sessions() as session:
            page = await ComplaintService(session, no_temporal, Settings()).search(user, filters, after, limit)
        ids += [r.id for r in page.items]
        after = page.next_cursor
        if after is None:
            return ids
    raise AssertionError("the pages never ended")


@pytest.fixture(params=["sqlite", "postgresql"])
async def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    async with empty_store(request.param, tmp_path, "search") as url:
        yield url


CASES = [
    (CS, Filters(q=PHRASE), 7),
    (CS, Filters(q="quang"), 50),
    (CS, Filters(q="cap quang dut"), 6),  # without diacritics (migration 0007)
    (TECH, Filters(q=PHRASE), 5),
    (CS, Filters(q=PHRASE, department="TECH"), 4),
    (CS, Filters(q="chập", received_from=ORIGIN + timedelta(seconds=3), received_to=ORIGIN + timedelta(seconds=7)), 6),
    (CS, Filters(q=complaint_id_for("t3").lower()), 5),  # an id, and no document contains it
    (CS, Filters(q="không có"), 5),
]


@pytest.mark.parametrize(("user", "filters", "limit"), CASES)
async def test_search_pages_list_every_match_once_newest_first(
    store_url: str, user: User, filters: Filters, limit: int
) -> None:
    data = dataset()
    await upgrade(store_url)
    engine = make_engine(store_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(insert(Complaint), data)
        want = expected(data, user, filters)
        assert await read_all(make_sessionmaker(engine), user, filters, limit) == want
    finally:
        await engine.dispose()


async def test_the_index_follows_edits_moves_and_deletes(store_url: str) -> None:
    data = dataset(120)
    await upgrade(store_url)
    engine = make_engine(store_url)
    sessions = make_sessionmaker(engine)
    search = Filters(q=PHRASE)
    try:
        async with engine.begin() as conn:
            await conn.execute(insert(Complaint), data)
        by_id = {r["id"]: r for r in data}
        matching = expected(data, CS, search)
        gone, moved, found = matching[0], matching[-1], next(i for i in by_id if i not in matching)
        async with engine.begin() as conn:
            await conn.execute(delete(Complaint).where(Complaint.id == gone))
            later = ORIGIN + timedelta(days=1)
            await conn.execute(update(Complaint).where(Complaint.id == moved).values(received_at=later))
            await conn.execute(update(Complaint).where(Complaint.id == found).values(body=f"nay {PHRASE} đứt"))
            await conn.execute(update(Complaint).where(Complaint.id == matching[1]).values(version=7))  # not searched
        del by_id[gone]
        by_id[moved]["received_at"] = later
        by_id[found]["body"] = f"nay {PHRASE} đứt"
        want = expected(list(by_id.values()), CS, search)
        assert want[0] == moved and found in want and gone not in want
        assert await read_all(sessions, CS, search, 9) == want
    finally:
        await engine.dispose()


async def test_migrating_from_0004_indexes_the_complaints_already_stored(store_url: str) -> None:
    url = store_url
    await asyncio.to_thread(command.upgrade, alembic_config(url), "0004")
    data = dataset(200)
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            await insert_as_stored(conn, "complaints", data)
        await upgrade(url)
        search = Filters(q=PHRASE)
        assert await read_all(make_sessionmaker(engine), CS, search, 8) == expected(data, CS, search)
        if engine.dialect.name == "sqlite":
            async with engine.begin() as conn:  # the new delete trigger finds the migrated rows
                await conn.execute(delete(Complaint))
                left = (await conn.execute(text("SELECT count(*) FROM complaints_search"))).scalar_one()
            assert left == 0
    finally:
        await engine.dispose()
