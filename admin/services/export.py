"""The complaint list's current filter as a file: CSV or XLSX, streamed page by page through
``ComplaintService.search`` (so exactly the rows the user may see, store/scopes.py), with the
column names and values in the user's language.

Complaint text is the customer's: in the CSV a cell a spreadsheet would read as a formula
(starting with = + - @, a tab or a carriage return) is neutralised with a leading apostrophe;
in the XLSX every text is a text cell, never a formula, and is kept as it is."""

import asyncio
import csv
import io
import tempfile
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell

from admin import i18n
from admin.services.complaints import ComplaintService, Filters, Page
from admin.users import User
from store.tables import Complaint

BATCH = 500  # rows per query
CHUNK = 64 * 1024  # bytes per streamed piece of an XLSX file
SPOOL = 4 * 1024 * 1024  # an XLSX larger than this goes to disk while it is built
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
BOM = "\ufeff"  # Excel reads a CSV as UTF-8 only with it

# (msgid of the column, its value for a row in ``lang``)
COLUMNS: list[tuple[str, Callable[[str, Complaint, dict[str, str]], Any]]] = [
    ("Complaint ID", lambda lang, r, names: r.id),
    ("Priority", lambda lang, r, names: i18n.priority_label(lang, r.priority)),
    ("Customer", lambda lang, r, names: r.customer_name),
    ("Subject", lambda lang, r, names: r.subject),
    ("Status", lambda lang, r, names: i18n.stage_label(lang, r.stage)),
    ("Overdue", lambda lang, r, names: i18n.gettext(lang, "Yes" if r.overdue else "No")),
    ("Department", lambda lang, r, names: names.get(r.department_code or "", r.department_code or i18n.EMPTY)),
    ("Category", lambda lang, r, names: i18n.category_label(lang, r.category)),
    ("Channel", lambda lang, r, names: i18n.channel_label(lang, r.channel)),
    ("Received", lambda lang, r, names: i18n.to_vietnam(r.received_at).replace(tzinfo=None)),
    ("Deadline", lambda lang, r, names: i18n.to_vietnam(r.deadline).replace(tzinfo=None)),
]
DATE_FORMAT = "%d/%m/%Y %H:%M"


def neutralise(value: str) -> str:
    """``value`` as text a spreadsheet will not evaluate."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


class Export:
    """One export: its first page is read before the response starts, so a refused filter is
    an error page, not a broken download."""

    def __init__(self, service: ComplaintService, user: User, filters: Filters, lang: str) -> None:
        self.service, self.user, self.filters, self.lang = service, user, filters, lang
        self.first: Page | None = None
        self.names: dict[str, str] = {}

    async def start(self) -> None:
        self.names = await self.service.department_names(self.lang)
        self.first = await self.service.search(self.user, self.filters, None, limit=BATCH)

    def header(self) -> list[str]:
        return [i18n.gettext(self.lang, msgid) for msgid, _ in COLUMNS]

    async def rows(self) -> AsyncIterator[list[Any]]:
        page = self.first if self.first is not None else await self.service.search(self.user, self.filters, None, BATCH)
        while True:
            for row in page.items:
                yield [value(self.lang, row, self.names) for _, value in COLUMNS]
            self.service.session.expunge_all()  # what has been written is not kept in memory
            if page.next_cursor is None:
                return
            page = await self.service.search(self.user, self.filters, page.next_cursor, BATCH)

    async def csv(self) -> AsyncIterator[bytes]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        buffer.write(BOM)
        writer.writerow(self.header())
        n = 0
        async for values in self.rows():
            writer.writerow([_text(v) for v in values])
            n += 1
            if n % BATCH == 0:
                yield buffer.getvalue().encode()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue().encode()

    async def xlsx(self) -> AsyncIterator[bytes]:
        # openpyxl's write-only mode streams the rows to a temporary file; the finished workbook
        # is spooled (on disk past SPOOL) and sent in chunks.
        book = Workbook(write_only=True)
        sheet = book.create_sheet(i18n.gettext(self.lang, "Complaints")[:31])
        sheet.append(self.header())
        async for values in self.rows():
            sheet.append([_cell(sheet, v) for v in values])
        with tempfile.SpooledTemporaryFile(max_size=SPOOL) as spooled:
            await asyncio.to_thread(book.save, spooled)
            spooled.seek(0)
            while chunk := spooled.read(CHUNK):
                yield chunk


def _cell(sheet: Any, value: Any) -> Any:
    """Text as a text cell, kept as it was typed: openpyxl would store "=…" as a formula."""
    if not isinstance(value, str):
        return value
    cell = WriteOnlyCell(sheet, value)
    cell.data_type = "s"
    return cell


def _text(value: Any) -> str:
    if isinstance(value, datetime):
        return value.strftime(DATE_FORMAT)
    return neutralise(str(value))
