"""The conversation with the customer, pure parts: trimming quoted history and signatures for
display, the flags a message after closing raises and CS's acting lowers, the repeat of one
message id, the outgoing mails as entries, the staff notification and the anonymised copy."""

from datetime import UTC, datetime, timedelta

import pytest

from correspondence.context import customer_message_context
from correspondence.quoting import trim_quoted
from correspondence.rendering import render_mail
from domain import effects
from domain.data_requests import REDACTED, redact_state
from domain.lifecycle import apply_decision, is_repeat, new_state
from domain.models import (
    SYSTEM_ACTOR,
    AttachmentRef,
    ComplaintStart,
    ComplaintState,
    CustomerMessage,
    Direction,
    Reopen,
)
from domain.sla import SlaPolicy
from domain.steps import Audience
from domain.transitions import RefusalCode, check
from domain.vocabulary import Channel, Language, Stage
from tests.journey import CS, TECH, intake

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
POLICY = SlaPolicy()

# (a message as a mail client sends it, what the page shows first)
QUOTED: list[tuple[str, str]] = [
    ("Mạng vẫn chậm.\n\n> Sự cố đã được khắc phục.\n> Trân trọng", "Mạng vẫn chậm."),
    ("Still slow.\n\nOn Mon, 1 Dec 2026 at 09:00, CSKH <cskh@example.vn> wrote:\n> Fixed.", "Still slow."),
    # the attribution wrapped over two lines, as Gmail does with a long name
    (
        "Still slow.\n\nOn Mon, 1 Dec 2026 at 09:00, Bộ phận Dịch vụ khách hàng\n<cskh@example.vn> wrote:\n> x",
        "Still slow.",
    ),
    ("Vẫn lỗi ạ.\n\nVào 10:00 Th 2, 1 thg 12, 2026 CSKH <cskh@example.vn> đã viết:\n> Đã xử lý", "Vẫn lỗi ạ."),
    ("Cảm ơn.\n-- \nNguyễn Văn An\n0901 234 567", "Cảm ơn."),
    ("Cảm ơn.\n--\nNguyễn Văn An", "Cảm ơn."),
    (
        "Tôi chưa nhận được hoàn tiền.\n\n________________________________\nFrom: CSKH <cskh@example.vn>\n"
        "Sent: Monday, December 1, 2026 9:00 AM\nTo: An <an@example.vn>\nSubject: [KN-ABC234] Trả lời",
        "Tôi chưa nhận được hoàn tiền.",
    ),
    (
        "Vẫn chưa được.\n\nGửi: CSKH <cskh@example.vn>\nĐã gửi: Thứ Hai, 1 tháng 12, 2026 9:00\n"
        "Đến: An\nChủ đề: Trả lời",
        "Vẫn chưa được.",
    ),
    ("Ok.\n\n-----Original Message-----\nFrom: x\nSent: y", "Ok."),
    ("Ok ạ.\n\nSent from my iPhone", "Ok ạ."),
]


@pytest.mark.parametrize(("text", "shown"), QUOTED)
def test_quoted_history_and_signatures_are_trimmed(text: str, shown: str) -> None:
    trimmed = trim_quoted(text)
    assert (trimmed.shown, trimmed.trimmed) == (shown, True)


@pytest.mark.parametrize(
    "text",
    [
        "Mạng chậm từ hôm qua.\nTôi đã khởi động lại modem.",
        # a line that mentions "From:" inside a sentence is no Outlook header
        "From: what I see, the bill is wrong.\nPlease check.",
        # "--" inside a line, and ">" not at the start of one
        "Giá 100k -- quá đắt, 5 > 3",
        # what only looks like a quote: nothing of the customer's own before it is left whole
        "> Sự cố đã được khắc phục.\n> Trân trọng",
    ],
)
def test_a_message_without_quotation_is_shown_whole(text: str) -> None:
    assert trim_quoted(text) == type(trim_quoted(text))(text.strip(), False)


def state_at(stage: Stage) -> ComplaintState:
    start = ComplaintStart(complaint_id="KN-ABC234", intake=intake(), received_at=T0, policy=POLICY)
    state = new_state(start)
    closed = {"closed_at": T0, "reopen_until": T0 + POLICY.reopen_window} if stage is Stage.CLOSED else {}
    return state.model_copy(update={"stage": stage, "department": "TECH"} | closed)


def message(text: str = "Vẫn lỗi", **fields: object) -> CustomerMessage:
    return CustomerMessage.model_validate({"actor": SYSTEM_ACTOR.model_dump(), "text": text, "via": "email"} | fields)


def test_a_message_while_open_raises_no_flag_and_keeps_the_stage() -> None:
    before = state_at(Stage.IN_PROGRESS)
    after = apply_decision(before, "customer_message", message(reopen_requested=True), T0, POLICY)
    assert after.stage is Stage.IN_PROGRESS
    assert (after.wrote_after_closing, after.reopen_requested) == (False, False)
    [added] = after.messages
    assert (added.direction, added.via, added.seq, added.noted_by) == (Direction.IN, Channel.EMAIL, after.version, None)
    assert after.last_customer_message_at == T0


def test_after_closing_the_flag_is_raised_and_cs_acting_lowers_it() -> None:
    closed = state_at(Stage.CLOSED)
    wrote = apply_decision(closed, "customer_message", message(reopen_requested=True), T0, POLICY)
    assert (wrote.stage, wrote.wrote_after_closing, wrote.reopen_requested) == (Stage.CLOSED, True, True)
    # another mail without the request keeps it asked for
    again = apply_decision(wrote, "customer_message", message("Còn nữa"), T0, POLICY)
    assert (again.wrote_after_closing, again.reopen_requested) == (True, True)
    # CS confirms with reopen ...
    reopened = apply_decision(again, "reopen", Reopen(actor=CS, reason="Khách yêu cầu"), T0, POLICY)
    assert (reopened.stage, reopened.wrote_after_closing, reopened.reopen_requested) == (Stage.ESCALATED, False, False)
    # ... or calls the customer back and notes it
    called = apply_decision(
        wrote, "customer_message", CustomerMessage(actor=CS, text="Khách đồng ý", via=Channel.PHONE), T0, POLICY
    )
    assert (called.wrote_after_closing, called.reopen_requested) == (False, False)
    assert called.messages[-1].noted_by == CS.user


def test_the_same_message_id_is_a_repeat() -> None:
    state = apply_decision(state_at(Stage.RECEIVED), "customer_message", message(message_id="<a@x>"), T0, POLICY)
    assert is_repeat(message(message_id="<a@x>"), state)
    assert not is_repeat(message(message_id="<b@x>"), state)
    assert not is_repeat(message(), state)  # no id: nothing to recognise it by


def test_mails_to_the_customer_become_outgoing_messages() -> None:
    state = state_at(Stage.REPLIED).model_copy(update={"reply_message": "Đã khắc phục."})
    steps = (effects.step(effects.Activity.REPLY, "reply"), effects.step(effects.Activity.RECORD, "warning"))
    out = effects.with_customer_mails(state, steps, T0)
    [reply] = out.messages
    assert (reply.direction, reply.purpose, reply.text, reply.seq) == (Direction.OUT, "reply", "Đã khắc phục.", 1)
    no_address = state.model_copy(update={"customer": state.customer.model_copy(update={"email": None})})
    assert effects.with_customer_mails(no_address, steps, T0).messages == []


def test_the_handler_is_told_unless_they_noted_it_themselves() -> None:
    state = state_at(Stage.IN_PROGRESS).model_copy(update={"assignee": CS.user})
    told = effects.decision_effects("customer_message", message(), state)
    assert [(m.purpose, m.audience) for s in told.steps for m in s.mails] == [("customer_message", Audience.HANDLER)]
    own = CustomerMessage(actor=CS, text="Khách gọi", via=Channel.PHONE)
    assert [m for s in effects.decision_effects("customer_message", own, state).steps for m in s.mails] == []


@pytest.mark.parametrize("language", list(Language))
def test_the_notification_quotes_the_customer_without_the_history(language: Language) -> None:
    closed = state_at(Stage.CLOSED)
    text = "Tôi muốn mở lại.\n\n> Khiếu nại của Quý khách đã kết thúc."
    state = apply_decision(closed, "customer_message", message(text, reopen_requested=True), T0, POLICY)
    context = {
        "complaint_id": state.complaint_id,
        "customer_name": state.customer.name,
        "received_at": state.received_at,
        "deadline": state.deadline,
        "recipient_name": "Minh",
    } | customer_message_context(state, state.version)
    mail = render_mail("customer_message", language, context)
    assert "Tôi muốn mở lại." in mail.text and "Khiếu nại của Quý khách đã kết thúc" not in mail.text
    assert ("mở lại" if language is Language.VI else "reopen") in mail.subject
    assert "Tôi muốn mở lại." in mail.html


def test_anonymising_removes_the_conversation() -> None:
    attachment = AttachmentRef(sha256="cd" * 32, name="anh.png", content_type="image/png", size=10)
    state = apply_decision(
        state_at(Stage.CLOSED),
        "customer_message",
        message("Số tài khoản của tôi là 0123", message_id="<x@y>", attachments=[attachment.model_dump()]),
        T0 + timedelta(days=1),
        POLICY,
    )
    redacted = redact_state(state.model_dump(mode="json", exclude={"log"}))
    [m] = redacted["messages"]
    assert (m["text"], m["message_id"], m["attachments"]) == (REDACTED, None, [])
    assert ComplaintState.model_validate({**redacted, "log": []}).messages[0].text == REDACTED


def test_department_staff_do_not_note_customer_messages() -> None:
    """CS speaks with the customer; a department's staff write an internal note instead."""
    payload = CustomerMessage(actor=TECH, text="x", via=Channel.PHONE)
    refusal = check("customer_message", payload, state_at(Stage.IN_PROGRESS), T0)
    assert refusal is not None and refusal.code is RefusalCode.WRONG_ROLE
