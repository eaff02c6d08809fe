"""Webhooks in (issue 14) over HTTP against the real app, a real Temporal dev server and a worker:
Chatwoot's events as Chatwoot sends them (Message#webhook_data, Conversation#webhook_data),
signed as Chatwoot signs them, and the generic signed intake with its refusals."""

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from admin.app import create_app
from admin.services.webhooks import sign
from config.settings import Settings
from domain.models import ComplaintState, Direction
from intake.filing import complaint_state
from intake.long_text import BODY_MAX_CHARS, MARKER
from store.attachments import AttachmentStore
from store.tables import Complaint
from tests.conftest import CONVERTER, Sessions, binary
from tests.journey import running_worker
from tests.test_admin_pages import until_stages
from tests.test_public_messages import to_closed

SECRET = "test-webhook-secret"
CHATWOOT_SECRET = "test-chatwoot-secret"


class Hooks:
    def __init__(self, http: httpx.AsyncClient, client: Client) -> None:
        self.http, self.client = http, client

    async def chatwoot(self, payload: dict[str, Any], *, secret: str = CHATWOOT_SECRET, age: int = 0) -> httpx.Response:
        body = json.dumps(payload).encode()
        stamp = str(int(time.time()) - age)
        headers = {"X-Chatwoot-Timestamp": stamp, "X-Chatwoot-Signature": sign(secret, stamp, body)}
        return await self.post("/api/v1/intake/chatwoot", body, headers)

    async def generic(
        self, payload: dict[str, Any] | bytes, *, secret: str = SECRET, age: int = 0
    ) -> tuple[httpx.Response, bytes, dict[str, str]]:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        stamp = str(int(time.time()) - age)
        headers = {"X-Timestamp": stamp, "X-Signature": sign(secret, stamp, body)}
        return await self.post("/api/v1/intake/webhook", body, headers), body, headers

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
        return await self.http.post(url, content=body, headers=headers | {"Content-Type": "application/json"})

    async def state(self, complaint_id: str) -> ComplaintState:
        return await complaint_state(self.client.get_workflow_handle(complaint_id))


async def _hooks(dev_env: WorkflowEnvironment, settings: Settings, sessions: Sessions) -> AsyncIterator[Hooks]:
    app = create_app(settings, temporal=dev_env.client)
    async with running_worker(dev_env.client, settings, sessions), app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://admin.test") as http:
            yield Hooks(http, dev_env.client)


@pytest.fixture
async def hooks(dev_env: WorkflowEnvironment, settings: Settings, sessions: Sessions) -> AsyncIterator[Hooks]:
    configured = settings.model_copy(update={"webhook_secret": SECRET, "chatwoot_webhook_secret": CHATWOOT_SECRET})
    async for h in _hooks(dev_env, configured, sessions):
        yield h


@pytest.fixture
async def short_hooks(dev_env: WorkflowEnvironment, settings: Settings, sessions: Sessions) -> AsyncIterator[Hooks]:
    """A reopen window of 2 s: a closed complaint's follow-up really ends (its workflow completes)."""
    configured = settings.model_copy(
        update={
            "webhook_secret": SECRET,
            "chatwoot_webhook_secret": CHATWOOT_SECRET,
            "sla_reopen_window": timedelta(seconds=2),
        }
    )
    async for h in _hooks(dev_env, configured, sessions):
        yield h


async def closed_for_good(client: Client, complaint_id: str) -> None:
    """Closed, and its reopen window over: the workflow has completed."""
    handle = client.get_workflow_handle(complaint_id)
    await to_closed(handle)
    for _ in range(300):
        if (await handle.describe()).status is not WorkflowExecutionStatus.RUNNING:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{complaint_id} still running after its reopen window")


async def complaints_keyed(sessions: Sessions, prefix: str) -> int:
    async with sessions() as session:
        query = select(func.count()).select_from(Complaint).where(Complaint.intake_key.startswith(prefix))
        return int((await session.execute(query)).scalar_one())


# -- Chatwoot's payloads, shaped as its models' webhook_data --------------------------------------


def conversation(conversation_id: int, labels: list[str], inbox_id: int = 7) -> dict[str, Any]:
    return {
        "id": conversation_id,
        "inbox_id": inbox_id,
        "status": "open",
        "channel": "Channel::WebWidget",
        "labels": labels,
        "messages": [],
        "meta": {
            "sender": {"id": 31, "name": "Trần Thị Bích", "email": "bich@example.vn", "phone_number": "+84901234567"},
            "assignee": None,
        },
        "additional_attributes": {},
        "custom_attributes": {},
        "unread_count": 1,
        "created_at": int(time.time()),
    }


def conversation_event(event: str, conv: dict[str, Any]) -> dict[str, Any]:
    return conv | {"event": event}


def message_event(
    conv: dict[str, Any], message_id: int, text: str, message_type: str = "incoming", private: bool = False
) -> dict[str, Any]:
    return {
        "event": "message_created",
        "id": message_id,
        "content": text,
        "created_at": "2026-11-30T07:40:00.000Z",
        "message_type": message_type,
        "content_type": "text",
        "content_attributes": {},
        "source_id": None,
        "private": private,
        "sender": {"id": 31, "name": "Trần Thị Bích", "type": "contact"},
        "inbox": {"id": conv["inbox_id"], "name": "Website"},
        "conversation": conv,
        "account": {"id": 1, "name": "Lửa Rồng"},
    }


def new_ids() -> tuple[int, int]:
    base = uuid.uuid4().int % 10**8
    return base, base * 10


def customer_texts(state: ComplaintState) -> list[str]:
    return [m.text for m in state.messages if m.direction is Direction.IN]


async def test_a_labelled_conversation_files_once_and_threads_incoming_messages(hooks: Hooks) -> None:
    conv_id, msg = new_ids()
    conv = conversation(conv_id, ["vip", "Khieu-Nai"])
    created = await hooks.chatwoot(conversation_event("conversation_created", conv))
    assert created.status_code == 200, created.text
    assert created.json()["outcome"] == "filed"
    cid = created.json()["complaint_id"]

    # A redelivery is signed anew, at its own time (the same signed request again is a replay).
    again = await hooks.chatwoot(conversation_event("conversation_created", conv), age=60)
    assert again.json() == {"outcome": "already_filed", "complaint_id": cid}

    first = await hooks.chatwoot(message_event(conv, msg, "Mạng mất từ sáng nay"))
    assert first.json() == {"outcome": "added", "complaint_id": cid}, first.text
    redelivered = await hooks.chatwoot(message_event(conv, msg, "Mạng mất từ sáng nay"), age=60)
    assert redelivered.json() == {"outcome": "added", "complaint_id": cid}
    for kind, private in (("outgoing", False), ("incoming", True), ("activity", False)):
        ignored = await hooks.chatwoot(message_event(conv, msg + 1, f"{kind} {private}", kind, private))
        assert ignored.json() == {"outcome": "ignored", "complaint_id": None}, ignored.text
    second = await hooks.chatwoot(message_event(conv, msg + 2, "Vẫn chưa có mạng"))
    assert second.status_code == 200, second.text

    state = await hooks.state(cid)
    assert state.channel.value == "livechat"
    assert state.customer.name == "Trần Thị Bích" and state.customer.phone == "+84901234567"
    assert customer_texts(state) == ["Mạng mất từ sáng nay", "Vẫn chưa có mạng"]


async def test_the_label_added_later_files_on_the_next_incoming_message(hooks: Hooks) -> None:
    conv_id, msg = new_ids()
    unlabelled = conversation(conv_id, [])
    response = await hooks.chatwoot(conversation_event("conversation_created", unlabelled))
    assert response.json() == {"outcome": "ignored", "complaint_id": None}
    chat = await hooks.chatwoot(message_event(unlabelled, msg, "Cho tôi hỏi giá cước"))
    assert chat.json()["outcome"] == "ignored"

    labelled = conversation(conv_id, ["khieu-nai"])
    filed = await hooks.chatwoot(message_event(labelled, msg + 1, "Tôi muốn khiếu nại hoá đơn"))
    assert filed.json()["outcome"] == "filed", filed.text
    cid = filed.json()["complaint_id"]
    assert (await hooks.chatwoot(message_event(labelled, msg + 1, "Tôi muốn khiếu nại hoá đơn"), age=60)).json() == {
        "outcome": "added",
        "complaint_id": cid,
    }
    state = await hooks.state(cid)
    assert state.body == "Tôi muốn khiếu nại hoá đơn"
    assert customer_texts(state) == ["Tôi muốn khiếu nại hoá đơn"]  # once, though delivered twice
    # The same display id in another inbox (another account) is another conversation.
    other = await hooks.chatwoot(conversation_event("conversation_created", conversation(conv_id, ["khieu-nai"], 8)))
    assert other.json()["outcome"] == "filed" and other.json()["complaint_id"] != cid


async def test_chatwoot_refusals(hooks: Hooks) -> None:
    conv = conversation(new_ids()[0], ["khieu-nai"])
    payload = conversation_event("conversation_created", conv)
    wrong = await hooks.chatwoot(payload, secret="not-the-secret")
    assert (wrong.status_code, wrong.json()["error"]) == (401, "bad_signature")
    stale = await hooks.chatwoot(payload, age=6 * 60)
    assert (stale.status_code, stale.json()["error"]) == (401, "stale")
    unsigned = await hooks.post("/api/v1/intake/chatwoot", json.dumps(payload).encode(), {})
    assert (unsigned.status_code, unsigned.json()["error"]) == (401, "unsigned")
    no_event = await hooks.chatwoot({"id": 1})
    assert (no_event.status_code, no_event.json()["field"]) == (422, "event")
    no_inbox = await hooks.chatwoot(conversation_event("conversation_created", conv | {"inbox_id": None}))
    assert (no_inbox.status_code, no_inbox.json()["field"]) == (422, "inbox_id")
    no_conversation = await hooks.chatwoot(message_event(conv, 1, "x") | {"conversation": "12"})
    assert (no_conversation.status_code, no_conversation.json()["field"]) == (422, "conversation")
    too_large = await hooks.chatwoot(message_event(conv, 3, "x" * 300_000))
    assert (too_large.status_code, too_large.json()["error"]) == (413, "too_large")


async def test_a_livechat_message_longer_than_a_complaints_text_is_filed_with_its_full_text(
    hooks: Hooks, settings: Settings, sessions: Sessions
) -> None:
    # Over a complaint's 10,000 characters (it used to be refused with 422, and Chatwoot does not
    # send it again: the complaint was lost). Now filed, its full text kept as the .txt file.
    text = "Tôi bị trừ tiền hai lần cho cùng một gói cước. " * 400  # 18,800 characters
    filed = await hooks.chatwoot(message_event(conversation(new_ids()[0], ["khieu-nai"]), 2, text))
    assert (filed.status_code, filed.json()["outcome"]) == (200, "filed"), filed.text
    cid = filed.json()["complaint_id"]
    state = await hooks.state(cid)
    assert state.body.endswith(MARKER) and len(state.body) <= BODY_MAX_CHARS
    texts = [a for m in state.messages for a in m.attachments if a.content_type == "text/plain"]
    assert texts and len({a.sha256 for a in texts}) == 1  # the body's and the message's: one file
    opened = await AttachmentStore.of(settings, sessions).open(cid, texts[0])
    assert opened.data.decode() == text.strip()
    [message] = [m for m in state.messages if m.message_id == "chatwoot:message:2"]
    assert message.text == text.strip(), "a message's own bound (50,000 characters) is not reached"


async def test_a_livechat_message_after_the_follow_up_ended_files_a_new_complaint_that_later_ones_join(
    short_hooks: Hooks, sessions: Sessions
) -> None:
    """As mail does: the customer's words after the reopen window are a new livechat complaint
    naming the old case, filed once however often Chatwoot delivers the message, and the
    conversation's next messages thread onto the new complaint, not the ended one."""
    hooks = short_hooks
    conv_id, msg = new_ids()
    conv = conversation(conv_id, ["khieu-nai"])
    old = (await hooks.chatwoot(conversation_event("conversation_created", conv))).json()["complaint_id"]
    assert (await hooks.chatwoot(message_event(conv, msg, "Mạng mất từ sáng nay"))).json()["outcome"] == "added"
    await closed_for_good(hooks.client, old)

    late = await hooks.chatwoot(message_event(conv, msg + 1, "Lại mất mạng rồi"))
    assert late.status_code == 200, late.text
    assert late.json()["outcome"] == "filed", late.text
    new = late.json()["complaint_id"]
    assert new != old
    state = await hooks.state(new)
    assert state.channel.value == "livechat" and state.body == "Lại mất mạng rồi"
    assert old in state.subject, state.subject
    assert (state.customer.name, state.customer.email, state.customer.phone) == (
        "Trần Thị Bích",
        "bich@example.vn",
        "+84901234567",
    )
    assert customer_texts(state) == ["Lại mất mạng rồi"]

    again = await hooks.chatwoot(message_event(conv, msg + 1, "Lại mất mạng rồi"), age=60)
    assert again.json() == {"outcome": "added", "complaint_id": new}, again.text
    next_one = await hooks.chatwoot(message_event(conv, msg + 2, "Modem nháy đèn đỏ"))
    assert next_one.json() == {"outcome": "added", "complaint_id": new}, next_one.text
    assert customer_texts(await hooks.state(new)) == ["Lại mất mạng rồi", "Modem nháy đèn đỏ"]
    assert customer_texts(await hooks.state(old)) == ["Mạng mất từ sáng nay"]
    # A conversation event (a status change, a label) carries the last message again: it files
    # nothing; only message_created, a message surely new, does.
    carried = message_event(conv, msg + 3, "Tin nhắn cuối trong sự kiện")
    updated = conversation_event("conversation_updated", conv | {"messages": [carried]})
    assert (await hooks.chatwoot(updated)).json() == {"outcome": "already_filed", "complaint_id": old}

    await until_stages(sessions, {old: "closed", new: "received"})
    assert await complaints_keyed(sessions, f"chatwoot:inbox:7:conversation:{conv_id}") == 2


# -- the generic signed intake --------------------------------------------------------------------


def complaint(external_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "external_id": external_id,
        "channel": "phone",
        "customer": {"name": "Lê Văn Cường", "phone": "0912345678"},
        "subject": "Cước tính sai",
        "body": "Tháng này bị tính cước gấp đôi.",
    } | extra


async def test_the_generic_webhook_files_once_and_adds_messages(hooks: Hooks) -> None:
    external = f"crm-{uuid.uuid4()}"
    response, _, _ = await hooks.generic(complaint(external))
    assert response.status_code == 200 and response.json()["outcome"] == "filed", response.text
    cid = response.json()["complaint_id"]
    again, _, _ = await hooks.generic(complaint(external), age=60)  # signed anew: a redelivery, not a replay
    assert again.json() == {"outcome": "already_filed", "complaint_id": cid}

    message = {"complaint_id": cid, "text": "Tôi gửi thêm hoá đơn", "message_id": "crm-msg-1"}
    for age in (0, 60):
        added, _, _ = await hooks.generic(message, age=age)
        assert added.json() == {"outcome": "added", "complaint_id": cid}, added.text
    assert customer_texts(await hooks.state(cid)) == ["Tôi gửi thêm hoá đơn"]

    unknown, _, _ = await hooks.generic(message | {"complaint_id": "KN-000000"})
    assert (unknown.status_code, unknown.json()["error"]) == (404, "not_found")


async def test_a_generic_message_after_the_follow_up_ended_files_a_new_complaint_that_later_ones_join(
    short_hooks: Hooks, sessions: Sessions
) -> None:
    hooks = short_hooks
    customer = {"name": "Lê Văn Cường", "phone": "0912345678", "email": "cuong@example.vn"}  # replied to by mail
    filed, _, _ = await hooks.generic(complaint(f"crm-{uuid.uuid4()}", customer=customer))
    old = filed.json()["complaint_id"]
    await closed_for_good(hooks.client, old)
    await until_stages(sessions, {old: "closed"})

    message = {"complaint_id": old, "text": "Tháng này lại tính sai", "message_id": f"crm-{uuid.uuid4()}"}
    late, _, _ = await hooks.generic(message)
    assert late.status_code == 200 and late.json()["outcome"] == "filed", late.text
    new = late.json()["complaint_id"]
    assert new != old
    state = await hooks.state(new)
    assert state.body == "Tháng này lại tính sai" and old in state.subject, state.subject
    assert state.channel.value == "web"
    assert (state.customer.name, state.customer.phone, state.customer.email) == tuple(customer.values())
    again, _, _ = await hooks.generic(message, age=60)
    assert again.json() == {"outcome": "added", "complaint_id": new}, again.text
    next_one, _, _ = await hooks.generic(message | {"text": "Kèm hoá đơn", "message_id": f"crm-{uuid.uuid4()}"})
    assert next_one.json() == {"outcome": "added", "complaint_id": new}, next_one.text
    assert customer_texts(await hooks.state(new)) == ["Tháng này lại tính sai", "Kèm hoá đơn"]


async def test_the_generic_webhook_refuses_bad_signatures_old_timestamps_and_replays(hooks: Hooks) -> None:
    payload = complaint(f"crm-{uuid.uuid4()}")
    wrong, _, _ = await hooks.generic(payload, secret="guess")
    assert (wrong.status_code, wrong.json()["error"]) == (401, "bad_signature")
    old, _, _ = await hooks.generic(payload, age=5 * 60 + 30)
    assert (old.status_code, old.json()["error"]) == (401, "stale")
    future, _, _ = await hooks.generic(payload, age=-10 * 60)
    assert (future.status_code, future.json()["error"]) == (401, "stale")
    first, body, headers = await hooks.generic(payload)
    assert first.status_code == 200, first.text
    tampered = await hooks.post("/api/v1/intake/webhook", body.replace(b"phone", b"email"), headers)
    assert (tampered.status_code, tampered.json()["error"]) == (401, "bad_signature")
    replay = await hooks.post("/api/v1/intake/webhook", body, headers)
    assert (replay.status_code, replay.json()["error"]) == (409, "replayed"), replay.text
    not_a_number = await hooks.post("/api/v1/intake/webhook", body, headers | {"X-Timestamp": "yesterday"})
    assert (not_a_number.status_code, not_a_number.json()["error"]) == (401, "bad_timestamp")


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (b"{not json", "body"),
        (b"[1, 2]", "body"),
        (complaint("x", channel="pigeon"), "channel"),
        (complaint("x", customer={"phone": "0912345678"}), "customer.name"),
        (complaint("x", body=""), "body"),
        ({k: v for k, v in complaint("x").items() if k != "external_id"}, "external_id"),
        ({"complaint_id": "KN-000001", "message_id": "m"}, "text"),
        (complaint("x", channel="email"), None),  # the model's own rule: the message names it
    ],
)
async def test_a_malformed_body_is_422_naming_the_field(
    hooks: Hooks, payload: dict[str, Any] | bytes, field: str | None
) -> None:
    response, _, _ = await hooks.generic(payload)
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "invalid" and response.json().get("field") == field, response.text


async def test_off_without_a_secret(dev_env: WorkflowEnvironment, settings: Settings, sessions: Sessions) -> None:
    async for hooks in _hooks(dev_env, settings, sessions):
        response, _, _ = await hooks.generic(complaint("x"))
        assert (response.status_code, response.json()["error"]) == (503, "webhook_off")
        assert "COMPLAINTS_WEBHOOK_SECRET" in response.json()["message"]
        chatwoot = await hooks.chatwoot({"event": "conversation_created"})
        assert (chatwoot.status_code, chatwoot.json()["error"]) == (503, "webhook_off")


async def test_chatwoot_without_signing_takes_a_token_in_the_address(
    dev_env: WorkflowEnvironment, settings: Settings, sessions: Sessions
) -> None:
    configured = settings.model_copy(update={"chatwoot_url_token": "tok-123"})
    async for hooks in _hooks(dev_env, configured, sessions):
        payload = json.dumps(conversation_event("conversation_created", conversation(new_ids()[0], []))).encode()
        for url in ("/api/v1/intake/chatwoot", "/api/v1/intake/chatwoot?token=tok-12"):
            refused = await hooks.post(url, payload, {})
            assert (refused.status_code, refused.json()["error"]) == (401, "bad_token")
        taken = await hooks.post("/api/v1/intake/chatwoot?token=tok-123", payload, {})
        assert taken.json() == {"outcome": "ignored", "complaint_id": None}, taken.text


async def test_a_request_that_failed_on_temporal_is_taken_when_sent_again(
    dev_env: WorkflowEnvironment, settings: Settings, sessions: Sessions
) -> None:
    """Temporal down: 503, and the signature's claim is released, so the sender's retry of the
    very same signed request files the complaint instead of being refused as a replay."""
    configured = settings.model_copy(update={"webhook_secret": SECRET})
    down = await WorkflowEnvironment.start_local(
        dev_server_existing_path=binary("temporal"), data_converter=CONVERTER, ui=False
    )
    app = create_app(configured, temporal=down.client)
    await down.shutdown()
    body = json.dumps(complaint(f"crm-{uuid.uuid4()}")).encode()
    stamp = str(int(time.time()))
    headers = {"X-Timestamp": stamp, "X-Signature": sign(SECRET, stamp, body), "Content-Type": "application/json"}
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://admin.test") as http,
    ):
        failed = await http.post("/api/v1/intake/webhook", content=body, headers=headers)
    assert failed.status_code == 503, failed.text
    async for hooks in _hooks(dev_env, configured, sessions):
        retried = await hooks.post("/api/v1/intake/webhook", body, headers)
        assert retried.status_code == 200 and retried.json()["outcome"] == "filed", retried.text
