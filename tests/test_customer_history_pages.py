"""The customer's history, the duplicate picker and the SLA badges over HTTP (real app, real dev
server, real worker, real store): the same customer's other complaints, matched by phone or
e-mail however they were written, only those the reader may see; a duplicate's original chosen
among them, anything else refused beside the field; the links both ways; the badges and the
"to verify" queue by the first-response target."""

import asyncio
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from fastapi import FastAPI
from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment

from config.settings import Settings
from domain.models import Verify
from domain.vocabulary import Category, Channel
from intake.filing import file_complaint
from store.tables import Complaint
from tests.conftest import Sessions
from tests.journey import CS, decide, intake
from tests.test_admin_pages import Browser, app, csrf, until_stages  # noqa: F401


def customer() -> tuple[str, str, str, str]:
    """A customer of this test alone: (suffix, mobile digits after 0, e-mail, name)."""
    suffix = uuid.uuid4().hex[:8]
    digits = f"9{int(suffix, 16) % 10**8:08d}"
    return suffix, digits, f"binh.{suffix}@example.vn", f"Trần Thị Bình {suffix}"


def section(html: str, marker: str) -> str:
    start = html.index(marker)
    return html[start : html.index("</section>", start)]


def row_of(html: str, complaint_id: str) -> str:
    for chunk in html.split("<tr")[1:]:
        if f'href="/complaints/{complaint_id}"' in chunk:
            return chunk.split("</tr>")[0]
    raise AssertionError(f"{complaint_id} is not listed")


async def until(sessions: Sessions, complaint_id: str, holds: Callable[[Complaint], bool], timeout: float = 90) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        async with sessions() as session:
            row = await session.scalar(select(Complaint).where(Complaint.id == complaint_id))
            if row is not None and holds(row):
                return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{complaint_id} never reached the expected state")
        await asyncio.sleep(0.2)


async def test_history_picker_and_duplicates_both_ways(
    app: FastAPI,  # noqa: F811
    dev_env: WorkflowEnvironment,
    settings: Settings,
    sessions: Sessions,
) -> None:
    _, digits, email, name = customer()
    client = dev_env.client
    by_mail = intake(
        Channel.EMAIL, name=name, email=email.upper(), phone=f"+84 {digits[:2]} {digits[2:5]} {digits[5:]}"
    )
    by_phone = intake(Channel.PHONE, name=name, email=None, phone=f"0{digits[:2]}.{digits[2:5]}.{digits[5:]}")
    mail_only = intake(Channel.EMAIL, name=name, email=f"  {email} ", phone=None)
    stranger = intake(Channel.PHONE, name="Lê Văn Cường", email=None, phone=f"0{(int(digits) + 1) % 10**9:09d}")
    a, b, c, d = [
        (await file_complaint(client, settings, i)).complaint_id for i in (by_mail, by_phone, mail_only, stranger)
    ]
    await until_stages(sessions, {a: "received", b: "received", c: "received", d: "received"})

    lan = await Browser(app).login("lan.cs", lang="vi")
    page = await lan.get(f"/complaints/{a}")
    history = section(page.text, 'id="customer-history"')
    listed = set(re.findall(r'href="/complaints/(KN-[0-9A-Z]+)"', history))
    assert listed == {b, c}, history  # by phone and by e-mail, never itself nor someone else
    picker = section(page.text, 'data-decision="reject"')
    options = re.search(r'<select id="reject-duplicate_of"[^>]*>(.*?)</select>', picker, re.S)
    assert options, picker
    assert set(re.findall(r'<option value="([^"]*)"', options.group(1))) == {"", b, c}

    # anything but one of them is refused beside the field, in the user's language, nothing sent
    for bogus in ("KN-XXXXXX", a):
        refused = await lan.submit(f"/complaints/{a}", f"/complaints/{a}/actions/reject",
                                   {"reason": "Khiếu nại trùng", "duplicate_of": bogus})  # fmt: skip
        assert refused.status_code == 422, refused.text
        error = re.search(r'id="reject-duplicate_of-error">([^<]*)<', refused.text)
        assert error and error.group(1) == "Chọn một khiếu nại khác của khách hàng.", refused.text
    api = await lan.http.post(f"/api/v1/complaints/{a}/actions/reject",
                              json={"reason": "Khiếu nại trùng", "duplicate_of": "KN-XXXXXX"},
                              headers={"X-CSRF-Token": csrf(page.text)})  # fmt: skip
    assert api.status_code == 422 and api.json()["message"].startswith("duplicate_of:"), api.text
    async with sessions() as session:
        assert (await session.get(Complaint, a)) is not None
        assert await session.scalar(select(Complaint.stage).where(Complaint.id == a)) == "received"

    done = await lan.submit(f"/complaints/{a}", f"/complaints/{a}/actions/reject",
                            {"reason": "Khiếu nại trùng", "duplicate_of": c})  # fmt: skip
    assert done.status_code == 303, done.text
    await until(sessions, a, lambda row: row.duplicate_of == c)
    duplicate = await lan.get(f"/complaints/{a}")
    assert f'<a href="/complaints/{c}" data-link="duplicate-of">{c}</a>' in duplicate.text
    original = await lan.get(f"/complaints/{c}")
    assert f'<a href="/complaints/{a}" data-link="duplicate">{a}</a>' in original.text

    # department staff see the customer's complaints of their own department only
    handle = client.get_workflow_handle(b)
    await decide(handle, "verify", Verify(actor=CS, summary="Mất mạng", category=Category.TECHNICAL))
    await until(sessions, b, lambda row: row.department_code == "TECH")
    minh = await Browser(app).login("minh.tech", lang="vi")
    seen_by_minh = section((await minh.get(f"/complaints/{b}")).text, 'id="customer-history"')
    assert not re.findall(r'href="/complaints/(KN-[0-9A-Z]+)"', seen_by_minh), seen_by_minh
    found = await minh.http.get("/api/v1/customers/complaints", params={"phone": f"84{digits}", "email": email})
    assert found.status_code == 200 and [item["id"] for item in found.json()["items"]] == [b]
    found = await lan.http.get("/api/v1/customers/complaints", params={"phone": f"84{digits}", "email": ""})
    assert {item["id"] for item in found.json()["items"]} == {a, b}
    assert {item["stage_label"] for item in found.json()["items"]} <= {"Đã tiếp nhận", "Đã kết thúc", "Đang xử lý"}


async def test_filing_shows_possible_duplicates(
    app: FastAPI,  # noqa: F811
    dev_env: WorkflowEnvironment,
    settings: Settings,
    sessions: Sessions,
) -> None:
    _, _, email, name = customer()
    first = await file_complaint(dev_env.client, settings, intake(Channel.EMAIL, name=name, email=email, phone=None))
    await until_stages(sessions, {first.complaint_id: "received"})
    lan = await Browser(app).login("lan.cs", lang="vi")
    blank = await lan.get("/complaints/new")
    assert 'data-duplicates="possible-duplicates"' in blank.text
    assert 'data-lookup="/api/v1/customers/complaints" hidden' in blank.text

    # a refused form (no body) keeps what was typed and lists the customer's complaints
    refused = await lan.submit("/complaints/new", "/complaints/new", {
        "channel": "phone", "name": name, "email": f" {email.upper()}", "phone": "", "body": "  ",
        "form_key": uuid.uuid4().hex})  # fmt: skip
    assert refused.status_code == 422
    found = section(refused.text, 'id="possible-duplicates"')
    assert f'href="/complaints/{first.complaint_id}"' in found and " hidden" not in found.split(">")[0]
    assert "Có thể trùng" in found
    live = await lan.http.get("/api/v1/customers/complaints", params={"email": email.title()})
    assert [item["id"] for item in live.json()["items"]] == [first.complaint_id]
    nobody = await lan.http.get("/api/v1/customers/complaints", params={"phone": " ", "email": ""})
    assert nobody.json() == {"items": []}


async def test_badges_and_the_to_verify_queue(
    app: FastAPI,  # noqa: F811
    dev_env: WorkflowEnvironment,
    settings: Settings,
    sessions: Sessions,
) -> None:
    suffix, _, email, name = customer()
    client, now = dev_env.client, datetime.now(UTC)

    async def filed(days_ago: float, first_response: timedelta) -> str:
        complaint = intake(Channel.EMAIL, name=name, email=email, phone=None)
        complaint = complaint.model_copy(update={"received_at": now - timedelta(days=days_ago)})
        policy = settings.model_copy(update={"sla_first_response": first_response})
        return (await file_complaint(client, policy, complaint)).complaint_id

    # Filed later but due first: its first-response target is shorter (its 20 days end later).
    later_first = await filed(0, timedelta(hours=1))
    earlier_second = await filed(1 / 24, timedelta(hours=3))
    warned = await filed(16, timedelta(days=1))
    overdue = await filed(21, timedelta(days=1))
    await until_stages(sessions, dict.fromkeys((later_first, earlier_second, warned, overdue), "received"))
    await until(sessions, warned, lambda row: row.warned)
    await until(sessions, overdue, lambda row: row.overdue)

    lan = await Browser(app).login("lan.cs", lang="vi")
    work = (await lan.get("/")).text
    queue = section(work, "<h2>Cần xác minh")
    order = re.findall(r'href="/complaints/(KN-[0-9A-Z]+)"', queue)
    assert later_first in order and earlier_second in order, queue
    assert order.index(later_first) < order.index(earlier_second)

    listed = (await lan.get(f"/complaints?q={suffix}")).text

    def badges(cid: str) -> list[str]:
        return re.findall(r'data-sla="([a-z_]+)"', row_of(listed, cid))

    assert badges(later_first) == badges(earlier_second) == ["first_response_due"]
    assert badges(warned) == ["first_response_breached", "warned"]
    assert badges(overdue) == ["first_response_breached", "overdue"]
    assert "Phản hồi đầu tiên quá hạn" in row_of(listed, warned) and "Cảnh báo" in row_of(listed, warned)
    assert "Phản hồi đầu tiên trước" in row_of(listed, later_first)

    english = await Browser(app).login("lan.cs", lang="en")
    listed = (await english.get(f"/complaints?q={suffix}")).text
    assert "First response overdue" in row_of(listed, warned) and "Warning" in row_of(listed, warned)
    assert "First response by" in row_of(listed, later_first) and "Overdue" in row_of(listed, overdue)
    await Browser(app).login("lan.cs", lang="vi")  # the language is remembered per user: leave it as found
