"""3b. Mail intake: a real Dovecot mailbox loaded with ``mail_messages`` distinct messages in
bulk (MULTIAPPEND), then the mailbox poll workflow started on the bench's worker, as a worker
starts it (intake.mailbox_poll). Messages filed per second, from the poll's start to the last
message taken in (the store's ``mail_inbox.taken_at``), beside API intake: phase 3's figure,
or measured here when phase 3 is left out. One mailbox is taken in one message at a time;
the API at the intake phase's concurrency.

Each run then waits until every complaint is in the store and the stack is quiet, and checks
that each message was filed exactly once: one complaint whose intake key is its Message-ID,
and no other complaint carrying its mark (a number in the subject, which a second filing
under any other key would carry too). A message missing or filed twice stops the bench."""

import asyncio
import re
import secrets
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bench import filing
from bench.context import Bench
from bench.cpu import CpuMeter, until_quiet
from bench.load import throughput
from bench.report import Ratio, fmt, note, say, show
from bench.stats import Figure
from intake.mailbox_poll import start_mailbox_poll, stop_mailbox_poll
from store.engine import make_engine, make_sessionmaker
from store.tables import Complaint, InboundMail

STALL = 120.0  # seconds without one more message taken in (or complaint stored): the poll is stuck
DOMAIN = "bench.example.vn"


@dataclass(frozen=True)
class Sent:
    message_id: str  # the intake key the mail intake files it under
    mark: str  # in its subject, and so in the subject of every complaint it files


@dataclass(frozen=True)
class Tally:
    sent: int
    missing: list[str]  # Message-IDs with no complaint under that intake key
    doubled: list[str]  # Message-IDs whose mark more than one complaint carries

    @property
    def ok(self) -> bool:
        return not self.missing and not self.doubled

    def describe(self) -> str:
        filed = self.sent - len(self.missing)
        text = f"{filed}/{self.sent} filed, {len(self.missing)} missing, {len(self.doubled)} filed more than once"
        for what, keys in (("missing", self.missing), ("more than once", self.doubled)):
            if keys:
                text += f"; {what}: {', '.join(keys[:3])}" + (" …" if len(keys) > 3 else "")
        return text


def message(run: str, n: int) -> tuple[Sent, bytes]:
    """One new complaint by mail, as a customer writes it (CRLF lines, 8-bit UTF-8)."""
    sent = Sent(f"<{run}.{n}@{DOMAIN}>", f"#{run}-{n}")
    raw = (
        f"From: Khách {n} <khach{n}@example.vn>\r\nTo: cskh@luarong.vn\r\n"
        f"Subject: {sent.mark} Khiếu nại qua thư\r\nDate: {format_datetime(datetime.now(UTC))}\r\n"
        f"Message-ID: {sent.message_id}\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        f"Mạng chập chờn từ hôm qua, tôi đã khởi động lại modem nhiều lần ({n}).\r\n"
    ).encode()
    return sent, raw


def tally(sent: list[Sent], run: str, complaints: Iterable[tuple[str | None, str]]) -> Tally:
    """Each message filed exactly once? ``complaints``: (intake key, subject) of the stored
    complaints that carry this run's marks."""
    keys_by_mark: dict[str, list[str | None]] = defaultdict(list)
    for key, subject in complaints:
        for mark in re.findall(rf"#{re.escape(run)}-\d+\b", subject):
            keys_by_mark[mark].append(key)
    missing = [s.message_id for s in sent if s.message_id not in keys_by_mark.get(s.mark, [])]
    doubled = [s.message_id for s in sent if len(keys_by_mark.get(s.mark, [])) > 1]
    return Tally(len(sent), missing, doubled)


class Store:
    """The store as the bench reads it for one run's messages (their keys share a prefix)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], run: str) -> None:
        self.sessions, self.run = sessions, run
        self.keys = f"<{run}.%"

    async def taken_in(self) -> tuple[int, int, datetime | None]:
        """(messages taken in, of which filed, when the last one was taken in)."""
        filed = func.sum(case((InboundMail.outcome == "filed", 1), else_=0))
        query = select(func.count(), filed, func.max(InboundMail.taken_at)).where(
            InboundMail.intake_key.like(self.keys)
        )
        async with self.sessions() as session:
            taken, filed_count, last = (await session.execute(query)).one()
        return int(taken), int(filed_count or 0), last

    async def taken_count(self) -> int:
        return (await self.taken_in())[0]

    async def stored(self) -> int:
        async with self.sessions() as session:
            found = await session.scalar(select(func.count()).where(Complaint.intake_key.like(self.keys)))
        return int(found or 0)

    async def complaints(self) -> list[tuple[str | None, str]]:
        query = select(Complaint.intake_key, Complaint.subject).where(Complaint.subject.like(f"%#{self.run}-%"))
        async with self.sessions() as session:
            return [(key, subject) for key, subject in (await session.execute(query)).all()]


async def _until(what: str, want: int, count: Callable[[], Awaitable[int]]) -> None:
    """Until ``count()`` reaches ``want``; fails once it has not moved for STALL seconds."""
    done, progressed = -1, time.monotonic()
    while (now := await count()) < want:
        if now > done:
            done, progressed = now, time.monotonic()
        elif time.monotonic() - progressed > STALL:
            raise RuntimeError(f"mail intake: {now} of {want} {what}, none in the last {STALL:.0f}s")
        await asyncio.sleep(0.2)


async def _api_figure(b: Bench) -> Figure:
    """Phase 3's figure, or the same measurement of ours taken here when phase 3 was left out."""
    if (figure := b.figures.get("intake.ours")) is not None:
        return figure
    p = b.profile
    figure = filing.api_figure()
    async with filing.api(b) as http:

        async def job(i: int) -> None:
            await filing.file_one(http, i)

        for _ in range(p.runs):
            await until_quiet(b.stack, p.settle)
            figure.add(await throughput(p.intake_requests, p.intake_concurrency, job))
    await until_quiet(b.stack, p.settle)
    figure.note = f"{p.intake_requests} per run, c={p.intake_concurrency} (phase 3 left out: measured here)"
    return show(figure)


async def run(b: Bench) -> list[Ratio]:
    p, n, dovecot, imap = b.profile, b.profile.mail_messages, b.stack.dovecot, b.imap
    assert dovecot is not None and imap is not None, "the stack was started without a mailbox"
    say(f"3b. Mail intake (the IMAP poll of one mailbox: {n:,} messages loaded in bulk, then taken in)")
    api = await _api_figure(b)
    mail = Figure("intake.mail", "intake by mail (IMAP poll, one mailbox)", "filed/s")
    stored_after = Figure("intake.mail.stored", "  … all complaints in the store after", "s")
    meter = CpuMeter(b.stack, (b.worker.name, "temporal", "mailcatcher"))
    tallies: list[Tally] = []
    engine = make_engine(b.settings.effective_database_url)
    try:
        for r in range(p.runs):
            run_tag = f"bm{r}{secrets.token_hex(3)}"
            messages = [message(run_tag, i) for i in range(n)]
            await stop_mailbox_poll(b.ours, imap, "bench: next run")
            await asyncio.to_thread(dovecot.empty)
            loading = time.perf_counter()
            await asyncio.to_thread(dovecot.append_all, [raw for _, raw in messages])
            note(f"{n:,} messages appended in {time.perf_counter() - loading:.1f}s")
            await until_quiet(b.stack, p.settle)
            store = Store(make_sessionmaker(engine), run_tag)
            meter.begin()
            started = datetime.now(UTC)
            await start_mailbox_poll(b.ours, imap)
            await _until("messages taken in", n, store.taken_count)
            _, filed, last = await store.taken_in()
            assert last is not None
            mail.add(n / (last - started).total_seconds())
            await _until("complaints stored", filed, store.stored)
            stored_after.add((datetime.now(UTC) - started).total_seconds())
            await until_quiet(b.stack, p.settle)  # a second filing would show by now
            meter.end(n)
            tallies.append(result := tally([sent for sent, _ in messages], run_tag, await store.complaints()))
            if not result.ok:
                say(f"  run {r + 1}: each message filed once? NO: {result.describe()}")
                raise RuntimeError(f"mail intake: {result.describe()}")
        await stop_mailbox_poll(b.ours, imap, "bench: next run")  # nothing polls the mailbox in the later phases
        await asyncio.to_thread(dovecot.empty)
    finally:
        await engine.dispose()
    mail.note = f"{n:,} messages per run"
    b.figures[mail.key] = show(mail)
    show(stored_after)
    outcomes = sorted({t.describe() for t in tallies})  # the same in every run, unless one failed
    say(
        f"    each message filed once: {'; '.join(outcomes)}"
        + (f", in each of {len(tallies)} runs" if len(tallies) > 1 else "")
    )
    say(f"    CPU ms per message, until the stack is quiet again: {meter.describe()}")
    ratio = mail.median / api.median if api.median else float("nan")
    say(
        f"    mail/API intake: {fmt(ratio)} ({fmt(mail.median)} against {fmt(api.median)} filed/s; one mailbox "
        f"takes its messages in one at a time, the API was called {p.intake_concurrency} at a time)"
    )
    return []
