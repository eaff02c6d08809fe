"""Mail rendering, the written letter, and real SMTP delivery to a real catcher on loopback."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from activities.mail_send import MailRejected, MailUnavailable, build_message, send_message
from config.settings import Settings
from correspondence.rendering import (
    CUSTOMER_PURPOSES,
    INTERNAL_PURPOSES,
    MAIL_PURPOSES,
    render_letter,
    render_mail,
    render_sender_mail,
)
from domain.vocabulary import Language
from localstack.mailcatcher import MailCatcher
from localstack.ports import free_port

CASE = "KN-7F3K9Q"
SCRIPT = "<script>alert(1)</script>"
ATTRIBUTE_BREAK = '"><img src=x onerror=alert(1)>'
HOSTILE = f"{SCRIPT} {ATTRIBUTE_BREAK}"
STATUS_URL = f"https://cskh.luarong.vn/public/complaints/{CASE}/tok3n-Abc_123"


def context(**overrides: object) -> dict[str, object]:
    values: dict[str, object] = {
        "complaint_id": CASE,
        "customer_name": "Nguyễn Thị Hồng Nhung",
        "subject": "Mạng chập chờn từ thứ Hai",
        "body": "Từ thứ Hai mạng văn phòng chúng tôi chập chờn.\nĐã gọi kỹ thuật hai lần.",
        "received_at": datetime(2025, 11, 27, 1, 30, tzinfo=UTC),  # 08:30 in Vietnam
        "deadline": datetime(2025, 12, 17, 1, 30, tzinfo=UTC),
        "channel": "email",
        "department": "TECH",
        "message": "Chúng tôi đã thay bộ định tuyến.\n\nĐường truyền đã ổn định trở lại.",
        "root_cause": "Bộ định tuyến tại văn phòng khách hàng bị lỗi phần cứng.",
        "lessons_learned": "NỘI BỘ: kiểm tra thiết bị định kỳ mỗi quý",
        "reason": "Khách hàng chưa hài lòng với thời gian khắc phục.",
        "escalation_level": 1,
        "recipient_name": "Trần Văn Bình",
        "hotline": "0938 361 595",
        "company_name": "Công ty TNHH Công nghệ Lửa Rồng",
        "company_address": "68 Bạch Đằng, Phường 2, Quận Tân Bình, Tp.HCM",
        "staff_url": f"http://127.0.0.1:8000/complaints/{CASE}",
        # a customer message (the mail that tells staff about it)
        "customer_text": "Mạng vẫn chập chờn vào buổi tối.",
        "via": "email",
        # the status link asked for again (the lookup page's mail)
        "status_url": STATUS_URL,
    }
    values.update(overrides)
    return values


def smtp_settings(port: int, **overrides: Any) -> Settings:
    return Settings(smtp_host="127.0.0.1", smtp_port=port, smtp_timeout=5.0, **overrides)


def sample_message(message_id: str = f"<{CASE}.ack.1@luarong.vn>", to: str = "nhung@example.vn") -> EmailMessage:
    mail = render_mail("acknowledgement", Language.VI, context())
    return build_message(
        sender="Lửa Rồng CSKH <cskh@luarong.vn>",
        to=[f"Nguyễn Thị Hồng Nhung <{to}>"],
        subject=mail.subject,
        text=mail.text,
        html=mail.html,
        message_id=message_id,
    )


@pytest.fixture
def catcher() -> Iterator[MailCatcher]:
    with MailCatcher() as running:
        yield running


# --- rendering -----------------------------------------------------------------------------


def test_purposes_are_the_agreed_set() -> None:
    assert MAIL_PURPOSES == {
        "acknowledgement",
        "reply",
        "closing",
        "warning",
        "breach",
        "first_response_breach",
        "escalated",
        "reopened",
        "rejected",
        "resolved_on_spot",
        "assigned",
        "customer_message",
        "status_link",
    }
    assert CUSTOMER_PURPOSES | INTERNAL_PURPOSES == MAIL_PURPOSES
    assert not CUSTOMER_PURPOSES & INTERNAL_PURPOSES


@pytest.mark.parametrize("language", list(Language))
@pytest.mark.parametrize("purpose", sorted(MAIL_PURPOSES))
def test_every_purpose_renders_with_the_case_id(purpose: str, language: Language) -> None:
    mail = render_mail(purpose, language, context())
    assert CASE in mail.subject
    assert CASE in mail.text
    assert CASE in mail.html
    assert "\n" not in mail.subject and mail.subject == mail.subject.strip()
    assert mail.html.startswith("<!DOCTYPE html>")
    assert f'<html lang="{language.value}">' in mail.html
    assert mail.text.endswith("\n") and "\n\n\n" not in mail.text


@pytest.mark.parametrize("purpose", sorted(MAIL_PURPOSES))
def test_languages_differ(purpose: str) -> None:
    vi = render_mail(purpose, Language.VI, context())
    en = render_mail(purpose, Language.EN, context())
    assert vi.subject != en.subject
    if purpose in CUSTOMER_PURPOSES:
        assert vi.text.startswith("Kính gửi Quý khách Nguyễn Thị Hồng Nhung,")
        assert en.text.startswith("Dear Nguyễn Thị Hồng Nhung,")
    else:
        assert vi.text.startswith("Kính gửi Trần Văn Bình,")
        assert "Không chuyển tiếp thư này cho khách hàng" in vi.text


@pytest.mark.parametrize("language", list(Language))
@pytest.mark.parametrize("purpose", sorted(CUSTOMER_PURPOSES))
def test_customers_never_see_the_lessons_learned(purpose: str, language: Language) -> None:
    mail = render_mail(purpose, language, context())
    assert "kiểm tra thiết bị định kỳ" not in mail.text + mail.html


def test_acknowledgement_is_the_receipt() -> None:
    mail = render_mail("acknowledgement", Language.VI, context())
    assert mail.subject == f"[{CASE}] Xác nhận tiếp nhận khiếu nại"
    for text in (mail.text, mail.html):
        assert "Kính gửi Quý khách" in text
        assert "27/11/2025 08:30" in text  # received, in Vietnam time
        assert "17/12/2025 08:30" in text  # the resolution bound
        assert "Kênh tiếp nhận" in text and "Email" in text  # the channel
        assert "Mạng chập chờn từ thứ Hai" in text
    english = render_mail("acknowledgement", Language.EN, context(channel="post"))
    assert "Letter by post" in english.text and "17/12/2025 08:30" in english.text


def test_dates_are_shown_in_vietnam_time() -> None:
    late_evening_utc = datetime(2025, 12, 31, 17, 5, tzinfo=UTC)
    mail = render_mail("acknowledgement", Language.VI, context(received_at=late_evening_utc))
    assert "01/01/2026 00:05" in mail.text


def test_reply_keeps_the_paragraphs() -> None:
    mail = render_mail("reply", Language.VI, context())
    assert "Chúng tôi đã thay bộ định tuyến.\n\nĐường truyền đã ổn định trở lại." in mail.text
    assert "<p>Chúng tôi đã thay bộ định tuyến.</p>" in mail.html
    assert "<p>Đường truyền đã ổn định trở lại.</p>" in mail.html


def test_closing_tells_how_to_reopen() -> None:
    until = datetime(2026, 1, 16, 2, 0, tzinfo=UTC)
    mail = render_mail("closing", Language.VI, context(reopen_until=until))
    assert "mở lại khiếu nại" in mail.text
    assert "hotline 0938 361 595" in mail.text
    assert "16/01/2026 09:00" in mail.text
    assert "Bộ định tuyến tại văn phòng khách hàng bị lỗi phần cứng." in mail.text  # root cause is fine
    english = render_mail("closing", Language.EN, context(reopen_window_days=30))
    assert "reopened" in english.text and "within 30 days" in english.text


@pytest.mark.parametrize("purpose", ["acknowledgement", "closing"])
@pytest.mark.parametrize("language", list(Language))
def test_receipt_and_closing_link_the_status_page(purpose: str, language: Language) -> None:
    """With a status-page link (issue 14) the receipt and the closing carry it, in text and HTML;
    the closing's asks for the rating. Without one (no token issued) they say nothing of it."""
    link = f"https://cskh.luarong.vn/public/complaints/{CASE}/tok3n-Abc_123"
    mail = render_mail(purpose, language, context(status_url=link))
    expected = link + ("#rate" if purpose == "closing" else "")
    assert expected in mail.text and f'href="{expected}"' in mail.html
    plain = render_mail(purpose, language, context(status_url=None))
    assert "/public/complaints/" not in plain.text + plain.html


@pytest.mark.parametrize("language", list(Language))
def test_the_status_link_mail_carries_its_link_and_needs_one(language: Language) -> None:
    mail = render_mail("status_link", language, context())
    assert STATUS_URL in mail.text and f'href="{STATUS_URL}"' in mail.html
    with pytest.raises(ValueError, match="status_url"):
        render_mail("status_link", language, context(status_url=None))


@pytest.mark.parametrize("language", list(Language))
def test_the_closing_mail_links_each_score_to_the_status_page(language: Language) -> None:
    """Five links, 1 to 5, each opening the status page with that score chosen (one click to
    confirm there: a GET never rates, since mail scanners open links)."""
    link = f"https://cskh.luarong.vn/public/complaints/{CASE}/tok3n-Abc_123"
    mail = render_mail("closing", language, context(status_url=link))
    scores = re.findall(rf'href="{re.escape(link)}\?score=(\d)#rate"', mail.html)
    assert scores == ["1", "2", "3", "4", "5"]


def test_internal_mails_address_staff_and_link_the_case() -> None:
    breach = render_mail("breach", Language.VI, context(escalation_level=2))
    assert breach.text.startswith("Kính gửi Trần Văn Bình,")
    assert "QUÁ HẠN" in breach.subject and "2" in breach.subject
    assert "Kỹ thuật (TECH)" in breach.text
    assert f'href="http://127.0.0.1:8000/complaints/{CASE}"' in breach.html
    warning = render_mail("warning", Language.VI, context(staff_url="javascript:alert(1)"))
    assert "javascript:" not in warning.html and "javascript:" not in warning.text


def test_missing_required_values_are_reported() -> None:
    with pytest.raises(ValueError, match="message"):
        render_mail("reply", Language.VI, context(message=None))
    with pytest.raises(ValueError, match="unknown mail purpose"):
        render_mail("birthday", Language.VI, context())


@pytest.mark.parametrize("language", list(Language))
@pytest.mark.parametrize("purpose", sorted(MAIL_PURPOSES))
def test_customer_text_is_escaped_in_html(purpose: str, language: Language) -> None:
    hostile = context(
        customer_name=f"Khách {HOSTILE}",
        subject=f"Tiêu đề {HOSTILE}",
        body=f"Nội dung {HOSTILE}",
        message=f"Trả lời {HOSTILE}",
        reason=f"Lý do {HOSTILE}",
        root_cause=f"Nguyên nhân {HOSTILE}",
        recipient_name=f"Nhân viên {HOSTILE}",
        customer_text=f"Tin nhắn {HOSTILE}",
    )
    mail = render_mail(purpose, language, hostile)
    assert "<script" not in mail.html
    assert "<img" not in mail.html
    assert SCRIPT not in mail.html and ATTRIBUTE_BREAK not in mail.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in mail.html
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in mail.html
    assert "\n" not in mail.subject


# --- the written letter ------------------------------------------------------------------


def letter_context(**overrides: object) -> dict[str, object]:
    values: dict[str, object] = {
        "customer_address": "12 Lê Lợi, Phường Bến Nghé, Quận 1, Tp.HCM",
        "signer_name": "Phạm Minh Quân",
        "signer_title": "Trưởng phòng Kỹ thuật",
        "signed_at": datetime(2025, 12, 1, 3, 0, tzinfo=UTC),
    }
    values.update(overrides)
    return context(**values)


def test_a_mail_to_a_sender_whose_message_was_not_taken_in_says_why_in_both_languages() -> None:
    mail = render_sender_mail(
        "too_large", {"size_mb": "26.3", "limit_mb": "25", "hotline": "1900 1234", "company_name": "A & <B>"}
    )
    assert mail.subject == "Thư của Quý khách quá lớn / Your message is too large"
    assert mail.text.startswith("Kính gửi Quý khách,") and mail.subject not in mail.text
    for words in ("(26.3 MB) vượt quá giới hạn 25 MB", "(26.3 MB) is over our 25 MB limit", "1900 1234", "A & <B>"):
        assert words in mail.text
    assert "A &amp; &lt;B&gt;" in mail.html and "<B>" not in mail.html
    with pytest.raises(ValueError, match="unknown sender mail"):
        render_sender_mail("acknowledgement", {})


def test_letter_holds_company_case_signer_and_date() -> None:
    letter = render_letter(letter_context(), Language.VI)
    assert letter.startswith("<!DOCTYPE html>")
    assert "@page" in letter and "A4" in letter
    assert "Công ty TNHH Công nghệ Lửa Rồng" in letter
    assert "68 Bạch Đằng, Phường 2, Quận Tân Bình, Tp.HCM" in letter
    assert "0938 361 595" in letter
    assert f"Số: {CASE}" in letter
    assert "Tp.HCM, ngày 01 tháng 12 năm 2025" in letter
    assert "THÔNG BÁO KẾT QUẢ GIẢI QUYẾT KHIẾU NẠI" in letter
    assert "Nguyễn Thị Hồng Nhung" in letter and "12 Lê Lợi, Phường Bến Nghé" in letter
    assert "Phạm Minh Quân" in letter and "Trưởng phòng Kỹ thuật" in letter
    assert "<p>Chúng tôi đã thay bộ định tuyến.</p>" in letter
    assert "<p>Đường truyền đã ổn định trở lại.</p>" in letter
    assert "DỰ THẢO" not in letter
    # Self-contained and inert: nothing fetched, nothing run.
    for forbidden in ("<script", "<link", "<img", "src=", "@import", "url("):
        assert forbidden not in letter


def test_letter_in_english_and_as_a_draft() -> None:
    letter = render_letter(letter_context(signed_at=None), Language.EN)
    assert "NOTICE OF THE RESULT OF YOUR COMPLAINT" in letter
    assert f"Ref.: {CASE}" in letter
    assert "DRAFT" in letter
    signed = render_letter(letter_context(), Language.EN)
    assert "Ho Chi Minh City, 1 December 2025" in signed and "DRAFT" not in signed


def test_letter_escapes_customer_text() -> None:
    letter = render_letter(
        letter_context(
            customer_name=f"Khách {HOSTILE}",
            customer_address=f"Địa chỉ {HOSTILE}",
            message=f"Trả lời {HOSTILE}",
            signer_name=f"Ký {HOSTILE}",
        ),
        Language.VI,
    )
    assert "<script" not in letter and "<img" not in letter and ATTRIBUTE_BREAK not in letter
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in letter
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in letter


# --- building and sending ------------------------------------------------------------------


def test_build_message_is_multipart_alternative_utf8() -> None:
    message = sample_message()
    assert message.get_content_type() == "multipart/alternative"
    assert message["Message-ID"] == f"<{CASE}.ack.1@luarong.vn>"
    assert message["Date"]
    assert [part.get_content_type() for part in message.iter_parts()] == ["text/plain", "text/html"]
    assert all(part.get_content_charset() == "utf-8" for part in message.iter_parts())
    raw = message.as_bytes()
    assert raw.isascii()  # safe through any SMTP server, encoded words and quoted-printable
    with pytest.raises(ValueError, match="line breaks"):
        build_message(
            sender="a@b.vn",
            to=["c@d.vn"],
            subject="s",
            text="t",
            html="h",
            message_id="<x@y>",
            headers={"X-Bad": "a\r\nBcc: victim@example.com"},
        )
    with pytest.raises(ValueError, match="recipient"):
        build_message(sender="a@b.vn", to=[], subject="s", text="t", html="h", message_id="<x@y>")


@pytest.mark.asyncio
async def test_send_arrives_intact(catcher: MailCatcher) -> None:
    message = sample_message()
    expected_subject = message["Subject"]
    await send_message(smtp_settings(catcher.port), message)

    [received] = catcher.messages()
    assert received["Message-ID"] == f"<{CASE}.ack.1@luarong.vn>"
    assert received["Subject"] == expected_subject == f"[{CASE}] Xác nhận tiếp nhận khiếu nại"
    assert received["From"].addresses[0].display_name == "Lửa Rồng CSKH"
    assert received["To"].addresses[0].addr_spec == "nhung@example.vn"
    assert received["X-RcptTo"] == "nhung@example.vn"
    text = received.get_body(("plain",))
    html = received.get_body(("html",))
    assert text is not None and html is not None
    assert "Kính gửi Quý khách Nguyễn Thị Hồng Nhung," in text.get_content()
    assert "Từ thứ Hai mạng văn phòng chúng tôi chập chờn." in text.get_content()
    assert "Kính gửi Quý khách <strong>Nguyễn Thị Hồng Nhung</strong>" in html.get_content()


@pytest.mark.asyncio
async def test_catcher_stores_files_and_a_new_catcher_reloads_them(tmp_path: Path) -> None:
    directory = tmp_path / "mail"
    async with MailCatcher(directory=directory) as first:
        await send_message(smtp_settings(first.port), sample_message(f"<{CASE}.ack.1@luarong.vn>"))
        await send_message(smtp_settings(first.port), sample_message(f"<{CASE}.reply.1@luarong.vn>"))
        assert [m["Message-ID"] for m in first.messages()] == [
            f"<{CASE}.ack.1@luarong.vn>",
            f"<{CASE}.reply.1@luarong.vn>",
        ]
    files = sorted(directory.glob("*.eml"))
    assert len(files) == 2
    assert files[0].name.endswith(f"_{CASE}.ack.1@luarong.vn.eml")
    assert files[0].name[:8].isdigit()  # UTC timestamp first, so names sort by arrival

    second = MailCatcher(directory=directory)  # not even started: the directory is the record
    assert [m["Message-ID"] for m in second.messages()] == [
        f"<{CASE}.ack.1@luarong.vn>",
        f"<{CASE}.reply.1@luarong.vn>",
    ]
    body = second.messages()[0].get_body(("plain",))
    assert body is not None and "Kính gửi Quý khách" in body.get_content()
    second.clear()
    assert second.messages() == [] and not list(directory.glob("*.eml"))


@pytest.mark.asyncio
async def test_catcher_without_directory_and_clear(catcher: MailCatcher) -> None:
    await send_message(smtp_settings(catcher.port), sample_message())
    assert len(await catcher.wait_for(1)) == 1
    catcher.clear()
    assert catcher.messages() == []


@pytest.mark.asyncio
async def test_send_to_a_closed_port_is_unavailable() -> None:
    with pytest.raises(MailUnavailable) as raised:
        await send_message(smtp_settings(free_port()), sample_message())
    assert raised.type is MailUnavailable


@pytest.mark.asyncio
async def test_send_with_credentials_to_the_catcher(catcher: MailCatcher) -> None:
    settings = smtp_settings(catcher.port, smtp_username="worker", smtp_password="secret")
    await send_message(settings, sample_message())
    assert len(catcher.messages()) == 1


class _Picky:
    """A server that defers (4xx) or refuses (5xx) some recipients."""

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if address.startswith("busy@"):
            return "450 4.2.1 Mailbox busy, try later"
        if address.startswith("nobody@"):
            return "550 5.1.1 No such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        return "250 OK"


@pytest.fixture
def picky_port() -> Iterator[int]:
    port = free_port()
    controller = Controller(_Picky(), hostname="127.0.0.1", port=port, server_hostname="picky.localhost")
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


@pytest.mark.asyncio
async def test_refused_recipient_is_rejected(picky_port: int) -> None:
    with pytest.raises(MailRejected) as raised:
        await send_message(smtp_settings(picky_port), sample_message(to="nobody@example.vn"))
    assert raised.value.code == 550


@pytest.mark.asyncio
async def test_deferred_recipient_is_unavailable(picky_port: int) -> None:
    with pytest.raises(MailUnavailable) as raised:
        await send_message(smtp_settings(picky_port), sample_message(to="busy@example.vn"))
    assert raised.value.code == 450
