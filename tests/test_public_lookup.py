"""The link lookup (a lost status link mailed again) over HTTP, with the real app, dev server,
worker, store and mail catcher: the page answers the same whatever was typed (status and body),
a match mails a fresh working link to the address on file and nothing else mails anything, at
most ``public_lookup_mail_limit`` link mails per complaint per window, none for an anonymised
complaint, the older links keep working, and the form's guards hold."""

import asyncio
import re
from email.message import EmailMessage
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from temporalio.client import WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from admin.public_guards import HONEYPOT, lookup_key
from admin.services.public import LinkLookup, link_lookup
from config.settings import Settings
from domain.steps import status_link_workflow_id
from localstack.mailcatcher import MailCatcher
from store.anonymise import anonymise
from store.engine import transaction
from store.tables import Complaint, OutboxMail, PublicToken
from tests.conftest import Sessions
from tests.test_admin_pages import app, until_stages  # noqa: F401
from tests.test_public_pages import MIN_SECONDS, NOT_FOUND_TEXT, Customer

MAIL_LIMIT = 3
ADDRESS_LIMIT = 6
ANSWER = "chúng tôi đã gửi đường dẫn đến trang tra cứu khiếu nại tới địa chỉ đó"
LINK = re.compile(r"/public/complaints/(KN-[A-Z0-9]{6})/([A-Za-z0-9_-]{20,})")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The guards at test scale: a second's minimum time; the mail limit per complaint as shipped."""
    return settings.model_copy(
        update={
            "public_form_min_seconds": MIN_SECONDS,
            "public_form_limit": ADDRESS_LIMIT,
            "public_lookup_mail_limit": MAIL_LIMIT,
        }
    )


async def lookup_stamp(customer: Customer, lang: str | None = None) -> str:
    page = await customer.http.get("/public/complaints/lookup" + (f"?lang={lang}" if lang else ""))
    assert page.status_code == 200, page.text
    found = re.search(r'name="stamp" value="([^"]+)"', page.text)
    assert found, "no stamp in the lookup form"
    return found.group(1)


async def post(customer: Customer, stamp: str, complaint_id: str, email: str, **extra: str) -> httpx.Response:
    data = {"stamp": stamp, "complaint_id": complaint_id, "email": email} | extra
    return await customer.http.post("/public/complaints/lookup", data=data)


def run_of(application: FastAPI, client: Any, stamp: str, complaint_id: str, email: str) -> WorkflowHandle[Any, Any]:
    read = application.state.public_stamps.read(stamp)
    asked = link_lookup({"complaint_id": complaint_id, "email": email})
    assert read is not None and isinstance(asked, LinkLookup)
    return client.get_workflow_handle(status_link_workflow_id(lookup_key(read, asked.complaint_id, asked.email)))


async def ask(
    application: FastAPI, client: Any, customer: Customer, complaint_id: str, email: str
) -> tuple[httpx.Response, bool]:
    """Fill the lookup form in as a person does, send it; the answer and whether the worker mailed."""
    stamp = await lookup_stamp(customer)
    await asyncio.sleep(MIN_SECONDS)
    answer = await post(customer, stamp, complaint_id, email)
    mailed: bool = await run_of(application, client, stamp, complaint_id, email).result()
    return answer, mailed


def mails_to(catcher: MailCatcher, address: str) -> list[EmailMessage]:
    """The link mails caught for ``address`` (its complaint's receipt is not one)."""
    return [
        m
        for m in catcher.messages()
        if address in str(m.get("To", "")).lower() and ".link." in str(m.get("Message-ID", ""))
    ]


def text_of(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert isinstance(body, EmailMessage)
    return str(body.get_content())


async def filed(customer: Customer, sessions: Sessions, email: str, name: str) -> tuple[str, str]:
    """A complaint filed from the web form, projected: its id and its form link's path."""
    path, _ = await customer.file(email=email, name=name)
    complaint_id = path.split("/")[-2]
    await until_stages(sessions, {complaint_id: "received"})
    return complaint_id, path


async def link_mails(sessions: Sessions, complaint_id: str) -> list[OutboxMail]:
    async with sessions() as session:
        rows = await session.scalars(
            select(OutboxMail).where(OutboxMail.complaint_id == complaint_id, OutboxMail.purpose == "status_link")
        )
        return list(rows)


async def test_a_match_mails_a_working_link_and_the_answer_tells_nothing(
    app: FastAPI,  # noqa: F811
    sessions: Sessions,
    dev_env: Any,
    catcher: MailCatcher,
    settings: Settings,
) -> None:
    customer = Customer(app, "198.51.100.150")
    complaint_id, old_path = await filed(customer, sessions, "Lookup.Match@Example.vn", "Phạm Thu Trang")
    asker = Customer(app, "198.51.100.151")
    matching, mailed = await ask(app, dev_env.client, asker, complaint_id.lower()[3:], "  lookup.match@EXAMPLE.VN ")
    unknown, unknown_mailed = await ask(app, dev_env.client, asker, "KN-ZZZZZZ", "lookup.match@example.vn")
    wrong, wrong_mailed = await ask(app, dev_env.client, asker, complaint_id, "lookup.wrong@example.vn")

    # One answer, whatever was typed: the same status and the same page, byte for byte.
    assert {matching.status_code, unknown.status_code, wrong.status_code} == {200}
    assert matching.text == unknown.text == wrong.text and ANSWER in matching.text
    assert complaint_id not in matching.text and "lookup.match" not in matching.text
    assert (mailed, unknown_mailed, wrong_mailed) == (True, False, False)

    sent = mails_to(catcher, "lookup.match@example.vn")
    assert len(sent) == 1 and complaint_id in str(sent[0]["Subject"])
    assert not mails_to(catcher, "lookup.wrong@example.vn"), "a wrong address is sent nothing"
    found = LINK.search(text_of(sent[0]))
    assert found and found.group(1) == complaint_id
    assert settings.public_url + found.group(0) in text_of(sent[0])
    new_path = found.group(0)
    assert new_path != old_path, "a fresh token"
    page = await Customer(app, "198.51.100.152").http.get(new_path)
    assert page.status_code == 200 and complaint_id in page.text and 'data-customer-stage="received"' in page.text
    # The links sent before keep working: a stranger who knows a case id cannot end them.
    assert (await customer.http.get(old_path)).status_code == 200
    async with sessions() as session:
        purposes = list(
            await session.scalars(select(PublicToken.purpose).where(PublicToken.complaint_id == complaint_id))
        )
    assert sorted(purposes) == ["form", "lookup", "mail"]
    assert len(await link_mails(sessions, complaint_id)) == 1


async def test_at_most_the_limit_of_link_mails_per_complaint(
    app: FastAPI,  # noqa: F811
    sessions: Sessions,
    dev_env: Any,
    catcher: MailCatcher,
) -> None:
    customer = Customer(app, "198.51.100.160")
    complaint_id, _ = await filed(customer, sessions, "lookup.flood@example.vn", "Đỗ Minh Khoa")
    answers, mailed = [], []
    for n in range(MAIL_LIMIT + 1):  # from different addresses: the per-address limit is not what holds
        answer, sent = await ask(app, dev_env.client, Customer(app, f"198.51.100.{161 + n}"), complaint_id,
                                 "lookup.flood@example.vn")  # fmt: skip
        answers.append(answer)
        mailed.append(sent)
    assert mailed == [True] * MAIL_LIMIT + [False]
    assert {a.status_code for a in answers} == {200} and len({a.text for a in answers}) == 1
    assert len(await link_mails(sessions, complaint_id)) == MAIL_LIMIT
    assert len(mails_to(catcher, "lookup.flood@example.vn")) == MAIL_LIMIT


async def test_the_limit_holds_for_requests_at_once(
    app: FastAPI,  # noqa: F811
    sessions: Sessions,
    dev_env: Any,
    catcher: MailCatcher,
) -> None:
    """Requests that reach the worker together count each other: still at most the limit."""
    customer = Customer(app, "198.51.100.200")
    complaint_id, _ = await filed(customer, sessions, "lookup.burst@example.vn", "Ngô Thanh Hà")
    askers = [Customer(app, f"198.51.100.{201 + n}") for n in range(MAIL_LIMIT + 2)]
    stamps = [await lookup_stamp(asker) for asker in askers]
    await asyncio.sleep(MIN_SECONDS)
    answers = await asyncio.gather(
        *(
            post(asker, stamp, complaint_id, "lookup.burst@example.vn")
            for asker, stamp in zip(askers, stamps, strict=True)
        )
    )
    assert {a.status_code for a in answers} == {200} and len({a.text for a in answers}) == 1
    burst = "lookup.burst@example.vn"
    mailed = await asyncio.gather(*(run_of(app, dev_env.client, s, complaint_id, burst).result() for s in stamps))
    assert sorted(mailed) == [False] * 2 + [True] * MAIL_LIMIT
    assert len(await link_mails(sessions, complaint_id)) == MAIL_LIMIT
    async with sessions() as session:
        tokens = await session.scalars(
            select(PublicToken).where(PublicToken.complaint_id == complaint_id, PublicToken.purpose == "lookup")
        )
        assert len(list(tokens)) == MAIL_LIMIT, "a mail over the limit leaves no token behind"
    assert len(mails_to(catcher, "lookup.burst@example.vn")) == MAIL_LIMIT


async def test_the_same_form_sent_again_with_a_typo_corrected_asks_again(
    app: FastAPI,  # noqa: F811
    sessions: Sessions,
    dev_env: Any,
    catcher: MailCatcher,
) -> None:
    """Back, correct the address, send: a request of its own (it used to be taken for the first
    one sent again, and nothing was ever mailed)."""
    complaint_id, _ = await filed(Customer(app, "198.51.100.210"), sessions, "lookup.typo@example.vn", "Lê Văn Hòa")
    asker = Customer(app, "198.51.100.211")
    stamp = await lookup_stamp(asker)
    await asyncio.sleep(MIN_SECONDS)
    await post(asker, stamp, complaint_id, "lookup.typp@example.vn")
    assert await run_of(app, dev_env.client, stamp, complaint_id, "lookup.typp@example.vn").result() is False
    await post(asker, stamp, complaint_id, "lookup.typo@example.vn")
    assert await run_of(app, dev_env.client, stamp, complaint_id, "lookup.typo@example.vn").result() is True
    assert len(mails_to(catcher, "lookup.typo@example.vn")) == 1


async def test_an_anonymised_complaint_is_sent_nothing(
    app: FastAPI,  # noqa: F811
    sessions: Sessions,
    dev_env: Any,
    catcher: MailCatcher,
) -> None:
    customer = Customer(app, "198.51.100.170")
    complaint_id, _ = await filed(customer, sessions, "lookup.erased@example.vn", "Bùi Văn Tâm")
    async with transaction(sessions) as session:
        row = await session.get(Complaint, complaint_id)
        assert row is not None
        await anonymise(session, row, "quang.manager", "Khách yêu cầu xóa dữ liệu", row.received_at)
    answer, mailed = await ask(app, dev_env.client, customer, complaint_id, "lookup.erased@example.vn")
    assert answer.status_code == 200 and ANSWER in answer.text
    assert mailed is False and not await link_mails(sessions, complaint_id)
    assert not mails_to(catcher, "lookup.erased@example.vn")


async def test_the_guards_hold_and_start_nothing(app: FastAPI, dev_env: Any) -> None:  # noqa: F811
    customer = Customer(app, "198.51.100.180")
    honeypot, fast = await lookup_stamp(customer), await lookup_stamp(customer)
    sent = await post(customer, fast, "KN-ZZZZZZ", "a@example.vn")
    assert sent.status_code == 400 and "quá nhanh" in sent.text and "KN-ZZZZZZ" in sent.text, "typed text kept"
    await asyncio.sleep(MIN_SECONDS)
    sent = await post(customer, honeypot, "KN-ZZZZZZ", "a@example.vn", **{HONEYPOT: "http://spam.example"})
    assert sent.status_code == 400 and "Không gửi được biểu mẫu." in sent.text
    assert (await post(customer, "made-up", "KN-ZZZZZZ", "a@example.vn")).status_code == 400
    bad = await post(customer, fast, "12", "not an address")
    assert bad.status_code == 422 and "ví dụ KN-7F3K9Q" in bad.text and "Địa chỉ email không hợp lệ" in bad.text
    for stamp in (honeypot, fast):
        with pytest.raises(RPCError) as missing:
            await run_of(app, dev_env.client, stamp, "KN-ZZZZZZ", "a@example.vn").describe()
        assert missing.value.status is RPCStatusCode.NOT_FOUND
    # The same form sent twice: one run, the same answer.
    twice = [await post(customer, fast, "KN-ZZZZZZ", "a@example.vn") for _ in range(2)]
    assert [t.status_code for t in twice] == [200, 200] and twice[0].text == twice[1].text
    assert await run_of(app, dev_env.client, fast, "KN-ZZZZZZ", "a@example.vn").result() is False
    limited = await post(customer, fast, "KN-ZZZZZZ", "a@example.vn")  # the address's posts: 6 so far, then 7th
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) > 0
    assert "quá nhiều yêu cầu" in limited.text.lower()


async def test_the_form_and_a_wrong_link_lead_to_the_lookup_in_both_languages(app: FastAPI) -> None:  # noqa: F811
    customer = Customer(app, "198.51.100.190")
    form = await customer.http.get("/public/complaints/new")
    assert 'href="/public/complaints/lookup"' in form.text
    wrong = await customer.http.get("/public/complaints/KN-ZZZZZZ/not-a-token")
    assert wrong.status_code == 404 and NOT_FOUND_TEXT in wrong.text
    assert "data-lost-link" in wrong.text and 'href="/public/complaints/lookup"' in wrong.text
    vietnamese = await customer.http.get("/public/complaints/lookup")
    assert "Nhận lại đường dẫn đến trang tra cứu khiếu nại" in vietnamese.text and '<html lang="vi">' in vietnamese.text
    english = await customer.http.get("/public/complaints/lookup?lang=en")
    assert "Get your status page link again" in english.text and '<html lang="en">' in english.text
    assert vietnamese.headers["cache-control"] == "no-store"
