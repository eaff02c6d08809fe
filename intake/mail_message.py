"""One inbound mail, parsed: its intake key, decoded headers, body, attachments and what it is.

Pure and synchronous: the IMAP poller and the SMTP gateway hand over the raw RFC 5322 bytes
and decide what to do with the result (file a complaint, thread a customer message, mark an
outbox mail bounced, refuse an oversized one with a reply, drop noise). Nothing here stores,
sends or logs personal data.

``parse_mail`` never raises: a message Python's parser cannot take apart is still returned,
marked ``unreadable`` with whatever could be read, so no mail is ever lost to a parse error.
"""

import base64
import binascii
import codecs
import email
import email.utils
import hashlib
import mimetypes
import posixpath
import re
import unicodedata
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from email.message import Message
from email.parser import BytesHeaderParser
from enum import StrEnum
from html.parser import HTMLParser

import nh3
from pydantic import BaseModel, ConfigDict, Field

from config.settings import Settings
from domain.ids import ALPHABET, LENGTH, PREFIX, is_complaint_id

DEFAULT_MAX_BYTES = 25 * 1024 * 1024  # COMPLAINTS_MESSAGE_MAX_BYTES' default
MAX_DEPTH = 20  # MIME nesting followed; deeper parts are skipped (and noted), never a crash
MAX_PARTS = 1000
MAX_MESSAGE_ID = 500  # longer "Message-IDs" are junk: the content hash keys such a message
MAX_REASON = 1000
HASH_PREFIX = "sha256:"


class MailKind(StrEnum):
    NEW_COMPLAINT = "new_complaint"
    REPLY = "reply"  # threads onto complaint_id
    AUTO_REPLY = "auto_reply"  # vacation, list, bulk, read receipt: never a complaint
    BOUNCE = "bounce"  # a delivery status notification; see MailMessage.bounce
    OWN = "own"  # our own outgoing mail come back: the loop guard
    OVERSIZED = "oversized"  # over the size limit: refuse it with a reply that says why


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, ser_json_bytes="base64", val_json_bytes="base64")


class MailAddress(Frozen):
    name: str = ""
    address: str = ""


class MailAttachment(Frozen):
    filename: str
    content_type: str  # as declared by the sender: callers sniff the real type from data
    size: int
    data: bytes
    content_id: str | None = None
    inline: bool = False


class BounceReport(Frozen):
    original_message_id: str | None  # the Message-ID of the mail that did not arrive
    recipient: str | None = None
    action: str | None = None  # failed, delayed, delivered, relayed, expanded (RFC 3464)
    status: str | None = None  # e.g. 5.1.1
    reason: str = ""

    @property
    def failed(self) -> bool:
        """Final failure; a ``delayed`` notice (4.x.x) is still noise, but the mail may yet arrive."""
        if self.action:
            return self.action.lower() == "failed"
        return not (self.status or "").startswith("4")


class MailMessage(Frozen):
    intake_key: str  # the Message-ID, or sha256:<hex> of the raw bytes when there is none
    kind: MailKind
    complaint_id: str | None = None  # the complaint a reply (or an oversized reply) is about
    message_id: str | None = None
    sender: MailAddress | None = None
    to: list[MailAddress] = Field(default_factory=list)
    cc: list[MailAddress] = Field(default_factory=list)
    reply_to: list[MailAddress] = Field(default_factory=list)
    subject: str = ""
    date: datetime | None = None
    in_reply_to: list[str] = Field(default_factory=list)
    references: list[str] = Field(default_factory=list)
    text: str = ""  # the full body as text, kept
    display_text: str = ""  # quoted history and signature trimmed
    html: str | None = None  # the HTML body, sanitised: the only HTML ever shown
    body_from_html: bool = False  # no usable text part: ``text`` was converted from the HTML
    attachments: list[MailAttachment] = Field(default_factory=list)
    bounce: BounceReport | None = None
    size: int = 0
    unreadable: bool = False  # Python could not take it apart; kept with what could be read
    problems: list[str] = Field(default_factory=list)  # what was odd, for logs (no content)
    reason: str = ""  # why this kind, a short code for logs


# --- keys and ids -------------------------------------------------------------------------

_MSGID = re.compile(r"<([^<>\s]+)>")
_COMPLAINT_ID = rf"{re.escape(PREFIX)}[{ALPHABET}]{{{LENGTH}}}"
_SUBJECT_TAG = re.compile(rf"\[\s*({_COMPLAINT_ID})\s*\]", re.IGNORECASE)


def content_key(raw: bytes) -> str:
    """The key of a message without a Message-ID: the same bytes over IMAP or SMTP give the same key."""
    normalised = raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    return HASH_PREFIX + hashlib.sha256(normalised).hexdigest()


def our_message_id_pattern(mail_domain: str) -> re.Pattern[str]:
    """Ours, as activities queue them: ``<KN-XXXXXX.<seq>.<purpose>@<mail_domain>>``."""
    return re.compile(rf"^<?({_COMPLAINT_ID})\.\d+\.[\w-]+@{re.escape(mail_domain)}>?$", re.IGNORECASE)


def message_ids(value: str) -> list[str]:
    """The ``<id>`` tokens of a Message-ID, In-Reply-To or References header, in order."""
    value = _valid(value)
    found = [f"<{m}>" for m in _MSGID.findall(value)]
    if not found and value.strip() and " " not in value.strip():
        found = [f"<{value.strip().strip('<>')}>"]  # a bare id without brackets, as some clients write
    return [m for m in found if len(m) <= MAX_MESSAGE_ID]


# --- charsets -----------------------------------------------------------------------------

# Labels that are often wrong: the bytes are UTF-8 (or Vietnamese windows-1258) just as often.
_LATIN_LABELS = {"", "us-ascii", "ascii", "iso-8859-1", "latin-1", "latin1", "iso8859-1", "windows-1252", "cp1252"}
_UNKNOWN_LABELS = {"unknown-8bit", "x-unknown", "unknown", "8bit", "default", "x-user-defined"}
_ALIASES = {"gb2312": "gb18030", "gbk": "gb18030", "iso-8859-8-i": "iso-8859-8", "utf8": "utf-8", "ks_c_5601": "cp949"}
_VIETNAMESE_BLOCK = (0x1EA0, 0x1EF9)
# VISCII (RFC 1456), which Python's codecs lack: six C0 positions and the upper half are letters.
# Taken from glibc's iconv VISCII module.
_VISCII_LOW = {0x02: "Ẳ", 0x05: "Ẵ", 0x06: "Ẫ", 0x14: "Ỷ", 0x19: "Ỹ", 0x1E: "Ỵ"}
_VISCII_HIGH = (
    "ẠẮẰẶẤẦẨẬẼẸẾỀỂỄỆỐỒỔỖỘỢỚỜỞỊỎỌỈỦŨỤỲÕắằặấầẩậẽẹếềểễệốồổỗỠƠộờởịỰỨỪỬơớƯ"
    "ÀÁÂÃẢĂẳẵÈÉÊẺÌÍĨỳĐứÒÓÔạỷừửÙÚỹỵÝỡưàáâãảăữẫèéêẻìíĩỉđựòóôõỏọụùúũủýợỮ"
)
_VISCII = "".join(_VISCII_LOW.get(i, chr(i)) for i in range(128)) + _VISCII_HIGH
_VISCII_LABELS = {
    "viscii",
    "viscii1.1-1",
    "csviscii",
    "x-viet-viscii",
}  # ạ … ỹ: letters with tone marks only Vietnamese uses


def _vietnamese_cp1258(data: bytes) -> str | None:
    """The text if these bytes read as Vietnamese in windows-1258, else None.

    Windows-1258 writes tone marks as combining characters, so genuine Vietnamese composes (NFC)
    into letters of the Vietnamese block with nothing left over; Latin-1 text read this way
    does not produce those letters.
    """
    try:
        text = unicodedata.normalize("NFC", data.decode("cp1258"))
    except UnicodeDecodeError:
        return None
    lo, hi = _VIETNAMESE_BLOCK
    if any(lo <= ord(c) <= hi for c in text) and not any(unicodedata.combining(c) for c in text):
        return text
    return None


def _known(charset: str) -> str | None:
    """The codec for a text charset; None for unknown labels and for codecs that are not text
    encodings (a label such as "zlib" or "base64" must never reach them)."""
    try:
        name = codecs.lookup(charset).name
        b"a".decode(name, "replace")  # LookupError for the bytes-to-bytes and text-to-text codecs
    except (LookupError, ValueError, UnicodeDecodeError):
        return None
    return name


def decode_bytes(data: bytes, charset: str | None, problems: list[str] | None = None) -> str:
    """Text from bytes under a declared charset, guessing where the label is missing or wrong."""
    label = (charset or "").strip().strip("\"'").lower()
    label = _ALIASES.get(label, label)
    text: str | None = None
    if label in _VISCII_LABELS:
        text = codecs.charmap_decode(data, "strict", _VISCII)[0]
    elif data.isascii() and "utf-7" not in label:  # UTF-7 is the one charset that is all ASCII bytes
        text = data.decode("ascii")
    elif label in _LATIN_LABELS or label in _UNKNOWN_LABELS:
        text = _guess(data, fallback="cp1252")
    elif (name := _known(label)) is None:
        if problems is not None:
            problems.append("unknown_charset")
        text = _guess(data, fallback="latin-1")
    else:
        try:
            text = data.decode(name)
        except UnicodeDecodeError:
            if problems is not None:
                problems.append("charset_mismatch")
            text = _guess(data, fallback=name)
    return _clean_text(unicodedata.normalize("NFC", text))


def _guess(data: bytes, fallback: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    if (vietnamese := _vietnamese_cp1258(data)) is not None:
        return vietnamese
    try:
        return data.decode(fallback)
    except (UnicodeDecodeError, LookupError):
        pass
    # Mostly the declared charset with a few damaged bytes: keep the rest readable.
    damaged = data.decode(fallback if _known(fallback) else "utf-8", "replace")
    if damaged.count("\ufffd") * 10 <= len(damaged):
        return damaged
    return data.decode("latin-1")  # every byte is a character: never fails


def _clean_text(text: str) -> str:
    # NUL cannot be stored in PostgreSQL text; lone surrogates cannot be encoded at all.
    return text.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")


# --- headers ------------------------------------------------------------------------------

_ENCODED_WORD = re.compile(rb"=\?([^?\s*]+)(?:\*[^?\s]*)?\?([QqBb])\?([^?\s]*)\?=")
_FOLD = re.compile(rb"\r?\n[ \t]")


def _valid(value: str) -> str:
    """A raw header value as storable text: 8-bit bytes read as UTF-8, never as lone surrogates."""
    return _as_bytes(value).decode("utf-8", "replace").replace("\x00", "")


def _as_bytes(value: str) -> bytes:
    # The bytes parser keeps raw 8-bit header bytes as surrogates: give them back.
    return value.encode("utf-8", "surrogateescape")


def _decode_word(encoding: bytes, payload: bytes) -> bytes:
    if encoding.upper() == b"B":
        payload = payload + b"=" * (-len(payload) % 4)
        try:
            return base64.b64decode(payload)
        except (binascii.Error, ValueError):  # damaged: decode the whole quads that are left
            cleaned = re.sub(rb"[^A-Za-z0-9+/]", b"", payload)
            return base64.b64decode(cleaned[: len(cleaned) - len(cleaned) % 4])
    return re.sub(rb"=([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]), payload.replace(b"_", b" "))


def decode_header_value(value: str | None, problems: list[str] | None = None) -> str:
    """RFC 2047 encoded words and raw 8-bit bytes decoded, folding undone.

    Adjacent encoded words in one charset are joined before decoding, as some clients split a
    multi-byte character across two words; whitespace between encoded words is dropped (RFC 2047).
    """
    if not value:
        return ""
    raw = _FOLD.sub(b" ", _as_bytes(value)).replace(b"\r", b"").replace(b"\n", b"")
    pieces: list[tuple[str | None, list[bytes]]] = []  # (charset of encoded words or None, their bytes)
    pos = 0
    for match in _ENCODED_WORD.finditer(raw):
        between = raw[pos : match.start()]
        if between and not (between.isspace() and pieces and pieces[-1][0] is not None):
            pieces.append((None, [between]))
        charset = match.group(1).decode("ascii", "replace").lower()
        data = _decode_word(match.group(2), match.group(3))
        if pieces and pieces[-1][0] == charset:
            pieces[-1][1].append(data)
        else:
            pieces.append((charset, [data]))
        pos = match.end()
    if pos < len(raw):
        pieces.append((None, [raw[pos:]]))
    text = "".join(_decode_piece(chunks, charset, problems) for charset, chunks in pieces)
    return re.sub(r"[\x00-\x08\x0b-\x1f\x7f]", "", text).strip()


def _decode_piece(chunks: list[bytes], charset: str | None, problems: list[str] | None) -> str:
    """Adjacent words joined (a character may be split across them); if the join does not
    decode cleanly, each word on its own, so one damaged word costs only itself."""
    joined = b"".join(chunks)
    name = _known(_ALIASES.get(charset or "", charset or ""))
    if len(chunks) > 1 and name and not joined.isascii():
        try:
            joined.decode(name)
        except UnicodeDecodeError:
            return "".join(decode_bytes(chunk, charset, problems) for chunk in chunks)
    return decode_bytes(joined, charset, problems)


def _header(msg: Message, name: str) -> str | None:
    """The first raw value of a header, as stored (no policy processing that could raise)."""
    wanted = name.lower()
    for key, value in msg.raw_items():
        if key.lower() == wanted:
            return value if isinstance(value, str) else str(value)
    return None


def _all_headers(msg: Message, name: str) -> list[str]:
    wanted = name.lower()
    return [v if isinstance(v, str) else str(v) for k, v in msg.raw_items() if k.lower() == wanted]


def _addresses(values: Iterable[str], problems: list[str]) -> list[MailAddress]:
    unfolded = [_FOLD.sub(b" ", _as_bytes(v)).decode("utf-8", "surrogateescape") for v in values]
    found: list[MailAddress] = []
    try:
        pairs = email.utils.getaddresses(unfolded)
    except Exception:
        problems.append("bad_address_header")
        return found
    for name, address in pairs:
        address = decode_header_value(address).strip("<> ")
        if "@" in address:
            local, _, domain = address.rpartition("@")
            address = f"{local}@{domain.lower()}"
        name = decode_header_value(name, problems).strip("\"' ")
        if address or name:
            found.append(MailAddress(name=name, address=address))
    return found


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(decode_header_value(value))
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _param(msg: Message, name: str, header: str = "content-type") -> str | None:
    try:
        value = msg.get_param(name, header=header)
    except Exception:
        return None
    if isinstance(value, tuple):  # RFC 2231 (charset, language, value)
        try:
            value = email.utils.collapse_rfc2231_value(value)
        except Exception:
            return None
    return value if isinstance(value, str) else None


def _content_type(msg: Message) -> str:
    try:
        return _valid(msg.get_content_type())
    except Exception:
        return "text/plain"


# --- bodies -------------------------------------------------------------------------------

_BLOCK_TAGS = {
    "p", "div", "br", "li", "tr", "table", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "pre", "hr",
    "blockquote", "section", "article", "header", "footer", "address", "dt", "dd",
}  # fmt: skip
_SKIP_TAGS = {"script", "style", "head", "title", "template", "noscript", "object", "iframe", "svg"}


class _TextFromHtml(HTMLParser):
    """HTML to plain text for the complaint body; blockquotes become ``>`` lines so quoted history
    can be trimmed like in a text mail."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.current: list[str] = []
        self.skip = 0
        self.quote = 0
        self.href: list[str | None] = []

    def _break(self) -> None:
        line = re.sub(r"[ \t\r\n\f\v\u00a0]+", " ", "".join(self.current)).strip()
        if line or (self.lines and self.lines[-1] != ""):
            self.lines.append(("> " * self.quote if line else "") + line)
        self.current = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self.skip += 1
        elif tag in _BLOCK_TAGS:
            self._break()
            if tag == "blockquote":
                self.quote += 1
            elif tag == "li":
                self.current.append("- ")
        elif tag == "a":
            self.href.append(dict(attrs).get("href"))
        elif tag in {"td", "th"}:
            self.current.append(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK_TAGS:
            self._break()

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self.skip = max(0, self.skip - 1)
        elif tag in _BLOCK_TAGS:
            self._break()
            if tag == "blockquote":
                self.quote = max(0, self.quote - 1)
        elif tag == "a" and self.href:
            href = self.href.pop()
            shown = "".join(self.current)
            if href and href.lower().startswith(("http://", "https://")) and href not in shown:
                self.current.append(f" ({href})")

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.current.append(data)

    def text(self) -> str:
        self._break()
        return "\n".join(self.lines).strip()


def html_to_text(html: str) -> str:
    parser = _TextFromHtml()
    try:
        parser.feed(html)
        parser.close()
        return parser.text()
    except Exception:  # a parser bug must not lose the mail: fall back to the sanitiser's text
        return nh3.clean(html, tags=set()).strip()


# Remote images are tracking pixels (and cid: images have nothing to point at): never loaded.
_DISPLAY_TAGS = set(nh3.ALLOWED_TAGS) - {"img"}


def sanitise_html(html: str) -> str:
    """The only form in which mail HTML is ever shown: no script, no handlers, no remote loads."""
    return nh3.clean(html, tags=_DISPLAY_TAGS, url_schemes={"http", "https", "mailto"})


# Where quoted history starts, in the clients our customers use.
_ATTRIBUTION = [
    re.compile(r"^\s*On\b.{0,300}\bwrote\s*:\s*$", re.IGNORECASE | re.DOTALL),
    re.compile(r"^\s*Vào\b.{0,300}\bđã viết\s*:\s*$", re.IGNORECASE | re.DOTALL),
    re.compile(r"^\s*Le\b.{0,300}\ba écrit\s*:\s*$", re.IGNORECASE | re.DOTALL),
    re.compile(r"^\s*Am\b.{0,300}\bschrieb\b.{0,200}:\s*$", re.IGNORECASE | re.DOTALL),
]
_ORIGINAL = re.compile(r"^\s*-{2,}\s*(Original Message|Thư gốc|Tin nhắn gốc)\s*-{2,}\s*$", re.IGNORECASE)
_OUTLOOK_FROM = re.compile(r"^\s*\*?(From|Từ)\s*:\*?\s+\S", re.IGNORECASE)
_OUTLOOK_NEXT = re.compile(r"^\s*\*?(Sent|Date|Đã gửi|Gửi|Ngày|To|Đến)\s*:\*?\s", re.IGNORECASE)
_RULE = re.compile(r"^\s*_{10,}\s*$")
_SIGNATURE = re.compile(r"^--[ \t]?$")
_FORWARDED = re.compile(
    r"^\s*(-+\s*(Forwarded message|Thư được chuyển tiếp|Tin nhắn được chuyển tiếp)\s*-*|Begin forwarded message:)",
    re.IGNORECASE,
)


def _history_start(lines: list[str]) -> int | None:
    """Index of the first line of quoted history or signature, if any. A forwarded message is
    what the customer wants us to read: nothing from its marker on is trimmed."""
    for i, line in enumerate(lines):
        stripped = line.rstrip()
        if _FORWARDED.match(stripped):
            return None
        if _SIGNATURE.match(stripped) or _ORIGINAL.match(stripped):
            return i
        for joined in (stripped, f"{stripped} {lines[i + 1].strip()}" if i + 1 < len(lines) else ""):
            if joined and any(p.match(joined) for p in _ATTRIBUTION):
                return i
        if _OUTLOOK_FROM.match(stripped) and any(_OUTLOOK_NEXT.match(n) for n in lines[i + 1 : i + 5]):
            return i - 1 if i > 0 and _RULE.match(lines[i - 1]) else i
    return None


def trim_quoted(text: str) -> str:
    """The new part of a message: attribution, quoted lines (``>``), forwarded-reply blocks and
    the signature removed. The whole message stays in ``text``; when nothing new is left (all
    quoted), the whole text is shown rather than nothing."""
    lines = text.split("\n")
    start = _history_start(lines)
    if start is not None:
        lines = lines[:start]
    kept = [line for line in lines if not line.lstrip().startswith(">")]
    trimmed = re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip()
    return trimmed or text.strip()


# --- walking the MIME tree ----------------------------------------------------------------


def unflow(text: str, delsp: bool = False) -> str:
    """RFC 3676 format=flowed: soft line breaks (a trailing space) joined back into paragraphs,
    so a complaint reads as written, not as the client wrapped it."""
    out: list[str] = []
    joining, out_depth = False, 0
    for line in text.split("\n"):
        depth = len(line) - len(line.lstrip(">"))
        content = line[depth:]
        if content.startswith(" "):  # space-stuffing
            content = content[1:]
        flowed = content.endswith(" ") and content != "-- "
        if flowed and delsp:
            content = content[:-1]
        if joining and out and depth == out_depth:
            out[-1] += content
        else:
            out.append((">" * depth + " " if depth else "") + content)
            out_depth = depth
        joining = flowed
    return "\n".join(out)


def _walk(msg: Message, problems: list[str]) -> Iterator[tuple[Message, tuple[str, ...]]]:
    """Leaf parts with the content types of their ancestors, depth and count bounded, no recursion."""
    stack: list[tuple[Message, tuple[str, ...]]] = [(msg, ())]
    seen = 0
    while stack:
        part, ancestors = stack.pop()
        seen += 1
        if seen > MAX_PARTS:
            problems.append("too_many_parts")
            return
        ctype = _content_type(part)
        payload = _raw_payload(part)
        if ctype.startswith("multipart/") and isinstance(payload, list):
            if len(ancestors) >= MAX_DEPTH:
                problems.append("too_deep")
                continue
            children = [p for p in payload if isinstance(p, Message)]
            stack.extend((child, (*ancestors, ctype)) for child in reversed(children))
        else:
            yield part, ancestors


def _raw_payload(part: Message) -> object:
    try:  # raises on a charset parameter Python cannot even look up (e.g. one with a NUL)
        return part.get_payload()
    except Exception:
        return None


def _payload(part: Message) -> bytes:
    try:
        data = part.get_payload(decode=True)
    except Exception:
        data = None
    if isinstance(data, bytes):
        return data
    raw = _raw_payload(part)
    if isinstance(raw, str):
        return _as_bytes(raw)
    if isinstance(raw, list):  # message/*: the enclosed message(s) as bytes
        return b"".join(_message_bytes(p) for p in raw if isinstance(p, Message))
    return b""


def _message_bytes(msg: Message) -> bytes:
    try:
        return msg.as_bytes()
    except Exception:
        try:
            return _as_bytes(msg.as_string())
        except Exception:
            return b""


def _filename(part: Message, index: int, ctype: str, problems: list[str]) -> str:
    name: str | None = None
    try:
        name = part.get_filename() or _param(part, "name")
    except Exception:
        name = None
    if name:
        name = decode_header_value(name, problems)
    name = posixpath.basename((name or "").replace("\\", "/"))
    name = re.sub(r"[\x00-\x1f\x7f]", "", name).strip().lstrip(".")
    if not name:
        extension = ".eml" if ctype == "message/rfc822" else (mimetypes.guess_extension(ctype) or ".bin")
        name = f"attachment-{index}{extension}"
    if len(name) > 200:
        stem, dot, extension = name.rpartition(".")
        name = (stem[:180] + dot + extension[:15]) if dot else name[:200]
    return unicodedata.normalize("NFC", name)


def _disposition(part: Message) -> str:
    value = _header(part, "content-disposition") or ""
    return value.split(";", 1)[0].strip().lower()


class _Body:
    def __init__(self) -> None:
        self.texts: list[str] = []
        self.htmls: list[str] = []
        self.attachments: list[MailAttachment] = []
        self.reports: list[Message] = []  # message/delivery-status parts
        self.enclosed: list[Message] = []  # message/rfc822 or text/rfc822-headers, parsed


def _read_body(msg: Message, problems: list[str]) -> _Body:
    body = _Body()
    for part, ancestors in _walk(msg, problems):
        ctype = _content_type(part)
        disposition = _disposition(part)
        has_name = bool(_param(part, "filename", "content-disposition") or _param(part, "name"))
        in_report = any(a == "multipart/report" for a in ancestors)
        if ctype == "message/delivery-status" or (in_report and ctype == "message/global-delivery-status"):
            body.reports.append(part)
            continue
        if in_report and ctype in {"message/rfc822", "text/rfc822-headers", "message/global", "message/global-headers"}:
            enclosed = _enclosed(part)
            if enclosed is not None:
                body.enclosed.append(enclosed)
            continue
        is_body_text = ctype in {"text/plain", "text/html"} or ctype.startswith("multipart/")
        if is_body_text and disposition != "attachment" and not has_name:
            data = _payload(part)
            text = decode_bytes(data, _param(part, "charset"), problems)
            if ctype == "text/html":
                body.htmls.append(text)
            else:
                text = text.replace("\r\n", "\n").replace("\r", "\n")
                if (_param(part, "format") or "").lower() == "flowed":
                    text = unflow(text, delsp=(_param(part, "delsp") or "").lower() == "yes")
                body.texts.append(text)
            continue
        data = _payload(part)
        cid = _header(part, "content-id")
        body.attachments.append(
            MailAttachment(
                filename=_filename(part, len(body.attachments) + 1, ctype, problems),
                content_type=ctype,
                size=len(data),
                data=data,
                content_id=message_ids(cid)[0] if cid and message_ids(cid) else None,
                inline=disposition == "inline",
            )
        )
    return body


def _enclosed(part: Message) -> Message | None:
    payload = _raw_payload(part)
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        return payload[0]
    data = _payload(part)
    try:
        return BytesHeaderParser().parsebytes(data)
    except Exception:
        return None


# --- classification -----------------------------------------------------------------------

_AUTO_PRECEDENCE = {"bulk", "junk", "list", "auto_reply"}
_DAEMONS = {"mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon"}
_AUTO_SUBJECT = re.compile(
    r"^\s*(auto(matic)?[ -]?reply|autoreply|auto:|out of (the )?office|trả lời tự động|thư trả lời tự động)",
    re.IGNORECASE,
)


def _auto_reason(msg: Message, subject: str) -> str | None:
    auto_submitted = (_header(msg, "auto-submitted") or "").split(";", 1)[0].strip().lower()
    if auto_submitted and auto_submitted != "no":
        return "auto_submitted"
    if (_header(msg, "precedence") or "").strip().lower() in _AUTO_PRECEDENCE:
        return "precedence"
    if _header(msg, "list-id") is not None:
        return "list_id"
    for name in ("x-autoreply", "x-autorespond", "x-autogenerated", "x-auto-reply"):
        value = (_header(msg, name) or "").strip().lower()
        if value and value not in {"no", "false", "0"}:
            return name
    if "disposition-notification" in (_param(msg, "report-type") or "").lower():
        return "read_receipt"
    if _AUTO_SUBJECT.match(subject):
        return "vacation_subject"
    return None


def _is_bounce(msg: Message, sender: MailAddress | None) -> bool:
    if _content_type(msg) == "multipart/report" and (_param(msg, "report-type") or "").lower() == "delivery-status":
        return True
    local = (sender.address if sender else "").rpartition("@")[0] or (sender.address if sender else "")
    return local.lower() in _DAEMONS


def _field(block: Message, name: str) -> str | None:
    value = _header(block, name)
    if value is None:
        return None
    return decode_header_value(value) or None


def _delivery_blocks(part: Message) -> list[Message]:
    payload = _raw_payload(part)
    if isinstance(payload, list):
        return [p for p in payload if isinstance(p, Message)]
    # Some MTAs send the fields base64-encoded or otherwise unparsed: read the blocks ourselves.
    text = decode_bytes(_payload(part), "utf-8").replace("\r\n", "\n")
    blocks: list[Message] = []
    for chunk in re.split(r"\n\s*\n", text):
        try:
            blocks.append(BytesHeaderParser().parsebytes(chunk.strip().encode("utf-8") + b"\n"))
        except Exception:
            continue
    return blocks


_ENHANCED_STATUS = re.compile(r"\b([245]\.\d{1,3}\.\d{1,3})\b")
_SMTP_CODE = re.compile(r"\b([245]\.\d{1,3}\.\d{1,3}|[45]\d\d)\b")


def _bounce_report(msg: Message, body: _Body, text: str, ours: re.Pattern[str]) -> BounceReport:
    recipient = action = status = None
    reason = ""
    original: str | None = None
    for report in body.reports:
        for block in _delivery_blocks(report):
            for name in ("x-original-message-id", "original-message-id"):
                value = _field(block, name)
                if value and original is None and message_ids(value):
                    original = message_ids(value)[0]
            if _field(block, "action") and action is None:
                action = (_field(block, "action") or "").lower()
                status = _field(block, "status")
                recipient = _field(block, "final-recipient") or _field(block, "original-recipient") or ""
                recipient = recipient.split(";", 1)[-1].strip() or None
                diagnostic = _field(block, "diagnostic-code") or ""
                reason = diagnostic.split(";", 1)[-1].strip() if ";" in diagnostic else diagnostic
    for enclosed in body.enclosed:
        value = _header(enclosed, "message-id")
        if value and message_ids(value):
            original = message_ids(value)[0]
            break
    if original is None:  # old-style bounces quote the original inline: find one of ours in it
        for candidate in _MSGID.findall(text):
            if ours.match(f"<{candidate}>"):
                original = f"<{candidate}>"
                break
    lines = [line.strip() for line in text.split("\n") if line.strip()]
    if not reason:  # the first line that carries an SMTP or enhanced status code says why
        reason = next((line for line in lines if _SMTP_CODE.search(line)), lines[0] if lines else "")
    if status is None and (found := _ENHANCED_STATUS.search(reason)):
        status = found.group(1)
    return BounceReport(
        original_message_id=original,
        recipient=recipient,
        action=action,
        status=status,
        reason=reason[:MAX_REASON],
    )


def _thread(
    in_reply_to: list[str], references: list[str], subject: str, ours: re.Pattern[str]
) -> tuple[str | None, str]:
    for candidate in [*in_reply_to, *reversed(references)]:
        if found := ours.match(candidate):
            return found.group(1).upper(), "in_reply_to" if candidate in in_reply_to else "references"
    if (tag := _SUBJECT_TAG.search(subject)) and is_complaint_id(tag.group(1).upper()):
        return tag.group(1).upper(), "subject_tag"
    return None, ""


# --- the entry point ----------------------------------------------------------------------


def parse_mail(
    raw: bytes,
    *,
    mail_domain: str,
    our_addresses: Iterable[str] = (),
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> MailMessage:
    """Parse one raw message. ``mail_domain`` is the right side of our Message-IDs,
    ``our_addresses`` the addresses we send from (the loop guard), ``max_bytes`` the size limit
    (COMPLAINTS_MESSAGE_MAX_BYTES). A reply's ``complaint_id`` is what the mail names: the caller
    checks that complaint exists."""
    ours = our_message_id_pattern(mail_domain)
    own = {a.strip().lower() for a in our_addresses if a.strip()}
    try:
        return _parse(raw, mail_domain, ours, own, max_bytes)
    except Exception:  # RecursionError included: deep nesting
        return _unreadable(raw, mail_domain, ours, own, max_bytes)


def parse_with_settings(raw: bytes, settings: Settings) -> MailMessage:
    """``parse_mail`` as the IMAP poller and the SMTP gateway both call it, so they agree."""
    _, sender = email.utils.parseaddr(settings.mail_from)
    return parse_mail(
        raw,
        mail_domain=settings.mail_domain,
        our_addresses=[sender] if sender else [],
        max_bytes=settings.message_max_bytes,
    )


def _unreadable(raw: bytes, mail_domain: str, ours: re.Pattern[str], own: set[str], max_bytes: int) -> MailMessage:
    """Kept rather than lost: the headers if they can be read, the body as text as best we can."""
    key = content_key(raw)
    head, _, rest = raw.replace(b"\r\n", b"\n").partition(b"\n\n")
    text = decode_bytes(rest[:max_bytes], None).strip()
    try:
        problems = ["unparseable"]
        msg = BytesHeaderParser().parsebytes(head + b"\n")
        fields = _headers(msg, problems)
        kind, complaint_id, reason, bounce = _classify(
            msg, fields, _Body(), text, len(raw) > max_bytes, mail_domain, ours, own
        )
        return MailMessage(
            **fields.model_dump(),
            intake_key=fields.message_id or key,
            kind=kind,
            complaint_id=complaint_id,
            text=text,
            display_text=text,
            bounce=bounce,
            size=len(raw),
            unreadable=True,
            problems=sorted(set(problems)),
            reason=reason,
        )
    except Exception:  # RecursionError included: deep nesting
        body = decode_bytes(raw[:max_bytes], None).strip()
        return MailMessage(
            intake_key=key,
            kind=MailKind.NEW_COMPLAINT,
            text=body,
            display_text=body,
            size=len(raw),
            unreadable=True,
            problems=["unparseable", "headers_unparseable"],
            reason="unreadable",
        )


def _parse(raw: bytes, mail_domain: str, ours: re.Pattern[str], own: set[str], max_bytes: int) -> MailMessage:
    problems: list[str] = []
    oversized = len(raw) > max_bytes
    if oversized:  # headers only: the caller refuses it, no point decoding 25 MB of body
        head = re.split(rb"\r?\n\r?\n", raw, maxsplit=1)[0]
        msg = BytesHeaderParser().parsebytes(head)
    else:
        msg = email.message_from_bytes(raw)
    if msg.defects:
        problems.extend(sorted({type(d).__name__ for d in msg.defects}))
    fields = _headers(msg, problems)
    body = _Body() if oversized else _read_body(msg, problems)
    text = "\n\n".join(t.strip("\n") for t in body.texts if t.strip()).strip()
    html_source = "\n".join(body.htmls)
    from_html = not text and bool(html_source.strip())
    if from_html:
        text = html_to_text(html_source)
    truncated = bool({"too_deep", "too_many_parts"} & set(problems))
    if truncated and not text:  # what we skipped may be all there was: keep the raw body as text
        text = decode_bytes(re.split(rb"\r?\n\r?\n", raw, maxsplit=1)[-1], None).strip()
    kind, complaint_id, reason, bounce = _classify(msg, fields, body, text, oversized, mail_domain, ours, own)
    return MailMessage(
        **fields.model_dump(),
        intake_key=fields.message_id or content_key(raw),
        kind=kind,
        complaint_id=complaint_id,
        text=text,
        display_text=trim_quoted(text) if text else "",
        html=sanitise_html(html_source) if html_source.strip() else None,
        body_from_html=from_html,
        attachments=body.attachments,
        bounce=bounce,
        size=len(raw),
        unreadable=truncated,
        problems=sorted(set(problems)),
        reason=reason,
    )


class _Headers(BaseModel):
    message_id: str | None
    sender: MailAddress | None
    to: list[MailAddress]
    cc: list[MailAddress]
    reply_to: list[MailAddress]
    subject: str
    date: datetime | None
    in_reply_to: list[str]
    references: list[str]


def _headers(msg: Message, problems: list[str]) -> _Headers:
    ids = message_ids(_header(msg, "message-id") or "")
    senders = _addresses(_all_headers(msg, "from"), problems)
    return _Headers(
        message_id=ids[0] if ids else None,
        sender=senders[0] if senders else None,
        to=_addresses(_all_headers(msg, "to"), problems),
        cc=_addresses(_all_headers(msg, "cc"), problems),
        reply_to=_addresses(_all_headers(msg, "reply-to"), problems),
        subject=decode_header_value(_header(msg, "subject"), problems),
        date=_date(_header(msg, "date")),
        in_reply_to=message_ids(_header(msg, "in-reply-to") or ""),
        references=message_ids(" ".join(_all_headers(msg, "references"))),
    )


def _classify(
    msg: Message,
    fields: _Headers,
    body: _Body,
    text: str,
    oversized: bool,
    mail_domain: str,
    ours: re.Pattern[str],
    own: set[str],
) -> tuple[MailKind, str | None, str, BounceReport | None]:
    """Noise first (a bounce or an auto-reply to one of our mails must never thread), then size,
    then threading."""
    complaint_id, thread_reason = _thread(fields.in_reply_to, fields.references, fields.subject, ours)
    if _is_bounce(msg, fields.sender):
        return MailKind.BOUNCE, None, "delivery_status", _bounce_report(msg, body, text, ours)
    sender = fields.sender.address.lower() if fields.sender else ""
    if sender and sender in own:
        return MailKind.OWN, None, "our_address", None
    if fields.message_id and fields.message_id.rstrip(">").rpartition("@")[2].lower() == mail_domain.lower():
        return MailKind.OWN, None, "our_message_id", None
    if auto := _auto_reason(msg, fields.subject):
        return MailKind.AUTO_REPLY, None, auto, None
    if oversized:
        return MailKind.OVERSIZED, complaint_id, "over_limit", None
    if complaint_id:
        return MailKind.REPLY, complaint_id, thread_reason, None
    return MailKind.NEW_COMPLAINT, None, "new", None
