"""Complaints' data keys in the store: created at filing, read by the codec through a short
cache, rewrapped when the master key rotates, shredded when the complaint is anonymised."""

import time
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from encryption.payload_codec import DataKey, PayloadKeyError, unwrap_key, wrap_key
from store.engine import transaction
from store.tables import ComplaintKey

# A shredded key stops decrypting everywhere within this long (each process caches lookups);
# the process that shreds forgets it at once.
CACHE_TTL_SECONDS = 15.0
CACHE_MAX = 20_000


class ComplaintKeys:
    """The codec's view of ``complaint_keys`` (``encryption.payload_codec.DataKeys``)."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], keks: dict[str, bytes], ttl: float = CACHE_TTL_SECONDS
    ) -> None:
        self.sessions, self.keks, self.ttl = sessions, keks, ttl
        self.active = next(iter(keks))
        self._cache: dict[str, tuple[float, DataKey | None]] = {}

    async def lookup(self, complaint_id: str) -> DataKey | None:
        now = time.monotonic()
        cached = self._cache.get(complaint_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        async with self.sessions() as session:
            row = await session.get(ComplaintKey, complaint_id)
        found = None if row is None else self._unwrap(row)
        self._remember(complaint_id, found, now)
        return found

    def _unwrap(self, row: ComplaintKey) -> DataKey:
        if row.wrapped_key is None:
            return DataKey(None)
        kek = self.keks.get(row.kek_id)
        if kek is None:
            raise PayloadKeyError(f"the data key of {row.complaint_id} is wrapped by master key {row.kek_id!r}, "
                                  "which is not configured")  # fmt: skip
        return DataKey(unwrap_key(kek, row.kek_id, row.complaint_id, row.wrapped_key))

    def _remember(self, complaint_id: str, found: DataKey | None, now: float) -> None:
        if len(self._cache) >= CACHE_MAX:
            self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
            if len(self._cache) >= CACHE_MAX:
                self._cache.clear()
        self._cache[complaint_id] = (now + self.ttl, found)

    async def create(self, complaint_id: str) -> bool:
        """A new data key for ``complaint_id`` unless it has one (True: made now)."""
        key = AESGCM.generate_key(bit_length=256)
        row = ComplaintKey(
            complaint_id=complaint_id,
            kek_id=self.active,
            wrapped_key=wrap_key(self.keks[self.active], self.active, complaint_id, key),
            created_at=datetime.now(UTC),
        )
        try:
            async with transaction(self.sessions) as session:
                session.add(row)
        except IntegrityError:
            self.forget(complaint_id)
            return False
        self._remember(complaint_id, DataKey(key), time.monotonic())
        return True

    async def discard(self, complaint_id: str) -> None:
        """Undo ``create`` when the id turned out to be taken by a workflow filed before keys existed."""
        async with transaction(self.sessions) as session:
            await session.execute(delete(ComplaintKey).where(ComplaintKey.complaint_id == complaint_id))
        self.forget(complaint_id)

    def forget(self, complaint_id: str) -> None:
        self._cache.pop(complaint_id, None)


async def shred(session: AsyncSession, complaint_id: str, now: datetime) -> bool:
    """Within the caller's transaction: destroy the complaint's data key (True: there was one).

    A complaint filed before data keys existed gets a shredded row too, so the codec refuses its
    payloads from now on (they are under the master key: policy, not cryptography, for those).
    """
    row = await session.get(ComplaintKey, complaint_id)
    if row is None:
        session.add(ComplaintKey(complaint_id=complaint_id, kek_id="", wrapped_key=None, created_at=now,
                                 shredded_at=now))  # fmt: skip
        await session.flush()
        return False
    had_key = row.wrapped_key is not None
    row.wrapped_key = None
    row.shredded_at = row.shredded_at or now
    await session.flush()
    return had_key


async def is_shredded(session: AsyncSession, complaint_id: str) -> bool:
    row = await session.get(ComplaintKey, complaint_id)
    return row is not None and row.wrapped_key is None


@dataclass(frozen=True)
class Rewrapped:
    rewrapped: int
    current: int
    shredded: int


async def rewrap_all(sessions: async_sessionmaker[AsyncSession], keks: dict[str, bytes], batch: int = 500) -> Rewrapped:
    """Every live data key under the first master key (history is not re-encrypted: the data
    keys stay the same, only their wrapping changes)."""
    active = next(iter(keks))
    rewrapped = current = 0
    async with sessions() as session:
        shredded = len((await session.scalars(select(ComplaintKey.complaint_id).where(
            ComplaintKey.wrapped_key.is_(None)))).all())  # fmt: skip
        current = len((await session.scalars(select(ComplaintKey.complaint_id).where(
            ComplaintKey.wrapped_key.is_not(None), ComplaintKey.kek_id == active))).all())  # fmt: skip
    while True:
        async with transaction(sessions) as session:
            rows = (
                await session.scalars(
                    select(ComplaintKey)
                    .where(ComplaintKey.wrapped_key.is_not(None), ComplaintKey.kek_id != active)
                    .order_by(ComplaintKey.complaint_id)
                    .limit(batch)
                )
            ).all()
            for row in rows:
                assert row.wrapped_key is not None
                old = keks.get(row.kek_id)
                if old is None:
                    raise PayloadKeyError(
                        f"the data key of {row.complaint_id} is wrapped by {row.kek_id!r}: keep that master key "
                        "in COMPLAINTS_PAYLOAD_KEYS (after the first) until rotate-keys has run"
                    )
                key = unwrap_key(old, row.kek_id, row.complaint_id, row.wrapped_key)
                await session.execute(
                    update(ComplaintKey)
                    .where(
                        ComplaintKey.complaint_id == row.complaint_id,
                        ComplaintKey.kek_id == row.kek_id,
                        ComplaintKey.wrapped_key.is_not(None),  # not shredded meanwhile
                    )
                    .values(kek_id=active, wrapped_key=wrap_key(keks[active], active, row.complaint_id, key))
                )
            rewrapped += len(rows)
        if len(rows) < batch:
            return Rewrapped(rewrapped, current, shredded)


async def shredded_among(session: AsyncSession, complaint_ids: set[str]) -> set[str]:
    if not complaint_ids:
        return set()
    query = select(ComplaintKey.complaint_id).where(
        ComplaintKey.complaint_id.in_(complaint_ids), ComplaintKey.wrapped_key.is_(None)
    )
    return set((await session.scalars(query)).all())


async def all_shredded(session: AsyncSession) -> set[str]:
    return set(
        (await session.scalars(select(ComplaintKey.complaint_id).where(ComplaintKey.wrapped_key.is_(None)))).all()
    )
