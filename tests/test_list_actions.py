"""The complaint list's actions over HTTP (real app, real dev server, real worker): saved views
per user, bulk reroute and bulk assign through the workflow's own decision path (done and
refused, each shown by complaint), and the export of the current filter as CSV and XLSX (read back), with formulas
neutralised and only the rows the user may see."""

import asyncio
import csv
import io
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import openpyxl
from fastapi import FastAPI
from sqlalchemy import insert, select

from domain.models import Assign, Verify
from domain.vocabulary import Category
from intake.filing import file_complaint
from store.tables import Complaint
from tests.conftest import Sessions
from tests.journey import CS, TECH, TECH_SUP, decide, intake
from tests.test_admin_pages import Browser, app, csrf, until_stages  # noqa: F401
from tests.test_search_order import row

FORMULA = '=HYPERLINK("http://evil.example","bấm")'


async def stored(sessions: Sessions, token: str) -> dict[str, str]:
    """Complaints straight into the store (the export reads the store only): two of CS, two of
    TECH, all carrying ``token``; one subject is a formula. Their ids by name."""
    at = datetime.now(UTC) - timedelta(hours=1)
    rows = []
    for i, (department, subject) in enumerate([("CS", FORMULA), ("CS", "+84 gọi lại"), ("TECH", "-mạng chậm"),
                                               ("TECH", "@mất kết nối")]):  # fmt: skip
        r = row(i, at + timedelta(minutes=i), f"{token} cáp quang", department=department, name=f"Khách {token}")
        r |= {"id": f"KN-{token[:4].upper()}{i:02d}", "subject": subject}
        rows.append(r)
    async with sessions() as session:
        await session.execute(insert(Complaint), rows)
        await session.commit()
    return {r["subject"]: r["id"] for r in rows}


async def test_saved_views_round_trip_per_user(app: FastAPI) -> None:  # noqa: F811
    lan = await Browser(app).login("lan.cs", lang="vi")
    query = "stage=in_progress&sort=deadline&department=TECH&after=junk"
    saved = await lan.submit("/complaints", "/complaints/views", {"name": " Kỹ thuật  đang xử lý ", "query": query})
    assert saved.status_code == 303
    listed = await lan.get(saved.headers["location"])
    assert "Kỹ thuật đang xử lý" in listed.text
    view_id = listed.text.split('href="/complaints/views/')[1].split('"')[0]
    opened = await lan.http.get(f"/complaints/views/{view_id}")
    assert opened.status_code == 303
    location = opened.headers["location"]
    assert "stage=in_progress" in location and "sort=deadline" in location and "department=TECH" in location
    assert "after=" not in location  # a view keeps the filters, not the page
    page = await lan.get(location)
    assert 'value="deadline" selected' in page.text

    minh = await Browser(app).login("minh.tech", lang="vi")
    theirs = await minh.get("/complaints")
    assert "Kỹ thuật đang xử lý" not in theirs.text
    assert (await minh.http.get(f"/complaints/views/{view_id}")).status_code == 404
    refused = await minh.submit("/complaints", f"/complaints/views/{view_id}/delete", {})
    assert refused.status_code == 404
    assert "Kỹ thuật đang xử lý" in (await lan.get("/complaints")).text  # still there

    deleted = await lan.submit("/complaints", f"/complaints/views/{view_id}/delete", {})
    assert deleted.status_code == 303
    assert "Kỹ thuật đang xử lý" not in (await lan.get("/complaints")).text
    assert (await lan.http.get(f"/complaints/views/{view_id}")).status_code == 404

    unnamed = await lan.submit("/complaints", "/complaints/views", {"name": "   ", "query": "sort=stage\r\nX: y"})
    assert unnamed.status_code == 303 and "view_error=1" in unnamed.headers["location"]
    assert "\n" not in unnamed.headers["location"]
    assert "Hãy đặt tên cho bộ lọc" in (await lan.get(unnamed.headers["location"])).text


async def test_bulk_reroute_shows_each_outcome(app: FastAPI, dev_env: Any, settings: Any, sessions: Sessions) -> None:  # noqa: F811
    client = dev_env.client
    verified = (await file_complaint(client, settings, intake())).complaint_id
    waiting = (await file_complaint(client, settings, intake())).complaint_id
    handle = client.get_workflow_handle(verified)
    await decide(handle, "verify", Verify(actor=CS, summary="Mạng chậm", category=Category.TECHNICAL))
    await until_stages(sessions, {verified: "in_progress", waiting: "received"})

    supervisor = await Browser(app).login("tuan.tech", lang="vi")
    listing = await supervisor.get("/complaints?department=TECH")
    assert 'form="bulk"' in listing.text and f'value="{verified}"' in listing.text
    form: dict[str, str | list[str]] = {"complaint": [verified, waiting], "action": "reroute",
                                        "department": "BILLING", "reason": "Sai bộ phận",
                                        "csrf_token": csrf(listing.text)}  # fmt: skip
    result = await supervisor.http.post("/complaints/bulk", data=form)
    assert result.status_code == 200, result.text
    done, refused = (result.text.split(f'href="/complaints/{cid}"')[1].split("</tr>")[0] for cid in (verified, waiting))
    assert "Đã xong" in done
    assert "Đã xong" not in refused and 'class="refusal"' in refused
    for _ in range(300):  # the worker projects the reroute
        async with sessions() as session:
            moved = await session.get(Complaint, verified)
        if moved is not None and moved.department_code == "BILLING":
            break
        await asyncio.sleep(0.2)
    else:
        raise AssertionError("the reroute was not projected")

    agent = await Browser(app).login("minh.tech", lang="vi")
    assert 'form="bulk"' not in (await agent.get("/complaints")).text
    denied = await agent.submit("/complaints", "/complaints/bulk", {"complaint": waiting, "action": "reroute"})
    assert denied.status_code == 403


async def test_export_csv_and_xlsx_of_the_current_filter(app: FastAPI, sessions: Sessions) -> None:  # noqa: F811
    token = uuid.uuid4().hex[:10]
    ids = await stored(sessions, token)
    lan = await Browser(app).login("lan.cs", lang="vi")
    answer = await lan.http.get(f"/complaints/export.csv?q={token}&sort=deadline")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    assert answer.content.startswith("\ufeff".encode())
    table = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert table[0][0] == "Mã khiếu nại" and "Trạng thái" in table[0]
    by_id = {line[0]: line for line in table[1:]}
    assert set(by_id) == set(ids.values())
    assert by_id[ids[FORMULA]][3] == "'" + FORMULA
    assert by_id[ids["+84 gọi lại"]][3] == "'+84 gọi lại"
    assert by_id[ids["-mạng chậm"]][3] == "'-mạng chậm"
    assert by_id[ids["@mất kết nối"]][3] == "'@mất kết nối"

    english = await Browser(app).login("quang.manager", lang="en")
    xlsx = await english.http.get(f"/complaints/export.xlsx?q={quote(token)}")
    assert xlsx.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content), read_only=True).worksheets[0]
    cells = list(sheet.iter_rows())
    assert cells[0][0].value == "Complaint ID"
    by_id_x = {line[0].value: line for line in cells[1:]}
    assert set(by_id_x) == set(ids.values())
    formula = by_id_x[ids[FORMULA]][3]
    assert formula.value == FORMULA and formula.data_type == "s"  # text, never evaluated
    assert isinstance(by_id_x[ids[FORMULA]][9].value, datetime)


async def test_a_department_export_holds_only_its_complaints(app: FastAPI, sessions: Sessions) -> None:  # noqa: F811
    token = uuid.uuid4().hex[:10]
    ids = await stored(sessions, token)
    minh = await Browser(app).login("minh.tech", lang="vi")
    for kind in ("csv", "xlsx"):
        assert await exported(minh, kind, f"q={token}") == {ids["-mạng chậm"], ids["@mất kết nối"]}
        assert await exported(minh, kind, f"q={token}&department=CS") == set()  # asking for another's: nothing
        assert await exported(minh, kind, "department=CS") == set()


async def exported(browser: Browser, kind: str, query: str) -> set[str]:
    """The complaint ids of an export (the first column, less its header)."""
    answer = await browser.http.get(f"/complaints/export.{kind}?{query}")
    assert answer.status_code == 200, answer.text
    if kind == "csv":
        lines = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
        return {line[0] for line in lines[1:]}
    sheet = openpyxl.load_workbook(io.BytesIO(answer.content), read_only=True).worksheets[0]
    return {str(line[0].value) for line in list(sheet.iter_rows())[1:]}


async def test_bulk_assign_goes_through_each_complaints_decision(
    app: FastAPI,  # noqa: F811
    dev_env: Any,
    settings: Any,
    sessions: Sessions,
) -> None:
    """A supervisor picks someone they may assign (domain.access.may_be_assigned) and assigns the
    selected complaints, each through the assign decision: one done, one of a department the
    assignee does not work on refused by name, one already theirs refused by the workflow."""
    client = dev_env.client
    ids = {}
    for name, category in (("tech", Category.TECHNICAL), ("billing", Category.BILLING), ("taken", Category.TECHNICAL)):
        ids[name] = (await file_complaint(client, settings, intake())).complaint_id
        await decide(client.get_workflow_handle(ids[name]), "verify",
                     Verify(actor=CS, summary="Khiếu nại", category=category))  # fmt: skip
    await decide(client.get_workflow_handle(ids["taken"]), "assign", Assign(actor=TECH_SUP, assignee=TECH.user))
    await until_stages(sessions, dict.fromkeys(ids.values(), "in_progress"))

    supervisor = await Browser(app).login("tuan.tech", lang="vi")
    picker = re.search(r'<select name="assignee" data-bulk="assignee">(.*?)</select>',
                       (await supervisor.get("/complaints")).text, re.S)  # fmt: skip
    assert picker and "Lê Quang Minh" in picker.group(1)
    assert "Đỗ Thu Hà" not in picker.group(1)  # a billing clerk works on no TECH complaint

    manager = await Browser(app).login("quang.manager", lang="vi")
    listing = await manager.get("/complaints?stage=in_progress")
    assert 'name="action" value="assign"' in listing.text
    form: dict[str, str | list[str]] = {"complaint": [ids["tech"], ids["billing"], ids["taken"]], "action": "assign",
                                        "assignee": TECH.user, "csrf_token": csrf(listing.text)}  # fmt: skip
    result = await manager.http.post("/complaints/bulk", data=form)
    assert result.status_code == 200, result.text
    rows = {name: result.text.split(f'href="/complaints/{cid}"')[1].split("</tr>")[0] for name, cid in ids.items()}
    assert "Đã xong" in rows["tech"] and 'class="refusal"' not in rows["tech"]
    assert (
        'class="refusal"' in rows["billing"]
        and "Lê Quang Minh không xử lý khiếu nại của bộ phận này." in rows["billing"]
    )
    assert 'class="refusal"' in rows["taken"] and "Đã xong" not in rows["taken"]
    assert "Đã xong: 1/3." in result.text
    async with sessions() as session:
        rows_now = {
            row.id: row.assignee
            for row in await session.scalars(select(Complaint).where(Complaint.id.in_(ids.values())))
        }
    assert rows_now == {ids["tech"]: TECH.user, ids["billing"]: None, ids["taken"]: TECH.user}

    nobody = await manager.http.post("/complaints/bulk", data=form | {"assignee": ""})
    assert nobody.status_code == 422 and "Hãy chọn người phụ trách." in nobody.text
