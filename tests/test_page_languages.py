"""Every staff page speaks one language: rendered in English, no Vietnamese letter outside the
data (customer, staff and department names); rendered in Vietnamese, no English text of the
catalogue left untranslated. Real app, real dev server and worker, real complaints."""

import html
import re
import uuid
from typing import Any

import pytest
from babel.messages.pofile import read_po
from fastapi import FastAPI
from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment

from admin.i18n import LOCALE_DIR
from config.settings import Settings
from domain.models import Actor, ComplaintIntake, Customer, Escalate, Verify
from domain.vocabulary import Category, Channel, Role
from intake.filing import file_complaint
from store.tables import Complaint, Department, Staff
from tests.journey import CS, decide
from tests.test_admin_pages import Browser, app, until_stages  # noqa: F401  (app: the fixture)

VIETNAMESE = re.compile("[àáạảãâầấậẩẫăằắặẳẵèéẹẻẽêềếệểễìíịỉĩòóọỏõôồốộổỗơờớợởỡùúụủũưừứựửữỳýỵỷỹđ]", re.IGNORECASE)
# Text in another language on purpose: the language switch names each language in itself.
OTHER_LANGUAGE = re.compile(r'<[^>]+\blang="(vi|en)"[^>]*>.*?</[^>]+>', re.DOTALL)
PROPER_NAMES = ("Lửa Rồng",)
TECH_STAFF = Actor(user="minh.tech", role=Role.DEPARTMENT_STAFF, department="TECH")
PAGES = ["/", "/complaints", "/complaints/new", "/dashboard", "/admin/staff", "/admin/departments",
         "/admin/routing", "/admin/sla", "/admin/canned-replies", "/admin/canned-replies/new", "/mails",
         "/complaints/KN-ZZZZZZ"]  # fmt: skip
ROLES = ["lan.cs", "minh.tech", "tuan.tech", "quang.manager", "admin"]


def visible_text(page: str) -> str:
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.DOTALL)
    page = OTHER_LANGUAGE.sub(" ", page)
    titles = " ".join(re.findall(r'(?:title|aria-label|placeholder|alt)="([^"]*)"', page))
    text = re.sub(r"<[^>]+>", " ", page)
    return html.unescape(f"{text} {titles}")


async def _data_names(sessions: Any) -> list[str]:
    """What people typed (the store is shared with other tests): names and texts of every
    complaint, staff and department names."""
    async with sessions() as session:
        staff = (await session.scalars(select(Staff.full_name))).all()
        departments = (await session.scalars(select(Department.name_vi))).all()
        typed = (await session.execute(select(Complaint.customer_name, Complaint.subject, Complaint.summary))).all()
    texts = {t for row in typed for t in row if t}
    return sorted({*staff, *departments, *texts, *PROPER_NAMES}, key=len, reverse=True)


def _untranslated_msgids() -> list[str]:
    with (LOCALE_DIR / "vi" / "LC_MESSAGES" / "messages.po").open("rb") as po:
        catalog = read_po(po)
    found = []
    for message in catalog:
        msgid = message.id if isinstance(message.id, str) else message.id[0]
        # Whole phrases only (three words or more): short words like "Email" are Vietnamese too.
        if msgid and message.string and message.string != msgid and len(msgid.split()) >= 3 and "%" not in msgid:
            found.append(msgid)
    return found


@pytest.fixture
async def complaint(app: FastAPI, dev_env: WorkflowEnvironment, settings: Settings, sessions: Any) -> str:  # noqa: F811
    # ASCII customer data: any Vietnamese letter on an English page is then the UI's own.
    ascii_only = ComplaintIntake(
        channel=Channel.EMAIL,
        customer=Customer(name="Nguyen Van An", email="an@example.vn", phone="0901234567", address="12 Le Loi"),
        subject="No connection",
        body="The line has dropped every day since the 10th.",
        intake_key=f"test:{uuid.uuid4()}",
    )
    filed = await file_complaint(dev_env.client, settings, ascii_only)
    handle = dev_env.client.get_workflow_handle(filed.complaint_id)
    await decide(handle, "verify", Verify(actor=CS, summary="No connection", category=Category.TECHNICAL))
    await decide(handle, "escalate", Escalate(actor=TECH_STAFF, reason="Beyond our authority"))
    await until_stages(sessions, {filed.complaint_id: "escalated"})
    return filed.complaint_id


async def _pages(application: FastAPI, complaint: str, lang: str) -> dict[str, str]:
    found = {}
    for username in ROLES:
        browser = await Browser(application).login(username)
        page = await browser.http.get("/")
        await browser.http.post("/language", data={"lang": lang, "next": "/", "csrf_token": _csrf(page.text)})
        for path in [*PAGES, f"/complaints/{complaint}"]:
            found[f"{username} {path}"] = (await browser.http.get(path)).text
    return found


def _csrf(page: str) -> str:
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token
    return token.group(1)


async def test_english_pages_have_no_vietnamese(app: FastAPI, complaint: str, sessions: Any) -> None:  # noqa: F811
    names = await _data_names(sessions)
    problems = []
    for where, page in (await _pages(app, complaint, "en")).items():
        text = visible_text(page)
        for name in names:
            text = text.replace(name, " ")
        words = {w for w in re.findall(r"\S+", text) if VIETNAMESE.search(w)}
        if words:
            problems.append(f"{where}: {sorted(words)[:12]}")
    assert not problems, "\n".join(problems)


async def test_vietnamese_pages_have_no_english_phrase(app: FastAPI, complaint: str) -> None:  # noqa: F811
    msgids = _untranslated_msgids()
    problems = []
    for where, page in (await _pages(app, complaint, "vi")).items():
        text = " ".join(visible_text(page).split())
        left = [m for m in msgids if m in text]
        if left:
            problems.append(f"{where}: {left[:6]}")
    assert not problems, "\n".join(problems)
