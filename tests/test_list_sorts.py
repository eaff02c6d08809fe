"""Each sort of the complaint list (deadline, priority, stage; received stays the default) pages
through exactly what a full read in that order gives: every row once, in order, under the user's
scope, filters and a text search, with many ties on every key but the id. A cursor of one sort is
refused by another. SQLite and PostgreSQL."""

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert

from admin.errors import ServiceError
from admin.services.complaints import ComplaintService, Filters
from admin.users import User
from config.settings import Settings
from domain.search_text import fold
from domain.vocabulary import PRIORITY_ORDER, Stage
from store.engine import make_engine, make_sessionmaker
from store.migrate import upgrade
from store.tables import Complaint
from tests.conftest import no_temporal
from tests.scratch_postgres import empty_store
from tests.test_search_order import CS, TECH, read_all, row

ORIGIN = datetime(2026, 3, 1, tzinfo=UTC)
STAGES = [s.value for s in Stage]
PRIORITIES = [p.value for p in PRIORITY_ORDER]


def dataset(n: int = 400) -> list[dict[str, Any]]:
    """Few distinct deadlines (many rows share one, to the microsecond), every priority and stage."""
    rng = random.Random(11)
    out = []
    for i in range(n):
        received = ORIGIN + timedelta(seconds=rng.randrange(50))
        body = "cáp quang đứt" if i % 3 == 0 else "mạng chậm"
        r = row(i, received, body, department=rng.choice(["CS", "TECH"]))
        r |= {"deadline": ORIGIN + timedelta(days=rng.randrange(4)), "priority": rng.choice(PRIORITIES),
              "stage": rng.choice(STAGES)}  # fmt: skip
        out.append(r)
    rng.shuffle(out)
    return out


def key(sort: str, r: dict[str, Any]) -> tuple[Any, ...]:
    if sort == "deadline":
        return (r["deadline"], r["id"])
    ranks = {"priority": PRIORITIES, "stage": STAGES}[sort]
    return (ranks.index(r[sort]), r["deadline"], r["id"])


def expected(rows: list[dict[str, Any]], user: User, filters: Filters) -> list[str]:
    def keep(r: dict[str, Any]) -> bool:
        document = fold(" ".join((r["subject"], r["body"], r["customer_name"])))
        return (
            (filters.q is None or fold(filters.q) in document)
            and (user.sees_all or r["department_code"] == user.department)
            and (filters.stage is None or r["stage"] == filters.stage)
        )

    return [r["id"] for r in sorted(filter(keep, rows), key=lambda r: key(filters.sort, r))]


@pytest.fixture(params=["sqlite", "postgresql"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple[Any, list[dict[str, Any]]]]:
    async with empty_store(request.param, tmp_path, "sorts") as url:
        await upgrade(url)
        engine = make_engine(url)
        data = dataset()
        async with engine.begin() as conn:
            await conn.execute(insert(Complaint), data)
        yield make_sessionmaker(engine), data
        await engine.dispose()


CASES = [(CS, Filters(sort=sort), limit) for sort in ("deadline", "priority", "stage") for limit in (7, 50)] + [
    (TECH, Filters(sort="priority"), 9),
    (TECH, Filters(sort="stage", q="cáp quang"), 4),  # a text search, in a sort's order
    (CS, Filters(sort="deadline", q="ap"), 6),  # shorter than a trigram
    (CS, Filters(sort="priority", stage="in_progress"), 5),
]


@pytest.mark.parametrize(("user", "filters", "limit"), CASES)
async def test_each_sort_pages_through_a_full_read_in_its_order(
    store: tuple[Any, list[dict[str, Any]]], user: User, filters: Filters, limit: int
) -> None:
    sessions, data = store
    want = expected(data, user, filters)
    assert want, "the case should list something"
    assert await read_all(sessions, user, filters, limit) == want


async def test_a_cursor_belongs_to_its_sort(store: tuple[Any, list[dict[str, Any]]]) -> None:
    sessions, _ = store
    async with sessions() as session:
        service = ComplaintService(session, no_temporal, Settings())
        by_deadline = await service.search(CS, Filters(sort="deadline"), None, 5)
        by_received = await service.search(CS, Filters(), None, 5)
        assert by_deadline.next_cursor and by_received.next_cursor
        for filters, cursor in ((Filters(sort="priority"), by_deadline.next_cursor),
                                (Filters(sort="deadline"), by_received.next_cursor),
                                (Filters(), by_deadline.next_cursor)):  # fmt: skip
            with pytest.raises(ServiceError) as refused:
                await service.search(CS, filters, cursor, 5)
            assert refused.value.field == "after"
        with pytest.raises(ServiceError) as unknown:
            await service.search(CS, Filters(sort="customer"))
        assert unknown.value.field == "sort"
