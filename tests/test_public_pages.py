"""The customer's public pages over HTTP (real app, real dev server, real worker, real store):
the form's guards (rate limit, honeypot, minimum time, double submit), the status page's link
(stored hashed, one 404 for every wrong link, revocable, in the acknowledgement mail), what the
page never shows (notes, staff, departments), and the rating once per closing."""

import asyncio
import hashlib
import re
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from temporalio.client import WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from admin.public_guards import HONEYPOT, intake_key
from config.settings import Settings
from domain.ids import complaint_id_for
from domain.models import Close, Decide, Escalate, Note, Reply, Resolve, Verify
from domain.vocabulary import Category, ReplyMethod, SupervisorChoice
from store.anonymise import anonymise
from store.engine import transaction
from store.tables import Complaint, OutboxMail, PublicToken
from tests.conftest import Sessions
from tests.journey import CS, TECH, TECH_SUP, decide
from tests.test_admin_pages import PASSWORD, Browser, app, until_stages  # noqa: F401

MIN_SECONDS = 1.0
LIMIT = 3
FORM = {"name": "Trần Thị Bích", "phone": "0912 345 678", "email": "bich.tran@example.vn",
        "category": "technical", "description": "Mạng chập chờn từ tối qua, không xem được phim."}  # fmt: skip
NOT_FOUND_TEXT = "Trang này không tồn tại."


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The guards at test scale: a second's minimum time, three posts per address."""
    return settings.model_copy(update={"public_form_min_seconds": MIN_SECONDS, "public_form_limit": LIMIT})


class Customer:
    """A browser without an account, from one client address."""

    def __init__(self, application: FastAPI, address: str) -> None:
        transport = httpx.ASGITransport(app=application, client=(address, 40000))
        self.http = httpx.AsyncClient(transport=transport, base_url="http://admin.test")

    async def form(self, lang: str | None = None) -> str:
        page = await self.http.get("/public/complaints/new" + (f"?lang={lang}" if lang else ""))
        assert page.status_code == 200, page.text
        found = re.search(r'name="stamp" value="([^"]+)"', page.text)
        assert found, "no stamp in the form"
        return found.group(1)

    async def post(self, stamp: str, **fields: str) -> httpx.Response:
        return await self.http.post("/public/complaints/new", data=FORM | {"stamp": stamp} | fields)

    async def file(self, **fields: str) -> tuple[str, str]:
        """Fill the form in, as a person does (not at once), send it: the status page's path."""
        stamp = await self.form()
        await asyncio.sleep(MIN_SECONDS)
        sent = await self.post(stamp, **fields)
        assert sent.status_code == 303, sent.text
        return sent.headers["location"].split("?")[0], stamp


def stamp_nonce(application: FastAPI, stamp: str) -> str:
    read = application.state.public_stamps.read(stamp)
    assert read is not None
    return intake_key(read)


async def never_filed(application: FastAPI, stamp: str, client: Any) -> None:
    """No workflow was started for the form's intake key."""
    complaint_id = complaint_id_for(stamp_nonce(application, stamp), 0)
    handle: WorkflowHandle[Any, Any] = client.get_workflow_handle(complaint_id)
    with pytest.raises(RPCError) as missing:
        await handle.describe()
    assert missing.value.status is RPCStatusCode.NOT_FOUND


async def test_the_form_files_once_and_answers_with_the_status_page(app: FastAPI, sessions: Sessions) -> None:  # noqa: F811
    customer = Customer(app, "198.51.100.10")
    stamp = await customer.form()
    await asyncio.sleep(MIN_SECONDS)
    name = "Trần Thị Bích Ngọc"  # this test's own: other modules file FORM's name in the same store
    first = await customer.post(stamp, name=name)
    again = await customer.post(stamp, name=name)  # a double click, or the form sent again after a timeout
    assert (first.status_code, again.status_code) == (303, 303), (first.text, again.text)
    assert first.headers["location"] == again.headers["location"]
    path = first.headers["location"].split("?")[0]
    complaint_id, token = path.split("/")[-2:]
    assert complaint_id == complaint_id_for(stamp_nonce(app, stamp), 0)

    page = await customer.http.get(first.headers["location"])
    assert page.status_code == 200, page.text
    assert complaint_id in page.text and 'data-notice="filed"' in page.text
    assert 'data-customer-stage="received"' in page.text and "Đã tiếp nhận" in page.text
    assert "data-deadline" in page.text and "data-first-response" in page.text  # by when
    assert "Bộ phận Dịch vụ khách hàng kiểm tra khiếu nại" in page.text  # what happens next
    assert page.headers["referrer-policy"] == "no-referrer" and page.headers["cache-control"] == "no-store"

    await until_stages(sessions, {complaint_id: "received"})
    async with sessions() as session:
        rows = list(await session.scalars(select(Complaint).where(Complaint.customer_name == name)))
        tokens = list(await session.scalars(select(PublicToken).where(PublicToken.complaint_id == complaint_id)))
    assert [r.id for r in rows] == [complaint_id] and rows[0].channel == "web"
    assert rows[0].subject == "Kỹ thuật" and rows[0].body == FORM["description"]
    # the form's token and the acknowledgement mail's; only their hashes are stored
    assert {t.purpose for t in tokens} == {"form", "mail"}
    assert hashlib.sha256(token.encode()).hexdigest() in {t.token_hash for t in tokens}
    assert all(token not in (t.token_hash,) for t in tokens)


async def test_the_acknowledgement_mail_carries_a_working_link(
    app: FastAPI,  # noqa: F811
    sessions: Sessions,
    settings: Settings,
) -> None:
    customer = Customer(app, "198.51.100.11")
    path, _ = await customer.file(email="mail.link@example.vn")
    complaint_id = path.split("/")[-2]
    mail = None
    for _ in range(200):
        async with sessions() as session:
            mail = await session.scalar(
                select(OutboxMail).where(
                    OutboxMail.complaint_id == complaint_id, OutboxMail.purpose == "acknowledgement"
                )
            )
        if mail is not None:
            break
        await asyncio.sleep(0.1)
    assert mail is not None, "no acknowledgement queued"
    found = re.search(r"/public/complaints/\S+", mail.body_text)
    assert found and found.group(0).startswith(f"/public/complaints/{complaint_id}/"), mail.body_text
    assert settings.public_url + found.group(0) in mail.body_text and found.group(0) in mail.body_html
    assert found.group(0) != path, "the mail has its own token"
    page = await Customer(app, "198.51.100.12").http.get(found.group(0))
    assert page.status_code == 200 and complaint_id in page.text


async def test_the_honeypot_files_nothing(app: FastAPI, dev_env: Any) -> None:  # noqa: F811
    customer = Customer(app, "198.51.100.20")
    stamp = await customer.form()
    await asyncio.sleep(MIN_SECONDS)
    sent = await customer.post(stamp, **{HONEYPOT: "http://spam.example"})
    assert sent.status_code == 400 and "Không gửi được biểu mẫu." in sent.text
    await never_filed(app, stamp, dev_env.client)


async def test_a_form_sent_too_fast_files_nothing_until_sent_again(app: FastAPI, dev_env: Any) -> None:  # noqa: F811
    customer = Customer(app, "198.51.100.30")
    stamp = await customer.form()
    sent = await customer.post(stamp)
    assert sent.status_code == 400 and "quá nhanh" in sent.text
    assert FORM["description"] in sent.text, "what was typed is kept"
    await never_filed(app, stamp, dev_env.client)
    await asyncio.sleep(MIN_SECONDS)  # a person who reads the message and sends again
    assert (await customer.post(stamp)).status_code == 303


async def test_a_made_up_stamp_files_nothing(app: FastAPI) -> None:  # noqa: F811
    customer = Customer(app, "198.51.100.40")
    stamp = await customer.form()
    forged = stamp[:-2] + ("AA" if not stamp.endswith("AA") else "BB")
    sent = await customer.post(forged)
    assert sent.status_code == 400 and "đã hết hạn" in sent.text
    sent = await customer.post("")
    assert sent.status_code == 400


async def test_the_rate_limit_is_per_address(app: FastAPI) -> None:  # noqa: F811
    noisy, other = Customer(app, "203.0.113.9"), Customer(app, "203.0.113.10")
    stamp = await noisy.form()
    for _ in range(LIMIT):  # posts count whatever becomes of them (here: the honeypot)
        assert (await noisy.post(stamp, **{HONEYPOT: "x"})).status_code == 400
    await asyncio.sleep(MIN_SECONDS)
    limited = await noisy.post(stamp)
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) > 0
    assert "quá nhiều khiếu nại" in limited.text.lower()
    assert (await other.file())[0].startswith("/public/complaints/"), "another address is not limited"


async def test_the_invalid_form_says_which_field(app: FastAPI) -> None:  # noqa: F811
    customer = Customer(app, "198.51.100.50")
    stamp = await customer.form()
    await asyncio.sleep(MIN_SECONDS)
    sent = await customer.post(stamp, phone="", email="", category="weather", description="  ")
    assert sent.status_code == 422
    for message in ("số điện thoại hoặc địa chỉ email", "chọn nội dung liên quan", "mô tả nội dung khiếu nại"):
        assert message in sent.text
    assert FORM["name"] in sent.text


async def test_english_on_the_toggle(app: FastAPI) -> None:  # noqa: F811
    customer = Customer(app, "198.51.100.60")
    vietnamese = await customer.http.get("/public/complaints/new")
    assert "Gửi khiếu nại" in vietnamese.text and '<html lang="vi">' in vietnamese.text
    english = await customer.http.get("/public/complaints/new?lang=en")
    assert "Send a complaint" in english.text and '<html lang="en">' in english.text
    assert (await customer.http.get("/public/complaints/new")).text.count("Send a complaint") > 0, "remembered"


async def test_every_wrong_link_gets_the_same_404(app: FastAPI, sessions: Sessions) -> None:  # noqa: F811
    customer = Customer(app, "198.51.100.70")
    path, _ = await customer.file()
    other_path, _ = await customer.file(name="Lê Văn Cường")
    complaint_id, token = path.split("/")[-2:]
    other_id = other_path.split("/")[-2]
    wrong = [
        f"/public/complaints/{complaint_id}/{token[:-1]}{'A' if token[-1] != 'A' else 'B'}",  # one character off
        f"/public/complaints/{other_id}/{token}",  # a real token, another complaint
        f"/public/complaints/KN-ZZZZZZ/{token}",  # no such complaint
        f"/public/complaints/{complaint_id}/x",
        f"/public/complaints/{'K' * 500}/{token}",
    ]
    pages = [await customer.http.get(url) for url in wrong]
    assert {p.status_code for p in pages} == {404}
    assert len({p.text for p in pages}) == 1 and NOT_FOUND_TEXT in pages[0].text
    rated = await customer.http.post(f"{wrong[1]}/rate", data={"score": "5"})
    assert rated.status_code == 404 and rated.text == pages[0].text
    assert (await customer.http.get(path)).status_code == 200


async def test_the_status_page_shows_the_replies_and_never_internal_data(
    app: FastAPI,  # noqa: F811
    sessions: Sessions,
    dev_env: Any,
) -> None:
    # The seeded staff's full names (store/seed.py), which the page must never show. Not renamed
    # here: the store is shared by the session's tests, and others show these names.
    staff_names = ["Lê Quang Minh", "Nguyễn Thị Lan"]
    customer = Customer(app, "198.51.100.80")
    path, _ = await customer.file()
    complaint_id = path.split("/")[-2]
    handle = dev_env.client.get_workflow_handle(complaint_id)
    secrets_ = {
        "note": "GHI-CHU-NOI-BO khách hay gọi, ưu tiên thấp",
        "summary": "TOM-TAT-NOI-BO modem lỗi",
        "cause": "NGUYEN-NHAN-NOI-BO cấu hình sai ở trạm",
        "instructions": "CHI-DAO-NOI-BO cho thay modem",
        "draft": "BAN-NHAP-NOI-BO",
    }
    reply = "Chúng tôi đã thay modem cho Quý khách; mạng đã ổn định."
    await decide(handle, "verify", Verify(actor=CS, summary=secrets_["summary"], category=Category.TECHNICAL))
    await decide(handle, "note", Note(actor=TECH, text=secrets_["note"]))
    await decide(handle, "escalate", Escalate(actor=TECH, reason="Cần thay thiết bị"))

    await decide(
        handle,
        "decide",
        Decide(actor=TECH_SUP, decision=SupervisorChoice.RETURN, instructions=secrets_["instructions"]),
    )
    await decide(handle, "resolve", Resolve(actor=TECH, cause=secrets_["cause"], resolution="Thay modem",
                                            within_authority=True, reply_draft=secrets_["draft"]))  # fmt: skip
    await decide(handle, "reply", Reply(actor=CS, method=ReplyMethod.EMAIL, message=reply))
    await until_stages(sessions, {complaint_id: "replied"})

    page = await customer.http.get(path)
    assert page.status_code == 200
    assert 'data-customer-stage="replied"' in page.text and "Đã trả lời" in page.text
    assert reply in page.text and page.text.count("data-reply") == 1
    for hidden in [*secrets_.values(), *staff_names, "minh.tech", "lan.cs", "tuan.tech", "TECH",
                   "Kỹ thuật (TECH)", "Bộ phận Kỹ thuật", "Chuyển cấp trên", "Cần thay thiết bị"]:  # fmt: skip
        assert hidden not in page.text, hidden
    english = await customer.http.get(f"{path}?lang=en")
    assert "Replied" in english.text and reply in english.text
    assert all(hidden not in english.text for hidden in [*secrets_.values(), "Technical", "minh.tech"])


async def test_rating_once_per_closing_and_staff_see_it(app: FastAPI, sessions: Sessions, dev_env: Any) -> None:  # noqa: F811
    customer = Customer(app, "198.51.100.90")
    path, _ = await customer.file()
    complaint_id = path.split("/")[-2]
    page = await customer.http.get(path)
    assert 'id="rate"' not in page.text, "no rating before the closing"
    assert (await customer.http.post(f"{path}/rate", data={"score": "5"})).status_code == 409
    handle = dev_env.client.get_workflow_handle(complaint_id)
    await decide(handle, "verify", Verify(actor=CS, summary="Mạng chập chờn", category=Category.TECHNICAL))
    await decide(handle, "resolve", Resolve(actor=TECH, cause="Modem", resolution="Thay", within_authority=True,
                                            reply_draft="Đã thay modem"))  # fmt: skip
    await decide(handle, "reply", Reply(actor=CS, method=ReplyMethod.PHONE, message="Đã gọi báo khách"))
    await decide(handle, "close", Close(actor=TECH, root_cause="Modem cũ", lessons_learned="Thay định kỳ"))
    await until_stages(sessions, {complaint_id: "closed"})

    page = await customer.http.get(path)
    assert 'data-customer-stage="closed"' in page.text and 'id="rate"' in page.text and "Đã kết thúc" in page.text
    assert not _chosen_scores(page.text)
    # A score link of the closing mail: that score chosen, nothing recorded until the customer sends it.
    chosen = await customer.http.get(f"{path}?score=4")
    assert _chosen_scores(chosen.text) == ["4"] and "data-rated" not in chosen.text
    assert not _chosen_scores((await customer.http.get(f"{path}?score=9")).text)
    refused = await customer.http.post(f"{path}/rate", data={"score": "9"})
    assert refused.status_code == 422 and "chọn mức từ 1 đến 5" in refused.text
    too_long = await customer.http.post(f"{path}/rate", data={"score": "4", "comment": "x" * 2_001})
    assert too_long.status_code == 422 and "rút gọn góp ý" in too_long.text and "x" * 2_001 in too_long.text
    rated = await customer.http.post(f"{path}/rate", data={"score": "4", "comment": "Nhân viên nhiệt tình"})
    assert rated.status_code == 303, rated.text
    twice = await customer.http.post(f"{path}/rate", data={"score": "1"})
    assert twice.status_code == 409 and "đã đánh giá lần kết thúc khiếu nại này" in twice.text

    row: Complaint | None = None
    for _ in range(200):  # projected: queryable for reports
        async with sessions() as session:
            row = await session.get(Complaint, complaint_id)
        if row is not None and row.satisfaction_score is not None:
            break
        await asyncio.sleep(0.1)
    assert row is not None
    assert (row.satisfaction_score, row.satisfaction_comment) == (4, "Nhân viên nhiệt tình")
    assert row.satisfaction_at is not None
    page = await customer.http.get(path)
    assert 'data-rated="4"' in page.text and "Nhân viên nhiệt tình" in page.text
    assert f'action="{path}/rate"' not in page.text, "rated: no rating form (a reopen request still is offered)"

    staff = await Browser(app).login("lan.cs")
    complaint_page = await staff.get(f"/complaints/{complaint_id}")
    assert 'data-satisfaction="4"' in complaint_page.text and "Nhân viên nhiệt tình" in complaint_page.text


def _chosen_scores(page: str) -> list[str]:
    return re.findall(r'name="score" value="(\d)" required checked', page)


async def test_links_are_revoked_by_staff_and_on_anonymisation(app: FastAPI, sessions: Sessions) -> None:  # noqa: F811
    customer = Customer(app, "198.51.100.100")
    path, _ = await customer.file()
    complaint_id = path.split("/")[-2]
    await until_stages(sessions, {complaint_id: "received"})
    staff = await Browser(app).login("lan.cs")
    done = await staff.submit(f"/complaints/{complaint_id}", f"/complaints/{complaint_id}/public-links/revoke", {})
    assert done.status_code == 303, done.text
    page = await customer.http.get(path)
    assert page.status_code == 404 and NOT_FOUND_TEXT in page.text
    assert 'data-public-links="0"' in (await staff.get(f"/complaints/{complaint_id}")).text

    other, _ = await customer.file(name="Hoàng Văn Em")
    other_id = other.split("/")[-2]
    await until_stages(sessions, {other_id: "received"})
    assert (await customer.http.get(other)).status_code == 200
    async with transaction(sessions) as session:
        row = await session.get(Complaint, other_id)
        assert row is not None
        request = await anonymise(session, row, "quang.manager", "Khách yêu cầu xóa dữ liệu", row.received_at)
    assert request.detail["public_links_revoked"] == 2  # the form's and the acknowledgement mail's
    assert (await customer.http.get(other)).status_code == 404
