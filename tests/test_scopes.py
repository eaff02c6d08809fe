"""The SQL renderings of the access and urgency rules (store.scopes) give the same answers as
their one definition in domain.access, on a real SQLite store."""

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import ColumnElement, select

from domain import access
from domain.models import Actor
from domain.vocabulary import Role, Stage
from store import scopes
from store.engine import make_engine, make_sessionmaker
from store.migrate import upgrade
from store.tables import Complaint

NOW = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
DEPARTMENTS = ["CS", "TECH", "BILLING", None]
ACTORS = [
    Actor(user="a", role=Role.CS_AGENT, department="CS"),
    Actor(user="b", role=Role.DEPARTMENT_STAFF, department="TECH"),
    Actor(user="c", role=Role.SUPERVISOR, department="BILLING"),
    Actor(user="d", role=Role.SUPERVISOR, department="CS"),
    Actor(user="e", role=Role.MANAGER),
    Actor(user="f", role=Role.ADMIN),
]


def _row(i: int, rng: random.Random) -> Complaint:
    received = NOW - timedelta(days=rng.randint(0, 40))
    deadline = NOW + timedelta(hours=rng.randint(-200, 200))
    return Complaint(
        id=f"KN-{i:06d}", channel="phone", customer_name="x", body="x", stage=rng.choice(list(Stage)).value,
        department_code=rng.choice(DEPARTMENTS), overdue=rng.random() < 0.3, received_at=received,
        deadline=deadline, updated_at=received, state={},
    )  # fmt: skip


async def test_sql_scopes_agree_with_the_domain(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'scopes.db'}"
    await upgrade(url)
    engine = make_engine(url)
    rng = random.Random(11)
    rows = [_row(i, rng) for i in range(400)]
    try:
        async with make_sessionmaker(engine)() as session:
            session.add_all(rows)
            await session.commit()
            expected_rows = {r.id: (r.stage, r.overdue, r.deadline, r.department_code) for r in rows}

            async def ids(*where: ColumnElement[bool]) -> set[str]:
                return set((await session.scalars(select(Complaint.id).where(*where))).all())

            assert await ids(scopes.overdue(NOW)) == {
                cid for cid, (stage, flag, deadline, _) in expected_rows.items()
                if access.is_overdue(stage, flag, deadline, NOW)
            }  # fmt: skip
            assert await ids(scopes.due_soon(NOW)) == {
                cid for cid, (stage, flag, deadline, _) in expected_rows.items()
                if access.is_due_soon(stage, flag, deadline, NOW)
            }  # fmt: skip
            for actor in ACTORS:
                assert await ids(*scopes.visible_to(actor)) == {
                    cid for cid, (_, _, _, department) in expected_rows.items()
                    if access.can_access_department(actor, department)
                }, actor  # fmt: skip
    finally:
        await engine.dispose()


def test_overdue_and_due_soon_never_overlap() -> None:
    for hours in range(-100, 100, 7):
        deadline = NOW + timedelta(hours=hours)
        for flag in (True, False):
            assert not (
                access.is_overdue("in_progress", flag, deadline, NOW)
                and access.is_due_soon("in_progress", flag, deadline, NOW)
            )
