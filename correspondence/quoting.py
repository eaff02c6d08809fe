"""What a customer's message says, without the history their mail client quoted below it or
their signature: for display only (the full text is always kept and can be expanded).

Pure string work, no I/O: used by the complaint page, the staff notification and the tests.
"""

import re
from dataclasses import dataclass

# "On Mon, 1 Dec 2026 at 09:00, CSKH <cskh@example.vn> wrote:" (Gmail, Apple Mail, Thunderbird),
# also wrapped over two lines by the client; and its Vietnamese form "Vào ... đã viết:".
_ATTRIBUTION = re.compile(
    r"^\s*(?:On\b.{0,300}?\bwrote|Vào\b.{0,300}?\bđã viết|Le\b.{0,300}?\ba écrit)\s*:\s*$",
    re.IGNORECASE | re.DOTALL,
)
# Outlook's reply header: a "From:" / "Gửi:" / "Từ:" line followed within a few lines by "Sent:" /
# "To:" / "Subject:" (or their Vietnamese names); the original message marker too.
_OUTLOOK_FROM = re.compile(r"^\s*\**(?:From|Từ|Gửi)\s*:\**\s*\S", re.IGNORECASE)
_OUTLOOK_FIELD = re.compile(
    r"^\s*\**(?:Sent|Date|To|Subject|Cc|Đã gửi|Ngày|Đến|Tới|Gửi tới|Chủ đề|Tiêu đề)\s*:", re.IGNORECASE
)
_ORIGINAL = re.compile(
    r"^\s*-{2,}\s*(?:Original Message|Forwarded message|Thư gốc|Tin nhắn gốc|Thư chuyển tiếp)\s*-{2,}\s*$",
    re.IGNORECASE,
)
_OUTLOOK_RULE = re.compile(r"^\s*_{10,}\s*$")  # the line Outlook draws above its header
_SIGNATURE = re.compile(r"^-- ?$")  # RFC 3676's "-- " (some clients strip the trailing space)
_MOBILE = re.compile(r"^\s*(?:Sent from my \w+|Được gửi từ \w+|Gửi từ (?:iPhone|điện thoại)).*$", re.IGNORECASE)


@dataclass(frozen=True)
class Trimmed:
    shown: str  # what to show first
    trimmed: bool  # something was cut (the page then offers the full text)


def trim_quoted(text: str) -> Trimmed:
    """The customer's own words of ``text``: cut at the first quoted block, reply attribution,
    Outlook header, "-- " signature or "Sent from my phone" line, whichever comes first; a
    message that is nothing but quotation is shown whole (better too much than nothing)."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    cut = _cut_at(lines)
    if cut is None:
        return Trimmed(text.strip(), False)
    shown = "\n".join(lines[:cut]).strip()
    if not shown:
        return Trimmed(text.strip(), False)
    return Trimmed(shown, True)


def _cut_at(lines: list[str]) -> int | None:
    for i, line in enumerate(lines):
        if line.lstrip().startswith(">"):
            # An attribution line just above the quote belongs to it.
            return i - 1 if i > 0 and _ATTRIBUTION.match(lines[i - 1]) else i
        if _ATTRIBUTION.match(line):
            return i
        if i + 1 < len(lines) and _ATTRIBUTION.match(f"{line}\n{lines[i + 1]}"):
            return i  # the attribution wrapped over two lines
        if _SIGNATURE.match(line) or _ORIGINAL.match(line) or _MOBILE.match(line):
            return i
        if _OUTLOOK_FROM.match(line) and any(_OUTLOOK_FIELD.match(n) for n in lines[i + 1 : i + 5]):
            return i - 1 if i > 0 and _OUTLOOK_RULE.match(lines[i - 1]) else i
    return None
