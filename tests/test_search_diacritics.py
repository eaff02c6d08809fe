"""Search ignores diacritics and case on both databases (issue 13, wall 11): "tran van binh" finds
"Trần Văn Bình", "điện thoại" finds "dien thoai", decomposed text is found as precomposed, page
after page and through the API; a store indexed before migration 0007 is re-indexed folded."""

import asyncio
import random
import unicodedata
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest
from alembic import command
from sqlalchemy import delete, insert, text, update
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from admin.accounts import issue_token
from admin.app import create_app
from admin.services.complaints import ComplaintService, Filters
from admin.users import User
from config.settings import Settings
from domain.ids import complaint_id_for
from domain.search_text import fold
from domain.vocabulary import Role
from store.engine import make_engine, make_sessionmaker, transaction
from store.migrate import alembic_config, upgrade
from store.tables import Complaint
from tests.scratch_postgres import empty_store, insert_as_stored

CS = User("lan.cs", "Lan", Role.CS_AGENT, "CS", "vi")
ORIGIN = datetime(2026, 4, 1, 8, tzinfo=UTC)
# name -> (customer, subject, body); received one minute apart, in this order.
WRITTEN = {
    "binh": ("Trần Văn Bình", "Điện thoại không gọi được", "Máy báo mất sóng từ sáng."),
    "hoa": ("Le Thi Hoa", "Mat song dien thoai", "Goi khong duoc tu chieu qua."),  # typed without marks
    "duc": (unicodedata.normalize("NFD", "Phạm Hữu Đức"), "Cước phí tháng 10", "Tính sai cước."),  # decomposed
    "an": ("Nguyễn Thị An", "Internet chậm", "Mạng chập chờn buổi tối."),
    "sale": ("Võ Minh Tâm", "Khuyến mãi", "Giảm 50% cước, không phải 500 nghìn."),
    "other": ("Hồ Văn Tư", "Khuyến mãi", "Giảm 500 nghìn."),
}


def row(name: str, minute: int) -> dict[str, Any]:
    customer, subject, body = WRITTEN[name]
    received = ORIGIN + timedelta(minutes=minute)
    return {
        "id": complaint_id_for(f"diacritics-{name}"), "intake_key": None, "channel": "email",
        "customer_name": customer, "customer_email": None, "customer_phone": None, "customer_address": None,
        "language": "vi", "subject": subject, "body": body, "summary": None, "category": None,
        "priority": "normal", "department_code": "CS", "stage": "in_progress", "outcome": None, "overdue": False,
        "escalation_level": 0, "reopen_count": 0, "received_at": received, "deadline": received + timedelta(days=20),
        "closed_at": None, "updated_at": received, "root_cause": None, "rejection_reason": None,
        "duplicate_of": None, "version": 1, "state": {},
    }  # fmt: skip


ROWS = [row(name, minute) for minute, name in enumerate(WRITTEN)]
ID = {name: complaint_id_for(f"diacritics-{name}") for name in WRITTEN}
# query -> the complaints it finds, newest first.
FOUND = {
    "tran van binh": ["binh"],
    "TRAN VAN BINH": ["binh"],
    "Trần Văn Bình": ["binh"],
    unicodedata.normalize("NFD", "Trần Văn Bình"): ["binh"],
    "dien thoai": ["hoa", "binh"],
    "điện thoại": ["hoa", "binh"],
    "ĐIỆN THOẠI": ["hoa", "binh"],
    "Lê Thị Hoa": ["hoa"],  # marks in the query, none in the text
    "pham huu duc": ["duc"],
    "Phạm Hữu Đức": ["duc"],
    "Ðức": ["duc"],  # Ð (U+00D0), which legacy encodings put in place of Đ
    "chap chon": ["an"],
    "bì": ["binh"],  # under three characters: the LIKE path
    "TÂ": ["sale"],
    "50%": ["sale"],  # % and _ are text, not LIKE wildcards
    "%": ["sale"],
    "_": [],
    "mat song": ["hoa", "binh"],
    ID["duc"].lower(): ["duc"],  # an id finds its complaint
}


async def _no_temporal() -> Client:
    raise AssertionError("searching reads the store only")


async def search(engine: AsyncEngine, query: str, limit: int = 1) -> list[str]:
    """Every page of a search (one complaint a page by default: each page ends inside the walk)."""
    found: list[str] = []
    after = None
    for _ in range(100):
        async with make_sessionmaker(engine)() as session:
            page = await ComplaintService(session, _no_temporal, Settings()).search(CS, Filters(q=query), after, limit)
        found += [r.id for r in page.items]
        if (after := page.next_cursor) is None:
            return found
    raise AssertionError("the pages never ended")


@pytest.fixture(params=["sqlite", "postgresql"])
async def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    async with empty_store(request.param, tmp_path, "diacritics") as url:
        yield url


@pytest.fixture
async def engine(store_url: str) -> AsyncIterator[AsyncEngine]:
    await upgrade(store_url)
    engine = make_engine(store_url)
    async with engine.begin() as conn:
        await conn.execute(insert(Complaint), ROWS)
    yield engine
    await engine.dispose()


@pytest.mark.parametrize("query", list(FOUND))
async def test_search_finds_text_with_or_without_diacritics(engine: AsyncEngine, query: str) -> None:
    assert await search(engine, query) == [ID[name] for name in FOUND[query]]
    assert await search(engine, query, limit=50) == [ID[name] for name in FOUND[query]]


async def test_edited_text_is_found_folded(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(update(Complaint).where(Complaint.id == ID["an"]).values(customer_name="Đỗ Thị Ánh"))
    assert await search(engine, "do thi anh") == [ID["an"]]
    assert await search(engine, "nguyen thi an") == []


async def test_the_api_searches_without_diacritics(engine: AsyncEngine, store_url: str, tmp_path: Path) -> None:
    async with transaction(make_sessionmaker(engine)) as session:
        token = await issue_token(session, "lan.cs")
    app = create_app(Settings(database_url=store_url, data_dir=tmp_path))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://admin.test") as http:
            response = await http.get(
                "/api/v1/complaints", params={"q": "tran van binh"}, headers={"Authorization": f"Bearer {token}"}
            )
    assert response.status_code == 200, response.text
    assert [item["id"] for item in response.json()["items"]] == [ID["binh"]]


def vietnamese_letters() -> tuple[str, str]:
    """Every Vietnamese letter in both cases (each vowel with every tone, precomposed), and the
    same letters as search compares them: the bare lower-case base letter."""
    vowels = ["a", "a\u0306", "a\u0302", "e", "e\u0302", "i", "o", "o\u0302", "o\u031b", "u", "u\u031b", "y"]
    tones = ["", "\u0300", "\u0301", "\u0309", "\u0303", "\u0323"]
    letters = " ".join(unicodedata.normalize("NFC", v + t) for v in vowels for t in tones) + " đ bcdghklmnpqrstvx"
    bare = " ".join(v[0] for v in vowels for _ in tones) + " d bcdghklmnpqrstvx"
    return f"{letters} {letters.upper()}", f"{bare} {bare}"


def test_folding_by_character_is_folding_the_whole_text() -> None:
    def whole(text: str) -> str:
        decomposed = unicodedata.normalize("NFD", text.casefold())
        return "".join(c for c in decomposed if unicodedata.category(c) != "Mn").replace("đ", "d").replace("ð", "d")

    rng = random.Random(13)
    # ASCII, Latin-1 and Extended, Greek, Cyrillic, combining marks, and the Vietnamese block.
    letters = [chr(c) for c in (*range(0x20, 0x530), *range(0x1E00, 0x1F00))]
    for _ in range(2000):
        text = "".join(rng.choice(letters) for _ in range(rng.randrange(1, 30)))
        for form in (text, unicodedata.normalize("NFD", text), unicodedata.normalize("NFC", text)):
            assert fold(form) == whole(form), ascii(form)


@pytest.mark.parametrize("form", ["NFC", "NFD"])
async def test_the_database_folds_as_python_does(engine: AsyncEngine, form: Literal["NFC", "NFD"]) -> None:
    letters, bare = vietnamese_letters()
    letters = unicodedata.normalize(form, letters)
    assert fold(letters) == bare
    async with engine.connect() as conn:
        assert await conn.scalar(text("SELECT search_fold(:letters)"), {"letters": letters}) == bare


async def test_migrating_from_0005_reindexes_stored_complaints_folded(store_url: str) -> None:
    await asyncio.to_thread(command.upgrade, alembic_config(store_url), "0005")
    engine = make_engine(store_url)
    try:
        async with engine.begin() as conn:
            await insert_as_stored(conn, "complaints", ROWS)
        await upgrade(store_url)
        for query in ("tran van binh", "dien thoai", "Phạm Hữu Đức", "50%"):
            assert await search(engine, query) == [ID[name] for name in FOUND[query]], query
        if engine.dialect.name == "sqlite":
            async with engine.begin() as conn:  # the new triggers find the re-indexed rows by rowid
                await conn.execute(delete(Complaint).where(Complaint.id == ID["binh"]))
                left = await conn.scalar(text("SELECT count(*) FROM complaints_search"))
            assert left == len(ROWS) - 1
        await asyncio.to_thread(command.downgrade, alembic_config(store_url), "0006")  # before 0007
        document = (
            "SELECT document FROM complaints_search WHERE id = :id"
            if engine.dialect.name == "sqlite"
            else "SELECT search_document FROM complaints WHERE id = :id"
        )
        async with engine.begin() as conn:  # back to the documents as written
            assert "chập chờn" in str(await conn.scalar(text(document), {"id": ID["an"]}))
        await upgrade(store_url)
        assert await search(engine, "chap chon") == [ID["an"]]
    finally:
        await engine.dispose()
