"""Issue 12, Medium 1 and the operator's side of the High finding: per-complaint data keys.

On the real dev server, with a worker and the real store: the codec endpoint decodes a payload
only for staff whose scope includes its complaint; anonymising a closed complaint destroys its
data key, after which nothing of it in Temporal's history or the archive reads for anyone while
verify-log and export still succeed; rotating the master key rewraps the data keys and old
payloads still decode; ``starter.py decide`` decides as an active account only.
"""

import asyncio
import base64
import json
import logging
import os
import sys
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from admin.accounts import issue_token, set_account
from admin.app import create_app
from admin.services.complaints import ComplaintService
from admin.users import User
from config.settings import Settings
from domain.ids import complaint_id_for
from domain.models import Verify
from domain.vocabulary import Category, Role, Stage
from encryption.payload_codec import (
    ENCODING,
    KEY_ID,
    REFUSED,
    SCOPE,
    SCOPED,
    EncryptionCodec,
    PayloadKeyError,
    new_key_spec,
    parse_keys,
)
from intake.filing import file_complaint
from store.archive import load_archive
from store.complaint_keys import ComplaintKeys
from store.engine import make_engine, make_sessionmaker, transaction
from store.migrate import upgrade
from store.tables import ComplaintKey, Staff
from temporal_client.connection import data_converter
from temporal_client.histories import decrypted
from tests.journey import CS, intake, quiesce, running_worker, state_of
from tests.stages import CLOSE, REPLY, RESOLVE, VERIFY

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "mật-khẩu-an-toàn-1"
NAME = "Nguyễn Văn An"  # tests.journey.intake's customer
ACCOUNTS = (
    ("quang.manager", Role.MANAGER, None),
    ("minh.tech", Role.DEPARTMENT_STAFF, "TECH"),
    ("ha.billing", Role.DEPARTMENT_STAFF, "BILLING"),
    ("lan.cs", Role.CS_AGENT, "CS"),
)


@pytest.fixture
async def accounts(sessions: async_sessionmaker[AsyncSession]) -> dict[str, str]:
    """The staff accounts, and a bearer token for each."""
    tokens: dict[str, str] = {}
    async with transaction(sessions) as session:
        for username, role, department in ACCOUNTS:
            await set_account(session, username, role, department, PASSWORD)
            await session.execute(update(Staff).where(Staff.username == username).values(active=True))
            tokens[username] = await issue_token(session, username)
    return tokens


@pytest.fixture
async def product(dev_env: WorkflowEnvironment, settings: Settings, sessions: Any) -> Client:
    """The product's client (codec with the store's data keys), as the admin and starter have it."""
    address = dev_env.client.service_client.config.target_host
    return await Client.connect(address, data_converter=data_converter(settings, sessions))


def connected(client: Client) -> Callable[[], Awaitable[Client]]:
    async def get() -> Client:
        return client

    return get


def wire(payload: Payload) -> dict[str, Any]:
    return {
        "metadata": {k: base64.b64encode(v).decode() for k, v in payload.metadata.items()},
        "data": base64.b64encode(payload.data).decode(),
    }


async def start_payload(handle: WorkflowHandle[Any, Any]) -> Payload:
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            payload: Payload = event.workflow_execution_started_event_attributes.input.payloads[0]
            return payload
    raise AssertionError("no start event")


def starter_env(settings: Settings, address: str, **extra: str) -> dict[str, str]:
    return os.environ | {
        "COMPLAINTS_DATABASE_URL": settings.effective_database_url,
        "COMPLAINTS_DATA_DIR": str(settings.data_dir),
        "COMPLAINTS_TASK_QUEUE": settings.task_queue,
        "TEMPORAL_ADDRESS": address,
        **extra,
    }


async def starter(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    """``python starter.py ...`` as an operator runs it (without blocking the in-process worker)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "starter.py", *args, cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_the_codec_endpoint_decodes_only_within_the_callers_scope(
    product: Client,
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    accounts: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="admin.codec")
    async with running_worker(product, settings, sessions):
        handle = product.get_workflow_handle((await file_complaint(product, settings, intake())).complaint_id)
        billing = Verify(actor=CS, summary="Sai cước tháng 10", category=Category.BILLING, department="BILLING")
        await handle.execute_update("verify", billing, result_type=None)
        await quiesce(handle)
        sealed = await start_payload(handle)
    assert sealed.metadata["encoding"] == SCOPED and sealed.metadata[SCOPE] == handle.id.encode()
    assert NAME.encode() not in sealed.data
    app = create_app(settings, product)
    async with app.router.lifespan_context(app):
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://admin.test")

        async def call(user: str, operation: str, payloads: list[dict[str, Any]]) -> httpx.Response:
            headers = {"Authorization": f"Bearer {accounts[user]}"}
            return await http.post(f"/codec/{operation}", json={"payloads": payloads}, headers=headers)

        refused = await call("minh.tech", "decode", [wire(sealed)])
        assert refused.status_code == 403 and NAME not in refused.text
        for user in ("ha.billing", "quang.manager"):
            decoded = await call(user, "decode", [wire(sealed)])
            assert decoded.status_code == 200, decoded.text
            assert NAME in base64.b64decode(decoded.json()["payloads"][0]["data"]).decode()
        logged = [r.getMessage() for r in caplog.records if r.name == "admin.codec"]
        assert any(handle.id in m and "ha.billing" in m for m in logged)
        assert not any(NAME in m for m in logged)

        plain = {"metadata": {"encoding": base64.b64encode(b"json/plain").decode()}, "data": "e30="}
        assert (await call("quang.manager", "encode", [plain])).status_code == 403  # for no one
        assert (await call("lan.cs", "encode", [plain])).status_code == 403

        # Issue 12 Low 2: malformed payloads are 422, never 500.
        kid = next(iter(parse_keys(settings.effective_payload_keys()))).encode()
        for metadata, data in (
            ({"encoding": ENCODING, KEY_ID: b"\xff\xfe"}, b"x" * 40),  # a key id that is not UTF-8
            ({"encoding": ENCODING, KEY_ID: kid}, b"short"),  # shorter than a nonce
            ({"encoding": SCOPED, KEY_ID: kid, SCOPE: b"\xff"}, b"x" * 40),
            ({**sealed.metadata}, sealed.data[:8]),
        ):
            bad = await call("quang.manager", "decode", [wire(Payload(metadata=metadata, data=data))])
            assert bad.status_code == 422, (metadata, bad.text)


async def test_anonymising_shreds_the_key_and_nothing_of_the_complaint_reads_again(
    dev_env: WorkflowEnvironment,
    catcher: Any,
    tmp_path: Path,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    accounts: dict[str, str],
) -> None:
    short = settings.model_copy(update={"sla_reopen_window": timedelta(seconds=2)})
    address = dev_env.client.service_client.config.target_host
    product = await Client.connect(address, data_converter=data_converter(short, sessions))
    async with running_worker(product, short, sessions):
        handle = product.get_workflow_handle((await file_complaint(product, short, intake())).complaint_id)
        for name, decision in (("verify", VERIFY), ("resolve", RESOLVE), ("reply", REPLY), ("close", CLOSE)):
            await handle.execute_update(name, decision, result_type=None)
        assert (await state_of(handle)).stage is Stage.CLOSED
        for _ in range(300):  # the reopen window ends, the run completes and its child archives it
            async with sessions() as session:
                if await load_archive(session, handle.id) is not None:
                    break
            await asyncio.sleep(0.2)
        else:
            raise AssertionError("never archived")
        sealed = await start_payload(handle)
        manager = User("quang.manager", "Quang", Role.MANAGER, None, "vi")
        async with sessions() as session:
            service = ComplaintService(session, connected(product), short)
            await service.anonymise(manager, handle.id, "yêu cầu xoá dữ liệu của khách hàng")
        async with sessions() as session:
            key = await session.get(ComplaintKey, handle.id)
            assert key is not None and key.wrapped_key is None and key.shredded_at is not None

        # Temporal's history: for no one, through any path.
        fresh = EncryptionCodec(parse_keys(short.effective_payload_keys()), ComplaintKeys(sessions, parse_keys(
            short.effective_payload_keys())))  # fmt: skip
        with pytest.raises(PayloadKeyError, match="shredded"):
            await fresh.decode([sealed])
        history = await handle.fetch_history()
        opened = await decrypted(history, data_converter(short, sessions))
        assert NAME not in opened.to_json()
        assert REFUSED.decode() in base64.b64decode(json.loads(opened.to_json())["events"][0]
                                                    ["workflowExecutionStartedEventAttributes"]["input"]["payloads"][0]
                                                    ["metadata"]["encoding"]).decode()  # fmt: skip
        app = create_app(short, product)
        async with app.router.lifespan_context(app):
            http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://admin.test")
            for user in ("quang.manager", "lan.cs"):
                gone = await http.post("/codec/decode", json={"payloads": [wire(sealed)]},
                                       headers={"Authorization": f"Bearer {accounts[user]}"})  # fmt: skip
                assert gone.status_code == 410 and NAME not in gone.text
            # The admin's audit trail: the skeleton, from the log rows.
            async with sessions() as session:
                service = ComplaintService(session, connected(product), short)
                events = await service.history(manager, handle.id)
            assert [e.name for e in events][:2] == ["receive", "verify"]
            assert all(e.actor and e.fields.get("hash") for e in events)

        # The archive, verify-log and export: clean, and nothing personal.
        env = starter_env(short, address)
        code, out, err = await starter(env, "verify-log", handle.id)
        assert code == 0 and "1 shredded" in out and "Traceback" not in err, out + err
        code, out, err = await starter(env, "export", handle.id)
        assert code == 0 and "Traceback" not in err, err
        document = json.loads(out)
        assert document["history_shredded"] is True and NAME not in out
        assert any(p.get("shredded") for p in _payloads(document["history"]))
        assert [row["action"] for row in document["log"]][:2] == ["receive", "verify"]


def _payloads(node: Any) -> list[dict[str, Any]]:
    if isinstance(node, list):
        return [p for item in node for p in _payloads(item)]
    if not isinstance(node, dict):
        return []
    found = [node] if "metadata" in node and "data" in node else []
    return found + [p for value in node.values() for p in _payloads(value)]


async def test_rotating_the_master_key_rewraps_data_keys_and_old_payloads_still_decode(
    dev_env: WorkflowEnvironment, tmp_path: Path, catcher: Any
) -> None:
    # A store of its own: rotation rewraps every key in it, and the other tests keep the old key.
    url = f"sqlite+aiosqlite:///{tmp_path / 'rotate.db'}"
    await upgrade(url)
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    old = os.environ["COMPLAINTS_PAYLOAD_KEYS"]
    settings = Settings(database_url=url, data_dir=tmp_path, task_queue=f"rotate-{os.getpid()}",
                        smtp_host="127.0.0.1", smtp_port=catcher.port)  # fmt: skip
    address = dev_env.client.service_client.config.target_host
    try:
        product = await Client.connect(address, data_converter=data_converter(settings, sessions))
        async with running_worker(product, settings, sessions):
            handle = product.get_workflow_handle((await file_complaint(product, settings, intake())).complaint_id)
            await quiesce(handle)
        sealed = await start_payload(handle)
        new = new_key_spec("rotated")
        code, out, err = await starter(starter_env(settings, address, COMPLAINTS_PAYLOAD_KEYS=f"{new},{old}"),
                                       "rotate-keys")  # fmt: skip
        assert code == 0 and "1 data keys rewrapped under 'rotated'" in out, out + err
        async with sessions() as session:
            row = await session.get(ComplaintKey, handle.id)
            assert row is not None and row.kek_id == "rotated"
        # The history is not re-encrypted, yet it reads under the new master key alone.
        only_new = parse_keys(new)
        codec = EncryptionCodec(only_new, ComplaintKeys(sessions, only_new))
        [plain] = await codec.decode([sealed])
        assert NAME.encode() in plain.data
        again = await starter(starter_env(settings, address, COMPLAINTS_PAYLOAD_KEYS=f"{new},{old}"), "rotate-keys")
        assert again[0] == 0 and "0 data keys rewrapped" in again[1] and "1 already" in again[1]
    finally:
        await engine.dispose()


async def test_starter_decide_acts_as_an_active_account_only(
    dev_env: WorkflowEnvironment, product: Client, settings: Settings, sessions: Any, accounts: dict[str, str]
) -> None:
    address = dev_env.client.service_client.config.target_host
    env = starter_env(settings, address)
    verify = json.dumps({"summary": "Khách mất kết nối", "category": "technical"})
    async with running_worker(product, settings, sessions):
        handle = product.get_workflow_handle((await file_complaint(product, settings, intake())).complaint_id)
        await quiesce(handle)
        assert (await starter(env, "decide", handle.id, "verify", "--as", "ghost", "--input", verify))[0] == 3
        async with transaction(sessions) as session:
            await session.execute(update(Staff).where(Staff.username == "lan.cs").values(active=False))
        code, _, err = await starter(env, "decide", handle.id, "verify", "--as", "lan.cs", "--input", verify)
        assert code == 3 and "deactivated" in err
        assert (await state_of(handle)).stage is Stage.RECEIVED
        async with transaction(sessions) as session:
            await session.execute(update(Staff).where(Staff.username == "lan.cs").values(active=True))
        assert (await starter(env, "decide", handle.id, "verify", "--as", "lan.cs", "--input", "{nope"))[0] == 2
        forged = json.dumps({"summary": "x", "category": "technical", "actor": {"user": "boss", "role": "manager"}})
        assert (await starter(env, "decide", handle.id, "verify", "--as", "lan.cs", "--input", forged))[0] == 2
        code, _, err = await starter(env, "decide", handle.id, "verify", "--as", "minh.tech", "--input", verify)
        assert code == 1 and "refused, wrong_role" in err  # the workflow's refusal: a department may not verify
        assert (await starter(env, "decide", "KN-ZZZZZZ", "note", "--as", "lan.cs", "--input", '{"text":"x"}'))[0] == 4
        code, out, err = await starter(env, "decide", handle.id, "verify", "--as", "lan.cs", "--input", verify)
        assert code == 0 and "stage in_progress" in out, err
        state = await state_of(handle)
        assert state.stage is Stage.IN_PROGRESS
        assert state.log[1].actor.user == "lan.cs" and state.log[1].actor.role is Role.CS_AGENT
        # an assignee is checked against the staff directory, as the admin does (the workflow cannot)
        for someone in ("ha.billing", "nobody.here"):
            assign = json.dumps({"assignee": someone})
            code, _, err = await starter(env, "decide", handle.id, "assign", "--as", "tuan.tech", "--input", assign)
            assert code == 2 and err.startswith("assignee:"), err
        assign = json.dumps({"assignee": "minh.tech"})
        code, out, err = await starter(env, "decide", handle.id, "assign", "--as", "tuan.tech", "--input", assign)
        assert code == 0, err
        assert (await state_of(handle)).assignee == "minh.tech"
    async with sessions() as session:  # the staff row decided: the store is where the actor came from
        assert (await session.scalars(select(Staff.role).where(Staff.username == "lan.cs"))).one() == "cs_agent"


async def test_which_formats_a_workflow_accepts(sessions: async_sessionmaker[AsyncSession]) -> None:
    """In a workflow's context: its own scoped payloads; payloads from before data keys only for
    a complaint filed before them; plain payloads never (the codec with the store); and a
    refusal is a replaced payload, never an exception (which would fail the workflow task)."""
    keks = parse_keys(os.environ["COMPLAINTS_PAYLOAD_KEYS"])
    keys = ComplaintKeys(sessions, keks)
    codec = EncryptionCodec(keks, keys)
    keyed, keyless = complaint_id_for(f"test:{uuid.uuid4()}"), complaint_id_for(f"test:{uuid.uuid4()}")
    assert await keys.create(keyed) and not await keys.create(keyed)  # idempotent
    plain = Payload(metadata={"encoding": b"json/plain"}, data=b'{"text":"x"}')
    context = {cid: codec._scoped(cid) for cid in (keyed, keyless)}
    legacy = codec.encrypt_legacy(plain)
    [own] = await context[keyed].encode([plain])
    assert own.metadata[KEY_ID] == b"complaint"
    assert await context[keyed].decode([own]) == [plain]
    [moved] = await context[keyless].decode([own])  # another complaint's payload
    [old_on_new] = await context[keyed].decode([legacy])
    [plain_in] = await context[keyed].decode([plain])
    [plain_old] = await context[keyless].decode([plain])
    assert all(p.metadata["encoding"] == REFUSED for p in (moved, old_on_new, plain_in, plain_old))
    assert await context[keyless].decode([legacy]) == [plain]  # filed before data keys: its history replays
    assert await codec.decode([own]) == [plain]  # no context (export, codec endpoint): by its named scope
    with pytest.raises(PayloadKeyError):
        await codec.decode([Payload(metadata={**own.metadata, SCOPE: keyless.encode()}, data=own.data)])
