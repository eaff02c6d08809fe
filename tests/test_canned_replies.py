"""Canned replies (issue 13) in the store, on SQLite and PostgreSQL: migration 0012 up and down,
the checks of the admin form, and the templates a complaint offers (its category and
department, or every one; active; in the customer's and the user's language) filled in for it."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from admin.services.canned_replies import CannedReplies, CannedReplyForm
from admin.users import User
from domain.canned_replies import appended, fill, placeholder_values, unknown_placeholders
from domain.models import ComplaintState, Customer
from domain.vocabulary import Category, Channel, Language, Role, Stage
from store.engine import make_engine, make_sessionmaker
from store.migrate import alembic_config, upgrade
from tests.scratch_postgres import empty_store

LAN = User("lan.cs", "Nguyễn Thị Lan", Role.CS_AGENT, "CS", "vi")
LAN_EN = User("lan.cs", "Nguyễn Thị Lan", Role.CS_AGENT, "CS", "en")
NOW = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)
Sessions = async_sessionmaker[AsyncSession]


# --- placeholders (pure) ---


def test_unknown_placeholders_are_named_once_and_plain_braces_are_text() -> None:
    body = "Kính gửi {customer_name}, về {case_id}: {ten_khach} {ten_khach} {Case_ID} { } {1} {"
    assert unknown_placeholders(body) == ["ten_khach"]
    assert unknown_placeholders("{customer_name} {case_id} {agent_name} {received_date}") == []


def test_filling_is_one_pass_and_leaves_the_rest_as_written() -> None:
    values = placeholder_values(
        "Trần {case_id} Bình", "KN-ABC123", "Nguyễn Thị Lan", datetime(2026, 11, 2, 20, 0, tzinfo=UTC)
    )
    filled = fill("Kính gửi {customer_name}, khiếu nại {case_id} ngày {received_date} ({agent_name}) {x} {", values)
    # a customer's name that looks like a placeholder is not filled again; 20:00 UTC is the next day in Vietnam
    assert filled == "Kính gửi Trần {case_id} Bình, khiếu nại KN-ABC123 ngày 03/11/2026 (Nguyễn Thị Lan) {x} {"


def test_appending_keeps_what_was_typed() -> None:
    assert appended("", "Mẫu") == "Mẫu"
    assert appended("   \n", "Mẫu") == "Mẫu"
    assert appended("Đã gọi khách.\n", "Mẫu") == "Đã gọi khách.\n\nMẫu"


# --- the store, on both databases ---


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple[str, Sessions]]:
    async with AsyncExitStack() as cleanup:
        url = await cleanup.enter_async_context(empty_store(request.param, tmp_path, "canned"))
        await upgrade(url)
        engine = make_engine(url)
        cleanup.push_async_callback(engine.dispose)
        yield url, make_sessionmaker(engine)


def complaint(category: Category | None, department: str | None, language: Language = Language.VI) -> ComplaintState:
    received = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)
    return ComplaintState(
        complaint_id="KN-C00001",
        channel=Channel.PHONE,
        customer=Customer(name="Trần Thị Bình", phone="0901234567", language=language),
        subject="Mất mạng",
        body="Mạng chậm",
        received_at=received,
        stage=Stage.READY_TO_REPLY,
        category=category,
        department=department,
        bound_started_at=received,
        deadline=received + timedelta(days=20),
        warning_at=received + timedelta(days=15),
        first_response_due=received + timedelta(days=1),
        version=1,
    )


async def add(
    replies: CannedReplies,
    title: str,
    language: str = "vi",
    category: str = "",
    department: str = "",
    active: bool = True,
) -> int:
    form = CannedReplyForm(title, f"{title}: {{customer_name}} · {{case_id}}", language, category, department, active)
    assert await replies.problems(form) == {}
    return (await replies.save(None, form, "quang.manager", NOW)).id


async def test_migration_0012_creates_the_table_and_goes_back(store: tuple[str, Sessions]) -> None:
    url, sessions = store

    def tables(sync_conn: Connection) -> tuple[set[str], set[str | None]]:
        inspector = inspect(sync_conn)
        names = set(inspector.get_table_names())
        indexes = {i["name"] for i in inspector.get_indexes("canned_replies")} if "canned_replies" in names else set()
        return names, indexes

    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            names, indexes = await conn.run_sync(tables)
        assert "canned_replies" in names and "ix_canned_replies_offered" in indexes
        await asyncio.to_thread(command.downgrade, alembic_config(url), "0011")
        async with engine.connect() as conn:
            names, _ = await conn.run_sync(tables)
        assert "canned_replies" not in names
        await upgrade(url)
        async with engine.connect() as conn:
            names, indexes = await conn.run_sync(tables)
        assert "canned_replies" in names and "ix_canned_replies_offered" in indexes
    finally:
        await engine.dispose()
    async with sessions() as session:  # and it works after the round trip
        assert await add(CannedReplies(session), "Sau 0012") > 0


async def test_the_form_is_checked_field_by_field(store: tuple[str, Sessions]) -> None:
    _, sessions = store
    async with sessions() as session:
        replies = CannedReplies(session)
        bad = CannedReplyForm("", "Kính gửi {ten_khach}", "fr", "nope", "NOWHERE")
        problems = await replies.problems(bad)
        assert set(problems) == {"title", "body", "language", "category", "department"}
        assert problems["body"][1]["names"] == "{ten_khach}"
        assert "{customer_name}" in problems["body"][1]["known"]
        too_long = CannedReplyForm("x" * 201, "y" * 10_001)
        assert set(await replies.problems(too_long)) == {"title", "body"}


async def test_a_complaint_offers_its_own_and_the_general_ones_filled_in(store: tuple[str, Sessions]) -> None:
    _, sessions = store
    async with sessions() as session:
        replies = CannedReplies(session)
        general = await add(replies, "Chung")
        tech = await add(replies, "Kỹ thuật", category="technical")
        tech_dept = await add(replies, "Kỹ thuật của TECH", category="technical", department="TECH")
        dept = await add(replies, "Bộ phận TECH", department="TECH")
        english = await add(replies, "General", language="en")
        await add(replies, "Cước phí", category="billing")
        await add(replies, "Bộ phận BILLING", department="BILLING")
        await add(replies, "Kỹ thuật của BILLING", category="technical", department="BILLING")
        await add(replies, "Không dùng nữa", active=False)

        offers = await replies.offers(LAN, complaint(Category.TECHNICAL, "TECH"))
        # the most specific first, then by title; only Vietnamese (customer and user both)
        assert [o.id for o in offers] == [tech_dept, dept, tech, general]
        assert offers[0].text == "Kỹ thuật của TECH: Trần Thị Bình · KN-C00001"

        # an English-speaking user sees the customer's language first, then their own
        offers = await replies.offers(LAN_EN, complaint(Category.TECHNICAL, "TECH"))
        assert [o.id for o in offers] == [tech_dept, dept, tech, general, english]
        offers = await replies.offers(LAN, complaint(Category.TECHNICAL, "TECH", Language.EN))
        assert [o.id for o in offers] == [english, tech_dept, dept, tech, general]

        # before verification (no category, no department): only the general ones
        assert [o.id for o in await replies.offers(LAN, complaint(None, None))] == [general]

        # edited: another department, then no longer in use
        reply = await replies.get(tech_dept)
        assert reply is not None
        form = CannedReplyForm.of(reply)
        form.department = "BILLING"
        await replies.save(reply, form, "admin", NOW + timedelta(hours=1))
        assert tech_dept not in [o.id for o in await replies.offers(LAN, complaint(Category.TECHNICAL, "TECH"))]
        form.active, form.department = False, "TECH"
        await replies.save(reply, form, "admin", NOW + timedelta(hours=2))
        assert tech_dept not in [o.id for o in await replies.offers(LAN, complaint(Category.TECHNICAL, "TECH"))]
        saved = await replies.get(tech_dept)
        assert saved is not None and (saved.updated_by, saved.updated_at) == ("admin", NOW + timedelta(hours=2))

        await replies.delete(saved)
        assert await replies.get(tech_dept) is None
        assert len(await replies.all()) == 8
