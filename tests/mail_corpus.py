"""A mailbox's worth of realistic inbound mail, for the intake tests and the benchmark.

``corpus(existing_ids, mail_domain)`` gives issue 14's mix, deterministic (seeded), as raw
RFC 5322 bytes with CRLF line endings, in a shuffled order:
- 80 new complaints: Vietnamese subjects as raw UTF-8 (RFC 6532), RFC 2047 Q and B in UTF-8
  and in windows-1258; bodies as text (quoted-printable, base64, 8bit, windows-1258),
  HTML only, multipart/alternative, with attachments; two without a Message-ID;
- 10 replies to ``existing_ids``: five by In-Reply-To/References naming our Message-IDs, five
  by ``[KN-XXXXXX]`` in the subject;
- 5 auto-replies (Auto-Submitted, Precedence bulk/junk/list, List-Id, X-Autoreply);
- 3 bounces (DSNs) about our own Message-IDs (the acknowledgements of ``existing_ids``);
- 2 duplicates: two of the new complaints delivered twice, byte for byte.
``EXPECTED`` says what a correct intake makes of it. ``new_complaints(n, mail_domain)`` gives
n distinct new complaints alone, for the benchmark.
"""

import base64
import quopri
import random
import struct
import unicodedata
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

SEED = 14
CRLF = b"\r\n"
VN = timezone(timedelta(hours=7))
DEFAULT_NOW = datetime(2026, 11, 30, 9, 0, tzinfo=VN)


@dataclass(frozen=True)
class Expected:
    messages: int = 100
    new_complaint_messages: int = 82  # 80 complaints, two of them delivered twice
    new_complaints: int = 80  # distinct intake keys among them
    replies: int = 10
    replies_by_header: int = 5
    replies_by_subject: int = 5
    auto_replies: int = 5
    bounces: int = 3
    duplicates: int = 2
    without_message_id: int = 2
    unreadable: int = 0


EXPECTED = Expected()


def our_message_id(complaint_id: str, mail_domain: str, seq: int = 1, purpose: str = "acknowledgement") -> str:
    """Our outgoing Message-ID, as activities queue it (the acknowledgement is the first step)."""
    return f"<{complaint_id}.{seq}.{purpose}@{mail_domain}>"


# --- encodings --------------------------------------------------------------------------


def to_cp1258(text: str) -> bytes:
    """Vietnamese as Windows writes it in windows-1258: base letters it has, tone marks combining."""
    out = bytearray()
    for char in unicodedata.normalize("NFC", text):
        try:
            out += char.encode("cp1258")
            continue
        except UnicodeEncodeError:
            pass
        decomposed = unicodedata.normalize("NFD", char)
        base, marks = decomposed[0], list(decomposed[1:])
        for mark in marks:
            composed = unicodedata.normalize("NFC", base + mark)
            if len(composed) == 1:
                try:
                    composed.encode("cp1258")
                except UnicodeEncodeError:
                    continue
                base = composed
                marks.remove(mark)
        out += (base + "".join(marks)).encode("cp1258")
    return bytes(out)


def _encode(text: str, charset: str) -> bytes:
    return to_cp1258(text) if charset == "windows-1258" else text.encode(charset)


def q_word(text: str, charset: str = "utf-8") -> bytes:
    """RFC 2047 Q encoding, split into encoded words of at most 75 characters on character bounds."""
    words: list[bytes] = []
    current = b""
    for char in text:
        encoded = b"".join(
            bytes([b]) if (chr(b).isalnum() and b < 128) else (b"_" if b == 0x20 else b"=%02X" % b)
            for b in _encode(char, charset)
        )
        if len(current) + len(encoded) > 75 - len(charset) - 7:
            words.append(current)
            current = b""
        current += encoded
    words.append(current)
    return b"\r\n ".join(b"=?%s?Q?%s?=" % (charset.encode(), w) for w in words)


def b_word(text: str, charset: str = "utf-8") -> bytes:
    chunks: list[bytes] = []
    current = b""
    for char in text:
        encoded = _encode(char, charset)
        if len(current) + len(encoded) > 36:  # 36 bytes -> 48 base64 characters per word
            chunks.append(current)
            current = b""
        current += encoded
    chunks.append(current)
    return b"\r\n ".join(b"=?%s?B?%s?=" % (charset.encode(), base64.b64encode(c)) for c in chunks)


def _header_value(text: str, how: str) -> bytes:
    if how == "raw":
        return text.encode("utf-8")  # RFC 6532: UTF-8 straight in the header
    if how == "q":
        return q_word(text)
    if how == "b":
        return b_word(text)
    if how == "q1258":
        return q_word(text, "windows-1258")
    if how == "b1258":
        return b_word(text, "windows-1258")
    raise ValueError(how)


def _address(name: str, address: str, how: str) -> bytes:
    if name.isascii():
        return f'"{name}" <{address}>'.encode()
    return _header_value(name, "b" if how == "raw" else how) + f" <{address}>".encode()


def _lines(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n").replace(b"\n", CRLF)


def _base64(data: bytes) -> bytes:
    return _lines(base64.encodebytes(data))


def _qp(data: bytes) -> bytes:
    return _lines(quopri.encodestring(data))


def _message(headers: Sequence[tuple[str, bytes]], body: bytes) -> bytes:
    head = b"".join(name.encode() + b": " + value + CRLF for name, value in headers)
    return head + CRLF + body


def _part(content_type: str, body: bytes, encoding: str = "7bit", extra: Sequence[tuple[str, bytes]] = ()) -> bytes:
    headers = [("Content-Type", content_type.encode()), ("Content-Transfer-Encoding", encoding.encode()), *extra]
    return b"".join(name.encode() + b": " + value + CRLF for name, value in headers) + CRLF + body


def _multipart(subtype: str, boundary: str, parts: Sequence[bytes], params: str = "") -> tuple[bytes, bytes]:
    content_type = f'multipart/{subtype}; boundary="{boundary}"{params}'.encode()
    body = b"This is a multi-part message in MIME format." + CRLF
    for part in parts:
        body += b"--" + boundary.encode() + CRLF + part + CRLF
    return content_type, body + b"--" + boundary.encode() + b"--" + CRLF


# --- attachments that are what they say -------------------------------------------------


def png(width: int, height: int, seed: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rng = random.Random(seed)
    rows = b"".join(b"\x00" + bytes(rng.randrange(256) for _ in range(width * 3)) for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def pdf(text: str) -> bytes:
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode("latin-1", "replace")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
    ]
    out = b"%PDF-1.4\n"
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    return out + b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)


# --- the people and what they write -----------------------------------------------------

FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ", "Hồ", "Ngô"]
MIDDLE = ["Văn", "Thị", "Hữu", "Minh", "Thanh", "Ngọc", "Quốc", "Thuỳ", "Đức", "Bảo"]
GIVEN = ["An", "Bình", "Cường", "Dũng", "Giang", "Hà", "Hải", "Hương", "Khánh", "Linh", "Mai", "Nam", "Phúc", "Quân"]
DOMAINS = ["gmail.com", "yahoo.com.vn", "outlook.com", "fpt.vn", "vnpt.vn", "hotmail.com", "viettel.vn"]
SUBJECTS = [
    "Khiếu nại về hoá đơn tiền điện tháng {m}",
    "Phản ánh thái độ nhân viên tại chi nhánh {b}",
    "Đề nghị hoàn tiền đơn hàng số {n}",
    "Sản phẩm bị lỗi sau {d} ngày sử dụng",
    "Giao hàng chậm quá hẹn, mã vận đơn {n}",
    "Bị trừ tiền hai lần khi thanh toán",
    "Yêu cầu đổi trả hàng không được giải quyết",
    "Tổng đài không nghe máy suốt {d} ngày",
    "Khiếu nại chất lượng dịch vụ lắp đặt",
    "Nhân viên hẹn đến sửa nhưng không đến",
    "Phí dịch vụ tăng mà không thông báo trước",
    "Thẻ thành viên bị khoá không rõ lý do",
]
OPENINGS = [
    "Kính gửi Phòng Chăm sóc Khách hàng,",
    "Chào anh/chị,",
    "Kính gửi quý công ty,",
    "Xin chào bộ phận CSKH,",
]
COMPLAINTS = [
    "Tôi đã mua sản phẩm tại chi nhánh {b} ngày {d}/{m} nhưng đến nay vẫn chưa được giao đủ hàng.",
    "Hoá đơn tháng {m} của tôi cao gấp đôi mọi tháng dù mức sử dụng không thay đổi.",
    "Nhân viên tiếp nhận đã trả lời thiếu lịch sự và từ chối ghi nhận phản ánh của tôi.",
    "Tài khoản của tôi bị trừ {n} đồng hai lần cho cùng một giao dịch.",
    "Sau khi sửa chữa, thiết bị vẫn hỏng y như cũ, tôi đã gọi tổng đài ba lần không được.",
    "Đơn hàng số {n} đã quá hẹn giao {d} ngày mà không có ai liên lạc.",
]
CLOSINGS = ["Trân trọng,", "Mong sớm nhận được phản hồi.", "Cảm ơn quý công ty.", "Xin cảm ơn!"]
BRANCHES = ["Hà Nội", "Đà Nẵng", "Huế", "Cần Thơ", "Hải Phòng", "Nha Trang", "Quận 3"]

SUBJECT_ENCODINGS = ["raw", "q", "b", "q1258", "b1258"]
BODY_SHAPES = [
    "plain_qp",
    "plain_base64",
    "plain_8bit",
    "plain_1258",
    "html_only",
    "alternative",
    "mixed_attachment",
    "alternative_attachment",
]


@dataclass(frozen=True)
class _Person:
    name: str
    address: str


def _person(rng: random.Random, index: int) -> _Person:
    name = f"{rng.choice(FAMILY)} {rng.choice(MIDDLE)} {rng.choice(GIVEN)}"
    plain = unicodedata.normalize("NFD", name.lower().replace("đ", "d"))
    local = "".join(c for c in plain if c.isascii() and c.isalnum())
    return _Person(name, f"{local}{index}@{rng.choice(DOMAINS)}")


def _fill(rng: random.Random, template: str) -> str:
    return template.format(
        m=rng.randint(1, 12), b=rng.choice(BRANCHES), n=rng.randint(100000, 999999), d=rng.randint(2, 28)
    )


def _complaint_text(rng: random.Random, name: str) -> str:
    lines = [rng.choice(OPENINGS), "", _fill(rng, rng.choice(COMPLAINTS)), _fill(rng, rng.choice(COMPLAINTS))]
    lines += ["Đề nghị quý công ty kiểm tra và phản hồi sớm.", "", rng.choice(CLOSINGS), name]
    return "\n".join(lines)


def _html(text: str) -> str:
    paragraphs = "".join(f"<p>{line}</p>" for line in text.split("\n") if line)
    return f'<html><head><style>p {{ margin: 0 }}</style></head><body><div dir="ltr">{paragraphs}</div></body></html>'


def _text_part(text: str, shape: str) -> bytes:
    if shape == "plain_base64":
        return _part('text/plain; charset="utf-8"', _base64(text.encode()), "base64")
    if shape == "plain_8bit":
        return _part("text/plain; charset=utf-8; format=flowed", _lines(text.encode()) + CRLF, "8bit")
    if shape == "plain_1258":
        return _part("text/plain; charset=windows-1258", _qp(to_cp1258(text)), "quoted-printable")
    return _part('text/plain; charset="UTF-8"', _qp(text.encode()), "quoted-printable")


def _body(rng: random.Random, shape: str, text: str, index: int) -> tuple[bytes, bytes]:
    """(Content-Type plus transfer encoding header lines, body) of one shape."""
    html = _part("text/html; charset=utf-8", _qp(_html(text).encode()), "quoted-printable")
    if shape.startswith("plain"):
        part = _text_part(text, shape)
        head, _, body = part.partition(CRLF + CRLF)
        return head, body
    if shape == "html_only":
        head, _, body = html.partition(CRLF + CRLF)
        return head, body
    alternative_type, alternative = _multipart("alternative", f"alt-{index:04d}", [_text_part(text, "plain_qp"), html])
    if shape == "alternative":
        return b"Content-Type: " + alternative_type, alternative
    attachments = []
    if index % 2:
        data, name, ctype = png(4 + index % 5, 3, index), f"anh-chup-man-hinh-{index}.png", "image/png"
    else:
        data, name, ctype = pdf(f"Hoa don {index}"), f"Hoá đơn {index}.pdf", "application/pdf"
    disposition = (
        b"attachment; filename*=utf-8''"
        + "".join(
            c if c.isascii() and (c.isalnum() or c in "-.") else "".join(f"%{b:02X}" for b in c.encode()) for c in name
        ).encode()
    )
    attachments.append(_part(ctype, _base64(data), "base64", [("Content-Disposition", disposition)]))
    if shape == "mixed_attachment":
        first = _text_part(text, "plain_8bit")
    else:
        first = b"Content-Type: " + alternative_type + CRLF + CRLF + alternative
    mixed_type, mixed = _multipart("mixed", f"mixed-{index:04d}", [first, *attachments])
    return b"Content-Type: " + mixed_type, mixed


def _new_complaint(rng: random.Random, index: int, mail_domain: str, at: datetime, with_id: bool) -> bytes:
    person = _person(rng, index)
    subject = _fill(rng, rng.choice(SUBJECTS))
    how = SUBJECT_ENCODINGS[index % len(SUBJECT_ENCODINGS)]
    shape = BODY_SHAPES[(index // len(SUBJECT_ENCODINGS) + index) % len(BODY_SHAPES)]
    content_head, body = _body(rng, shape, _complaint_text(rng, person.name), index)
    headers: list[tuple[str, bytes]] = [
        ("From", _address(person.name, person.address, how)),
        ("To", f'"Lửa Rồng CSKH" <cskh@{mail_domain}>'.encode() if how == "raw" else f"cskh@{mail_domain}".encode()),
        ("Subject", _header_value(subject, how)),
        ("Date", format_datetime(at).encode()),
    ]
    if with_id:
        headers.append(("Message-ID", f"<{rng.getrandbits(64):016x}.{index}@{person.address.split('@')[1]}>".encode()))
    headers.append(("MIME-Version", b"1.0"))
    return _message(headers, b"").rstrip(CRLF) + CRLF + content_head + CRLF + CRLF + body


def _reply(rng: random.Random, index: int, complaint_id: str, mail_domain: str, at: datetime, by_header: bool) -> bytes:
    person = _person(rng, 500 + index)
    ack = our_message_id(complaint_id, mail_domain)
    quoted = [
        "Kính gửi Quý khách,",
        f"Chúng tôi đã tiếp nhận khiếu nại {complaint_id} và sẽ phản hồi trong thời hạn quy định.",
    ]
    new = f"Tôi bổ sung thêm thông tin: {_fill(rng, rng.choice(COMPLAINTS))}\nXin cảm ơn.\n"
    if index % 4 == 0:
        new += f"\n-- \n{person.name}\n"
    if index % 2:
        attribution = f"Vào Th 2, 30 thg 11, 2026 vào lúc 08:{index:02d} Lửa Rồng CSKH <cskh@{mail_domain}> đã viết:"
        text = new + "\n" + attribution + "\n" + "\n".join("> " + line for line in quoted) + "\n"
    else:
        outlook = [
            "________________________________",
            f"From: Lửa Rồng CSKH <cskh@{mail_domain}>",
            "Sent: Monday, November 30, 2026 8:00 AM",
            f"To: {person.address}",
            f"Subject: Xác nhận tiếp nhận khiếu nại {complaint_id}",
            "",
            *quoted,
        ]
        text = new + "\n" + "\n".join(outlook) + "\n"
    headers: list[tuple[str, bytes]] = [("From", _address(person.name, person.address, "b"))]
    headers.append(("To", f"cskh@{mail_domain}".encode()))
    if by_header:
        headers.append(("Subject", q_word("Re: Xác nhận tiếp nhận khiếu nại")))
        foreign = f"<{rng.getrandbits(48):012x}@mail.gmail.com>"
        if index % 3 == 0:  # References only: clients that drop In-Reply-To still thread
            headers.append(("References", f"{ack} {foreign}".encode()))
        else:
            headers.append(("In-Reply-To", ack.encode()))
            headers.append(("References", ack.encode()))
    else:
        subject = f"Re: [{complaint_id}] Xác nhận tiếp nhận khiếu nại"
        headers.append(("Subject", _header_value(subject, ["raw", "q", "b", "q1258", "b1258"][index % 5])))
    headers += [
        ("Date", format_datetime(at).encode()),
        ("Message-ID", f"<reply.{rng.getrandbits(64):016x}@{person.address.split('@')[1]}>".encode()),
        ("MIME-Version", b"1.0"),
        ("Content-Type", b"text/plain; charset=utf-8"),
        ("Content-Transfer-Encoding", b"quoted-printable"),
    ]
    return _message(headers, _qp(text.encode()))


def _auto_reply(rng: random.Random, index: int, complaint_id: str, mail_domain: str, at: datetime) -> bytes:
    person = _person(rng, 700 + index)
    variants: list[tuple[str, list[tuple[str, bytes]], str]] = [
        (
            "Trả lời tự động: Xác nhận tiếp nhận khiếu nại",
            [("Auto-Submitted", b"auto-replied"), ("In-Reply-To", our_message_id(complaint_id, mail_domain).encode())],
            "Tôi đang nghỉ phép đến hết ngày 05/12 và sẽ trả lời khi quay lại.",
        ),
        (
            "Ưu đãi tháng 12 dành cho bạn",
            [("Precedence", b"bulk"), ("List-Unsubscribe", b"<mailto:unsubscribe@news.example.vn>")],
            "Giảm giá 50% cho mọi đơn hàng trong tuần này.",
        ),
        (
            "[hoi-dong-khach-hang] Biên bản họp tháng 11",
            [("List-Id", b"Hoi dong khach hang <hdkh.lists.example.vn>"), ("Precedence", b"list")],
            "Kính gửi các thành viên, biên bản họp đính kèm.",
        ),
        (
            "Automatic reply: Khiếu nại của tôi",
            [("X-Autoreply", b"yes"), ("X-Autorespond", "Khiếu nại của tôi".encode())],
            "Cảm ơn bạn đã liên hệ. Chúng tôi sẽ trả lời trong 24 giờ.",
        ),
        (
            "Thông báo bảo trì hệ thống",
            [("Precedence", b"junk"), ("Auto-Submitted", b"auto-generated")],
            "Hệ thống sẽ bảo trì từ 22h đến 23h.",
        ),
    ]
    subject, extra, text = variants[index % len(variants)]
    headers: list[tuple[str, bytes]] = [
        ("From", _address(person.name, person.address, "q")),
        ("To", f"cskh@{mail_domain}".encode()),
        ("Subject", q_word(subject)),
        ("Date", format_datetime(at).encode()),
        ("Message-ID", f"<auto.{rng.getrandbits(64):016x}@{person.address.split('@')[1]}>".encode()),
        *extra,
        ("MIME-Version", b"1.0"),
        ("Content-Type", b"text/plain; charset=utf-8"),
        ("Content-Transfer-Encoding", b"base64"),
    ]
    return _message(headers, _base64(text.encode()))


def _original(complaint_id: str, mail_domain: str, recipient: str, at: datetime, headers_only: bool) -> bytes:
    headers = [
        ("From", f"=?utf-8?q?L=E1=BB=ADa_R=E1=BB=93ng_CSKH?= <cskh@{mail_domain}>".encode()),
        ("To", recipient.encode()),
        ("Subject", q_word(f"Xác nhận tiếp nhận khiếu nại {complaint_id}")),
        ("Date", format_datetime(at - timedelta(minutes=5)).encode()),
        ("Message-ID", our_message_id(complaint_id, mail_domain).encode()),
        ("MIME-Version", b"1.0"),
        ("Content-Type", b"text/plain; charset=utf-8"),
        ("Content-Transfer-Encoding", b"8bit"),
    ]
    message = _message(headers, b"")
    if headers_only:
        return message
    return message + _lines(f"Kính gửi Quý khách, chúng tôi đã tiếp nhận khiếu nại {complaint_id}.\n".encode())


def _bounce(rng: random.Random, index: int, complaint_id: str, mail_domain: str, at: datetime) -> bytes:
    recipient = f"khongtontai{index}@{rng.choice(DOMAINS)}"
    boundary = f"dsn-{index:04d}"
    common: list[tuple[str, bytes]] = [
        ("Date", format_datetime(at).encode()),
        ("To", f"cskh@{mail_domain}".encode()),
        ("Auto-Submitted", b"auto-replied"),
        ("MIME-Version", b"1.0"),
    ]
    if index % 3 == 2:  # an old-style bounce: plain text, the original quoted inline
        text = (
            "Hi. This is the qmail-send program at mx.example.vn.\n"
            "I'm afraid I wasn't able to deliver your message to the following addresses.\n\n"
            f"<{recipient}>:\nSorry, no mailbox here by that name. (#5.1.1)\n\n"
            "--- Below this line is a copy of the message.\n\n"
        ).encode() + _original(complaint_id, mail_domain, recipient, at, headers_only=False)
        headers = [
            ("From", f"MAILER-DAEMON@mx.{mail_domain}".encode()),
            ("Subject", b"failure notice"),
            ("Message-ID", f"<bounce.{rng.getrandbits(48):012x}@mx.example.vn>".encode()),
            *common,
            ("Content-Type", b"text/plain; charset=utf-8"),
            ("Content-Transfer-Encoding", b"8bit"),
        ]
        return _message(headers, _lines(text))
    human = _part(
        "text/plain; charset=us-ascii",
        _lines(
            (
                "This is the mail system at host mx.example.vn.\n\n"
                "I'm sorry to have to inform you that your message could not\n"
                "be delivered to one or more recipients.\n\n"
                f"<{recipient}>: host mx.{recipient.split('@')[1]} said: 550 5.1.1 User unknown\n"
            ).encode()
        ),
    )
    status = _part(
        "message/delivery-status",
        _lines(
            (
                "Reporting-MTA: dns; mx.example.vn\n"
                f"Arrival-Date: {format_datetime(at)}\n\n"
                f"Final-Recipient: rfc822; {recipient}\n"
                f"Original-Recipient: rfc822;{recipient}\n"
                "Action: failed\n"
                "Status: 5.1.1\n"
                f"Remote-MTA: dns; mx.{recipient.split('@')[1]}\n"
                "Diagnostic-Code: smtp; 550 5.1.1 <" + recipient + ">: Recipient address rejected: User unknown\n"
            ).encode()
        ),
    )
    if index % 3 == 0:
        enclosed = _part("message/rfc822", _original(complaint_id, mail_domain, recipient, at, headers_only=False))
    else:
        enclosed = _part("text/rfc822-headers", _original(complaint_id, mail_domain, recipient, at, headers_only=True))
    content_type, body = _multipart("report", boundary, [human, status, enclosed], "; report-type=delivery-status")
    headers = [
        ("From", b"Mail Delivery System <MAILER-DAEMON@mx.example.vn>"),
        ("Subject", b"Undelivered Mail Returned to Sender"),
        ("Message-ID", f"<{rng.getrandbits(48):012x}.dsn@mx.example.vn>".encode()),
        *common,
        ("Content-Type", content_type),
    ]
    return _message(headers, body)


def new_complaints(count: int, mail_domain: str, *, now: datetime = DEFAULT_NOW, seed: int = SEED) -> list[bytes]:
    """``count`` distinct new complaints in the corpus' shapes and encodings (the benchmark's mailbox)."""
    rng = random.Random(seed)
    return [_new_complaint(rng, i, mail_domain, now - timedelta(seconds=count - i), with_id=True) for i in range(count)]


def corpus(
    existing_ids: list[str],
    mail_domain: str,
    *,
    now: datetime = DEFAULT_NOW,
    seed: int = SEED,
) -> list[bytes]:
    """Issue 14's 100 messages (see the module docstring), deterministic for a seed.

    Replies go to ``existing_ids`` in turn; bounces are about the acknowledgements of the first
    three (``our_message_id``), which must exist in the outbox for them to be marked bounced.
    """
    if not existing_ids:
        raise ValueError("replies and bounces need at least one existing complaint id")
    rng = random.Random(seed)
    at = iter(now - timedelta(minutes=3 * i) for i in range(EXPECTED.messages, 0, -1))
    messages: list[bytes] = []
    new = [
        _new_complaint(rng, i, mail_domain, next(at), with_id=i >= EXPECTED.without_message_id)
        for i in range(EXPECTED.new_complaints)
    ]
    messages += new
    messages += [new[EXPECTED.without_message_id + 7 * i] for i in range(EXPECTED.duplicates)]
    for i in range(EXPECTED.replies):
        complaint_id = existing_ids[i % len(existing_ids)]
        messages.append(_reply(rng, i, complaint_id, mail_domain, next(at), by_header=i < EXPECTED.replies_by_header))
    for i in range(EXPECTED.auto_replies):
        messages.append(_auto_reply(rng, i, existing_ids[i % len(existing_ids)], mail_domain, next(at)))
    for i in range(EXPECTED.bounces):
        messages.append(_bounce(rng, i, existing_ids[i % len(existing_ids)], mail_domain, next(at)))
    assert len(messages) == EXPECTED.messages
    rng.shuffle(messages)
    return messages
