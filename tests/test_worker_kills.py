"""The journey survives worker kills, end to end on the real dev server with the worker and the
starter as real processes, on SQLite and on PostgreSQL: the worker is SIGKILLed right after each
decision and replaced; nothing is lost and no mail is sent twice. (Its own module: the longest of
the suite, it runs beside the others.)"""

import asyncio
import json
import uuid
from collections import Counter

from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment

from domain.steps import Activity
from domain.vocabulary import Stage
from localstack.mailcatcher import MailCatcher
from store.engine import make_engine, make_sessionmaker
from store.tables import Complaint, ComplaintLog, OutboxMail
from tests.journey import CS, TECH
from tests.stages import CLOSE, REPLY, RESOLVE, VERIFY
from tests.test_end_to_end import (  # noqa: F401  (processes, store_url: fixtures)
    BOTH_STORES,
    FINAL,
    Processes,
    cuts_in,
    processes,
    product_client,
    store_url,
    wait_for,
)


@BOTH_STORES
async def test_journey_survives_worker_kills(
    dev_env: WorkflowEnvironment,
    processes: Processes,  # noqa: F811  (the fixture imported above)
    catcher: MailCatcher,
    store_url: str,  # noqa: F811
) -> None:
    client, keys_engine = await product_client(dev_env, store_url)
    processes.start_worker()
    filed = processes.starter(
        "file", "--channel", "email", "--name", "Trần Thị Bích", "--email", "bich.tran@example.vn",
        "--subject", "Hóa đơn tính sai", "--body", "Tháng này tôi bị tính cước hai lần.",
        "--key", f"<{uuid.uuid4()}@mail>",
    )  # fmt: skip
    assert filed.returncode == 0, filed.stderr
    cid = filed.stdout.strip()
    assert cid.startswith("KN-")
    handle = client.get_workflow_handle(cid)
    await wait_for(client, cid, lambda s: s.log[-1].action == "receive")

    # Each decision goes in as a signal and the worker is killed straight after: the step's
    # activity is cut at a random point and must be finished by the next worker, once.
    steps = [("verify", VERIFY, Stage.IN_PROGRESS), ("resolve", RESOLVE, Stage.READY_TO_REPLY),
             ("reply", REPLY, Stage.REPLIED), ("close", CLOSE, Stage.CLOSED)]  # fmt: skip
    for name, payload, stage in steps:
        await handle.signal(name, payload)
        await asyncio.sleep(0.05 * len(processes.workers))
        processes.kill_worker()
        processes.start_worker()
        await wait_for(client, cid, lambda s, st=stage: s.stage is st and s.log[-1].action != "verify")

    await wait_for(client, cid, lambda s: s.stage is Stage.CLOSED)
    status = processes.starter("status", cid)
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["stage"] == "closed"

    engine = make_engine(store_url)
    sessions = make_sessionmaker(engine)
    try:
        # The state moves before its step's activity has run; a step cut by a kill is retried after
        # its timeout. Wait until the store has caught up and every mail is through.
        for _ in range(600):
            async with sessions() as session:
                outbox = (await session.scalars(select(OutboxMail).where(OutboxMail.complaint_id == cid))).all()
                stored = await session.get(Complaint, cid)
                caught_up = stored is not None and stored.stage == "closed"
            if caught_up and len(outbox) == 3 and all(m.status in FINAL for m in outbox):
                break
            await asyncio.sleep(0.2)
        assert sorted(m.purpose for m in outbox) == ["acknowledgement", "closing", "reply"]
        assert {m.status for m in outbox} <= FINAL
        async with sessions() as session:
            row = await session.get(Complaint, cid)
            log = (
                await session.scalars(
                    select(ComplaintLog).where(ComplaintLog.complaint_id == cid).order_by(ComplaintLog.seq)
                )
            ).all()
    finally:
        await engine.dispose()
    assert row is not None and row.stage == "closed" and row.customer_name == "Trần Thị Bích"
    assert [(r.action, r.actor_user) for r in log] == [
        ("receive", "system"), ("verify", CS.user), ("route", CS.user), ("resolve", TECH.user),
        ("reply", CS.user), ("close", TECH.user),
    ]  # fmt: skip

    arrived = [m for m in catcher.messages() if cid in str(m["Message-ID"])]
    counts = Counter(str(m["Message-ID"]) for m in arrived)
    assert set(counts.values()) == {1}, f"a mail arrived twice: {counts}"
    # a mail whose transfer was cut by the kill is "sent_unconfirmed" (never resent); every
    # other one arrived, exactly once
    assert {m.message_id for m in outbox if m.status == "sent"} <= set(counts)
    assert all(cid in str(m["Subject"]) for m in arrived)
    assert len(processes.workers) == 5
    # The kills really cut the journey (else this test proves nothing about recovery), and a cut
    # step was retried after the step timeout the starter was given, not the production one.
    events = [event async for event in handle.fetch_history_events()]
    assert cuts_in(events), "no kill cut a step: nothing was retried"
    scheduled = [e.activity_task_scheduled_event_attributes for e in events
                 if e.HasField("activity_task_scheduled_event_attributes")]  # fmt: skip
    step_runs = [a for a in scheduled if a.activity_type.name != Activity.DELIVER_MAIL]
    step_timeouts = {a.start_to_close_timeout.ToSeconds() for a in step_runs}
    assert step_timeouts == {3}, step_timeouts
    await keys_engine.dispose()
