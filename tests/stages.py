"""Bring a complaint to any stage through real decisions (used by the table-driven tests)."""

from typing import Any

from temporalio.client import Client, WorkflowHandle

from config.settings import Settings
from domain.models import SYSTEM_ACTOR, Close, CustomerMessage, Escalate, Reply, Resolve, Verify
from domain.vocabulary import Category, Channel, ReplyMethod, Stage
from tests.journey import CS, TECH, decide, intake, start

VERIFY = Verify(actor=CS, summary="Khách mất kết nối liên tục", category=Category.TECHNICAL)
RESOLVE = Resolve(
    actor=TECH,
    cause="Modem lỗi firmware",
    resolution="Cập nhật firmware từ xa",
    within_authority=True,
    reply_draft="Chúng tôi đã cập nhật firmware cho modem của Quý khách.",
)
REPLY = Reply(actor=CS, method=ReplyMethod.EMAIL, message="Sự cố đã được khắc phục.")
CLOSE = Close(actor=TECH, root_cause="Firmware cũ", lessons_learned="Rà soát firmware định kỳ hằng quý")
# A reply by mail from the customer (the system actor takes it in), quoting our mail below it.
CUSTOMER_MESSAGE = CustomerMessage(
    actor=SYSTEM_ACTOR,
    text="Mạng vẫn chập chờn vào buổi tối.\n\nVào 10:00 ngày 1/12/2026, CSKH đã viết:\n> Sự cố đã được khắc phục.",
    via=Channel.EMAIL,
    message_id="<reply-1@customer.example.vn>",
)


async def at_stage(
    client: Client,
    settings: Settings,
    stage: Stage,
    channel: Channel = Channel.EMAIL,
    search_attributes: bool | None = None,
) -> WorkflowHandle[Any, Any]:
    handle = await start(client, settings, intake(channel), search_attributes=search_attributes)
    if stage is Stage.RECEIVED:
        return handle
    await decide(handle, "verify", VERIFY)
    if stage is Stage.IN_PROGRESS:
        return handle
    if stage is Stage.ESCALATED:
        await decide(handle, "escalate", Escalate(actor=TECH, reason="Cần thay thiết bị, vượt thẩm quyền"))
        return handle
    if stage is Stage.AWAITING_SIGNATURE:
        assert channel is Channel.POST
        await decide(handle, "resolve", RESOLVE)
        return handle
    await decide(handle, "resolve", RESOLVE)
    if stage is Stage.READY_TO_REPLY:
        return handle
    await decide(handle, "reply", REPLY)
    if stage is Stage.REPLIED:
        return handle
    await decide(handle, "close", CLOSE)
    return handle
