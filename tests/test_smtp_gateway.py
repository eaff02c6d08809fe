"""The inbound SMTP gateway (intake/smtp_gateway.py), spoken to with smtplib as a mail relay
would: 250 only once the complaint is filed (its workflow running on the real dev server), a
message sent again filed once, noise accepted and never filed, an oversized one refused."""

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from activities.complaint_steps import ComplaintActivities
from config.settings import Settings
from domain.ids import complaint_id_for
from domain.models import ComplaintState
from domain.vocabulary import Channel
from intake.smtp_gateway import bound_port, serve
from localstack.ports import free_port, wait_for_port
from store.engine import make_engine, make_sessionmaker
from temporal_client.histories import workflow_exists
from tests.conftest import Sessions
from tests.test_end_to_end import product_client
from tests.test_mailbox_poll import ROOT, key_of, mail, outcomes, smtp_send
from worker import build_worker


@pytest.fixture
async def product(dev_env: WorkflowEnvironment, sqlite_url: str) -> AsyncIterator[Client]:
    client, engine = await product_client(dev_env, sqlite_url)
    yield client
    await engine.dispose()


@pytest.fixture
async def gateway(product: Client, settings: Settings, sessions: Sessions) -> AsyncIterator[tuple[Settings, int]]:
    settings = settings.model_copy(update={"inbound_smtp_port": 0, "message_max_bytes": 20_000})
    server = await serve(product, sessions, settings)
    async with build_worker(product, settings, ComplaintActivities(sessions, settings)):
        yield settings, bound_port(server)
    server.close()
    await server.wait_closed()


async def test_accepts_once_filed_and_files_a_resent_message_once(
    product: Client, sessions: Sessions, gateway: tuple[Settings, int]
) -> None:
    _, port = gateway
    tag = f"g{uuid.uuid4().hex[:12]}"
    raw = mail(tag, subject="Mất mạng cả ngày")
    code, answer = await asyncio.to_thread(smtp_send, port, raw)
    assert (code, answer) == (250, b"2.0.0 Accepted")
    cid = complaint_id_for(key_of(tag))
    state = await product.get_workflow_handle(cid).query("state", result_type=ComplaintState)  # started before 250
    assert state.channel is Channel.EMAIL and state.subject == f"Mất mạng cả ngày {tag}"
    assert (await asyncio.to_thread(smtp_send, port, raw))[0] == 250  # the relay retries: same answer
    recorded = (await outcomes(sessions, [key_of(tag)]))[key_of(tag)]
    assert (recorded.source, recorded.outcome, recorded.complaint_id) == ("smtp", "filed", cid)
    assert not await workflow_exists(product, complaint_id_for(key_of(tag), 1))


async def test_noise_is_accepted_never_filed_and_oversized_is_refused(
    product: Client, sessions: Sessions, gateway: tuple[Settings, int]
) -> None:
    _, port = gateway
    noise = f"g{uuid.uuid4().hex[:12]}"
    code, _ = await asyncio.to_thread(smtp_send, port, mail(noise, headers=("Auto-Submitted: auto-replied",)))
    assert code == 250
    assert (await outcomes(sessions, [key_of(noise)]))[key_of(noise)].outcome == "noise"
    assert not await workflow_exists(product, complaint_id_for(key_of(noise)))
    big = f"g{uuid.uuid4().hex[:12]}"
    code, answer = await asyncio.to_thread(smtp_send, port, mail(big, body="Ảnh chụp màn hình.\r\n" * 2_000))
    assert code == 552, answer
    assert not await workflow_exists(product, complaint_id_for(key_of(big)))


async def test_answers_451_and_keeps_nothing_when_the_store_is_down(product: Client, settings: Settings) -> None:
    """The relay keeps a message the gateway could not take in, and tries again later."""
    down = make_engine(f"postgresql+asyncpg://complaints:x@127.0.0.1:{free_port()}/complaints")
    settings = settings.model_copy(update={"inbound_smtp_port": 0})
    server = await serve(product, make_sessionmaker(down), settings)
    try:
        tag = f"g{uuid.uuid4().hex[:12]}"
        code, _ = await asyncio.to_thread(smtp_send, bound_port(server), mail(tag))
    finally:
        server.close()
        await server.wait_closed()
        await down.dispose()
    assert code == 451
    assert not await workflow_exists(product, complaint_id_for(key_of(tag)))


async def test_the_gateway_process_make_run_starts(
    dev_env: WorkflowEnvironment, product: Client, settings: Settings, sessions: Sessions, sqlite_url: str
) -> None:
    """``python -m intake.smtp_gateway`` as ``make run`` starts it: listening on its port, and
    a mail sent to it is a complaint before the 250."""
    port = free_port()
    env = os.environ | {
        "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "COMPLAINTS_DATABASE_URL": sqlite_url,
        "COMPLAINTS_DATA_DIR": str(settings.data_dir),
        "COMPLAINTS_TASK_QUEUE": settings.task_queue,
        "COMPLAINTS_INBOUND_SMTP_PORT": str(port),
    }
    gateway = subprocess.Popen([sys.executable, "-m", "intake.smtp_gateway"], cwd=ROOT, env=env)
    try:
        await asyncio.to_thread(wait_for_port, port, "127.0.0.1", 60)
        async with build_worker(product, settings, ComplaintActivities(sessions, settings)):
            tag = f"g{uuid.uuid4().hex[:12]}"
            code, _ = await asyncio.to_thread(smtp_send, port, mail(tag))
            assert code == 250
            assert await workflow_exists(product, complaint_id_for(key_of(tag)))
    finally:
        gateway.send_signal(signal.SIGTERM)
        assert gateway.wait(timeout=30) == 0  # a clean stop
