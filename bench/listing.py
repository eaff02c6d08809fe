"""4. Listing at scale: the complaint list page (HTML, logged in) and searches through the API,
with a small and a large number of stored complaints, on SQLite and on PostgreSQL.

Rows are bulk-loaded as in tests/test_query_plans.py; then an admin process of our own serves
that store. Two searches: a customer's phone number (what a hotline agent types: one match at
any size) and a common phrase in 1% of complaints (the match set grows with the table)."""

import asyncio
import tempfile
import time
from collections.abc import Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from sqlalchemy import insert, text

from bench import journey
from bench.accounts import api_tokens, log_in
from bench.load import timed
from bench.report import Ratio, count, note, say, show
from bench.stack import Stack
from bench.stats import Figure, percentile
from domain.vocabulary import Category, Channel, Stage
from localstack.postgres import PostgresCluster
from store.engine import make_engine
from store.migrate import upgrade
from store.tables import Complaint

TARGET = 1.5
CHUNK = 5_000
PHRASE = "cáp quang bị đứt"  # in 1% of the bodies
WARM_UP = 5
PROBE_ROW = 500  # exists at every size: its phone number is the selective search


def phone(i: int) -> str:
    # 7919 is prime to 10^8: a different 8-digit tail for every row
    return f"09{(i * 7919) % 10**8:08d}"


CHANNELS, CATEGORIES = [c.value for c in Channel], [c.value for c in Category]
STAGES, DEPARTMENTS = [s.value for s in Stage], ["CS", "TECH", "BILLING", "SALES"]


def rows(start: int, stop: int) -> Iterator[list[dict[str, Any]]]:
    """Complaint rows [start, stop) in chunks; each row depends on its number only, so the
    table is the same however it is loaded (small first, then the rest)."""
    origin = datetime(2024, 1, 1, tzinfo=UTC)
    chunk: list[dict[str, Any]] = []
    for i in range(start, stop):
        received = origin + timedelta(minutes=7 * i)
        body = f"Khách báo mạng chập chờn, {PHRASE} gần nhà" if i % 100 == 7 else "Mạng chậm vào buổi tối " * 3
        chunk.append({
            "id": f"KN-B{i:06d}", "intake_key": None, "channel": CHANNELS[i * 7 % len(CHANNELS)],
            "customer_name": f"Khách hàng {i}", "customer_email": f"khach{i}@example.vn", "customer_phone": phone(i),
            "customer_address": None, "language": "vi", "subject": f"Phản ánh số {i}", "body": body,
            "summary": None, "category": CATEGORIES[i * 11 % len(CATEGORIES)], "priority": "normal",
            "department_code": DEPARTMENTS[i * 13 % len(DEPARTMENTS)], "stage": STAGES[i * 17 % len(STAGES)],
            "outcome": None, "overdue": i % 20 == 3, "escalation_level": 0, "reopen_count": 0,
            "received_at": received, "deadline": received + timedelta(days=20), "closed_at": None,
            "updated_at": received, "root_cause": None, "rejection_reason": None, "duplicate_of": None,
            "version": 1, "state": {},
        })  # fmt: skip
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


async def load(url: str, start: int, stop: int) -> float:
    """Insert rows [start, stop) and leave the store as routine maintenance would; seconds taken."""
    began = time.perf_counter()
    engine = make_engine(url)
    try:
        for chunk in rows(start, stop):
            async with engine.begin() as conn:
                await conn.execute(insert(Complaint), chunk)
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            if engine.dialect.name == "postgresql":
                # Autovacuum would do this in the middle of the measurement otherwise (and until it
                # does, the GIN index keeps new rows in its pending list, which every search scans).
                await conn.execute(text("VACUUM ANALYZE"))
            else:
                await conn.execute(text("ANALYZE"))
                await conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    finally:
        await engine.dispose()
    return time.perf_counter() - began


class Endpoint:
    def __init__(self, key: str, label: str, path: str, http: httpx.AsyncClient) -> None:
        self.label, self.path, self.http, self.key = label, path, http, key

    async def sample(self, n: int) -> list[float]:
        for _ in range(WARM_UP):  # the first requests after a load pay for cold caches and lazy imports
            await self._get()
        return [await timed(self._get()) for _ in range(n)]

    async def _get(self) -> None:
        response = await self.http.get(self.path)
        if response.status_code != 200:
            raise RuntimeError(f"GET {self.path}: {response.status_code} {response.text[:300]}")


async def _measure(endpoints: list[Endpoint], db: str, size: int, runs: int, n: int) -> dict[tuple[str, int], Figure]:
    figures: dict[tuple[str, int], Figure] = {}
    for endpoint in endpoints:
        for pct in (50, 95):
            figures[(endpoint.key, pct)] = Figure(
                f"list.{db}.{size}.{endpoint.key}.p{pct}",
                f"{db:<10} {size:>7,} {endpoint.label} p{pct}",
                "ms",
                note=f"{n} requests per run",
            )
    for _ in range(runs):
        for endpoint in endpoints:
            samples = await endpoint.sample(n)
            for pct in (50, 95):
                figures[(endpoint.key, pct)].add(1000 * percentile(samples, pct))
    for figure in figures.values():
        show(figure)
    return figures


@dataclass
class Store:
    """One database under test, with the admin process serving it and its endpoints."""

    db: str
    url: str
    endpoints: list[Endpoint] = field(default_factory=list)
    figures: dict[int, dict[tuple[str, int], Figure]] = field(default_factory=dict)

    async def serve(self, stack: Stack, cleanup: AsyncExitStack) -> None:
        tokens = await api_tokens(self.url, (journey.CS_AGENT,))
        proc, base = stack.start_admin(f"admin-{self.db}", self.url)
        cleanup.callback(stack.stop, proc)
        bearer = {"Authorization": f"Bearer {tokens[journey.CS_AGENT.user]}"}
        browser = await cleanup.enter_async_context(httpx.AsyncClient(base_url=base, timeout=60))
        api = await cleanup.enter_async_context(httpx.AsyncClient(base_url=base, timeout=60, headers=bearer))
        await log_in(browser, journey.CS_AGENT.user)
        self.endpoints = [
            Endpoint("page", "list page   ", "/complaints", browser),
            Endpoint("phone", "search phone", f"/api/v1/complaints?q={phone(PROBE_ROW)}", api),
            Endpoint("phrase", "search 1%   ", f"/api/v1/complaints?q={quote(PHRASE)}", api),
        ]

    def ratios(self, small: int, large: int) -> list[Ratio]:
        label = f"{count(large)}/{count(small)}"
        big, little = self.figures[large], self.figures[small]
        return [
            Ratio(f"{self.db} {what} p95 {label}", big[(key, 95)], little[(key, 95)], "<=", TARGET)
            for key, what in (("page", "list page"), ("phone", "search phone"), ("phrase", "search 1%"))
        ]


async def _load_all(stores: list[Store], start: int, stop: int) -> None:
    """Both databases load at once (SQLite in its thread, PostgreSQL in its server): half the wait."""
    took = await asyncio.gather(*(load(s.url, start, stop) for s in stores))
    note("loaded " + ", ".join(f"{s.db} {stop - start:,} rows in {t:.0f}s" for s, t in zip(stores, took, strict=True)))


async def run(stack: Stack, sizes: tuple[int, int], runs: int, n: int) -> list[Ratio]:
    say(f"4. Listing at scale ({sizes[0]:,} and {sizes[1]:,} stored complaints)")
    small, large = sizes
    sqlite_file = Path(tempfile.mkdtemp(prefix="bench-list-", dir=stack.tmp)) / "complaints.db"
    postgres = PostgresCluster(database="bench")
    try:
        stores = [
            Store("SQLite", f"sqlite+aiosqlite:///{sqlite_file}"),
            Store("PostgreSQL", await asyncio.to_thread(postgres.create)),
        ]
        for store in stores:
            await upgrade(store.url)
        await _load_all(stores, 0, small)
        async with AsyncExitStack() as cleanup:
            for store in stores:
                await store.serve(stack, cleanup)
            for store in stores:
                store.figures[small] = await _measure(store.endpoints, store.db, small, runs, n)
            await _load_all(stores, small, large)
            for store in stores:
                store.figures[large] = await _measure(store.endpoints, store.db, large, runs, n)
    finally:
        postgres.remove()
    return [ratio for store in stores for ratio in store.ratios(small, large)]
