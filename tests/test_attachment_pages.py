"""Issue 14 §2 over HTTP (real app, real dev server, real worker, real store): CS adds a scanned
letter and a screenshot to a complaint with the page's form (a ``customer_message``); staff
whose scope includes the complaint download them as attachments with nosniff, images are
previewed inline as images, another department is refused, refused files say why in Vietnamese
and record nothing, and the bytes on disk are not the file."""

import asyncio
import hashlib
import html
import re
import uuid
from datetime import timedelta
from email.message import EmailMessage
from urllib.parse import quote

import pytest
from fastapi import FastAPI
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from admin.accounts import set_account
from admin.services.complaints import ComplaintService
from admin.users import User
from config.settings import Settings
from domain.models import ComplaintState
from domain.vocabulary import Channel, Role
from intake.customer_messages import add_customer_message
from intake.filing import file_complaint
from intake.mail_intake import MailIntake, Outcome
from store.archive import load_archive
from store.attachments import GONE, AttachmentRefused, AttachmentStore
from store.engine import transaction
from temporal_client.connection import data_converter
from tests.conftest import Sessions
from tests.journey import decide, intake, running_worker
from tests.stages import CLOSE, REPLY, RESOLVE, VERIFY
from tests.test_admin_pages import PASSWORD, Browser, app, csrf, until_stages  # noqa: F401
from tests.test_attachments import EXE_BYTES, PDF_BYTES, PNG_BYTES
from tests.test_complaint_keys import connected
from tests.test_public_pages import FORM, MIN_SECONDS, Customer, never_filed


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The public form's minimum time at test scale."""
    return settings.model_copy(update={"public_form_min_seconds": MIN_SECONDS})


LETTER = "Thư khiếu nại gửi qua bưu điện, bản quét.pdf"


async def test_staff_add_download_and_preview_files_within_their_scope(
    app: FastAPI,  # noqa: F811
    dev_env: WorkflowEnvironment,
    settings: Settings,
    sessions: Sessions,
) -> None:
    client = dev_env.client
    cid = (await file_complaint(client, settings, intake())).complaint_id
    await decide(client.get_workflow_handle(cid), "verify", VERIFY)  # routed to TECH
    await until_stages(sessions, {cid: "in_progress"})
    page_url, action = f"/complaints/{cid}", f"/complaints/{cid}/actions/customer_message"
    cs = await Browser(app).login("lan.cs", lang="vi")

    # A file the bytes say is an executable is refused, whatever its name; nothing is recorded.
    token = csrf((await cs.get(page_url)).text)
    form = {"text": "Thư của khách", "via": "post", "reopen_requested": "false", "csrf_token": token}
    refused = await cs.http.post(action, data=form, files=[("attachments", ("anh.jpg", EXE_BYTES, "image/jpeg"))])
    assert refused.status_code == 422, refused.text
    error = re.search(r'id="customer_message-attachments-error">([^<]*)<', refused.text)
    assert error and html.unescape(error.group(1)) == (
        "Tệp anh.jpg không thuộc loại được chấp nhận (ảnh, PDF, tài liệu văn phòng, âm thanh)."
    )
    assert "Thư của khách" not in (await cs.get(page_url)).text.split('id="conversation"')[1].split("</section>")[0]

    # The letter (PDF) and a screenshot declared as a PDF (it is a PNG).
    files = [("attachments", (LETTER, PDF_BYTES, "application/pdf")),
             ("attachments", ("man-hinh.pdf", PNG_BYTES, "application/pdf"))]  # fmt: skip
    done = await cs.http.post(action, data=form | {"csrf_token": csrf((await cs.get(page_url)).text)}, files=files)
    assert done.status_code == 303, done.text
    letter_sha, shot_sha = hashlib.sha256(PDF_BYTES).hexdigest(), hashlib.sha256(PNG_BYTES).hexdigest()
    page = (await cs.get(page_url)).text
    assert f'href="/complaints/{cid}/attachments/{letter_sha}"' in page
    assert f'<img class="attachment-preview" src="/complaints/{cid}/attachments/{shot_sha}?preview=true"' in page
    assert f'src="/complaints/{cid}/attachments/{letter_sha}?preview' not in page, "only images are previewed"

    # Encrypted at rest: the files on disk are not the bytes sent.
    for sha, plain in ((letter_sha, PDF_BYTES), (shot_sha, PNG_BYTES)):
        on_disk = (settings.effective_attachment_dir / cid / sha).read_bytes()
        assert plain not in on_disk and plain[:12] not in on_disk

    # Downloaded as attachments, with their sniffed type and nosniff.
    got = await cs.http.get(f"/complaints/{cid}/attachments/{letter_sha}")
    assert got.status_code == 200 and got.content == PDF_BYTES
    assert got.headers["content-type"] == "application/pdf"
    assert got.headers["x-content-type-options"] == "nosniff"
    assert got.headers["content-disposition"].startswith('attachment; filename="')
    assert f"filename*=UTF-8''{quote(LETTER, safe='')}" in got.headers["content-disposition"]
    shot = await cs.http.get(f"/complaints/{cid}/attachments/{shot_sha}")
    assert shot.headers["content-type"] == "image/png" and shot.headers["content-disposition"].startswith("attachment")
    assert "man-hinh.pdf.png" in shot.headers["content-disposition"]
    preview = await cs.http.get(f"/complaints/{cid}/attachments/{shot_sha}?preview=true")
    assert (
        preview.headers["content-disposition"].startswith("inline") and preview.headers["content-type"] == "image/png"
    )
    assert preview.headers["x-content-type-options"] == "nosniff"
    not_image = await cs.http.get(f"/complaints/{cid}/attachments/{letter_sha}?preview=true")
    assert not_image.headers["content-disposition"].startswith("attachment"), "a PDF is never shown inline"

    # The complaint's department sees them; another department does not, even knowing the hash.
    tech = await Browser(app).login("minh.tech", lang="vi")
    assert (await tech.http.get(f"/complaints/{cid}/attachments/{letter_sha}")).content == PDF_BYTES
    other = f"billing-{uuid.uuid4().hex[:8]}"
    async with transaction(sessions) as session:
        await set_account(session, other, Role.DEPARTMENT_STAFF, "BILLING", PASSWORD)
    billing = await Browser(app).login(other, lang="vi")
    denied = await billing.http.get(f"/complaints/{cid}/attachments/{letter_sha}")
    assert denied.status_code == 403 and PDF_BYTES not in denied.content
    # A hash the complaint does not reference is not served, even to CS.
    assert (await cs.http.get(f"/complaints/{cid}/attachments/{'0' * 64}")).status_code == 404
    assert (await cs.http.get(f"/complaints/{cid}/attachments/..%2F..%2Fetc")).status_code == 404


async def test_a_file_over_the_limit_is_refused_on_the_page_with_the_reason(
    app: FastAPI,  # noqa: F811
    dev_env: WorkflowEnvironment,
    settings: Settings,
) -> None:
    # The default limit: a file of 10 MB and one byte passes the form's body limit (a message may
    # be 25 MB) and is refused by the store, with the reason beside the field.
    cid = (await file_complaint(dev_env.client, settings, intake())).complaint_id
    cs = await Browser(app).login("lan.cs", lang="en")
    page_url = f"/complaints/{cid}"
    big = PDF_BYTES + b" " * (settings.attachment_max_bytes + 1 - len(PDF_BYTES))
    form = {
        "text": "A letter",
        "via": "post",
        "reopen_requested": "false",
        "csrf_token": csrf((await cs.get(page_url)).text),
    }
    refused = await cs.http.post(f"{page_url}/actions/customer_message", data=form,
                                 files=[("attachments", ("big.pdf", big, "application/pdf"))])  # fmt: skip
    assert refused.status_code == 422, refused.text[:500]
    assert "The file big.pdf is larger than 10 MB." in html.unescape(refused.text)


async def test_the_public_form_takes_files_once_and_refuses_what_is_not_allowed(
    app: FastAPI,  # noqa: F811
    dev_env: WorkflowEnvironment,
    settings: Settings,
) -> None:
    customer = Customer(app, "198.51.100.77")
    page = await customer.http.get("/public/complaints/new")
    assert (
        'enctype="multipart/form-data"' in page.text and 'type="file" id="attachments" name="attachments"' in page.text
    )

    # An executable named .jpg: nothing is filed, the reason is beside the field.
    stamp = await customer.form()
    await asyncio.sleep(MIN_SECONDS)
    refused = await customer.http.post("/public/complaints/new", data=FORM | {"stamp": stamp},
                                       files=[("attachments", ("anh.jpg", EXE_BYTES, "image/jpeg"))])  # fmt: skip
    assert refused.status_code == 422, refused.text
    error = re.search(r'id="attachments-error">([^<]*)<', refused.text)
    assert error and "không thuộc loại được chấp nhận" in html.unescape(error.group(1))
    await never_filed(app, stamp, dev_env.client)

    # A photo and a PDF: filed, and the files on the complaint once, even if the form is sent twice.
    stamp = await customer.form()
    await asyncio.sleep(MIN_SECONDS)
    files = [("attachments", ("anh-chup.pdf", PNG_BYTES, "application/pdf")),
             ("attachments", ("hoa-don.pdf", PDF_BYTES, "application/pdf"))]  # fmt: skip
    first = await customer.http.post("/public/complaints/new", data=FORM | {"stamp": stamp}, files=files)
    again = await customer.http.post("/public/complaints/new", data=FORM | {"stamp": stamp}, files=files)
    assert (first.status_code, again.status_code) == (303, 303), first.text
    assert first.headers["location"] == again.headers["location"]
    complaint_id = first.headers["location"].split("?")[0].split("/")[-2]
    state = await dev_env.client.get_workflow_handle(complaint_id).query("state", result_type=ComplaintState)
    with_files = [m for m in state.messages if m.attachments]
    assert len(with_files) == 1 and with_files[0].via.value == "web"
    refs = with_files[0].attachments
    assert [(r.name, r.content_type) for r in refs] == [
        ("anh-chup.pdf.png", "image/png"),
        ("hoa-don.pdf", "application/pdf"),
    ]
    cs = await Browser(app).login("lan.cs", lang="vi")
    got = await cs.http.get(f"/complaints/{complaint_id}/attachments/{refs[1].sha256}")
    assert got.status_code == 200 and got.content == PDF_BYTES


def mail(subject: str, files: list[tuple[str, bytes, str]], message_id: str) -> bytes:
    message = EmailMessage()
    message["From"] = "Trần Thị Bích <bich.tran@example.vn>"
    message["To"] = "khieunai@luarong.vn"
    message["Subject"] = subject
    message["Message-ID"] = message_id
    message.set_content("Mạng chập chờn từ tối qua, tôi gửi kèm hóa đơn và ảnh chụp.")
    for name, data, declared in files:
        maintype, subtype = declared.split("/")
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return message.as_bytes()


async def test_a_mails_attachments_are_kept_and_what_is_not_allowed_left_out(
    app: FastAPI,  # noqa: F811  (runs the worker)
    dev_env: WorkflowEnvironment,
    settings: Settings,
    sessions: Sessions,
) -> None:
    intake_ = MailIntake(dev_env.client, sessions, settings)
    raw = mail("Mất mạng", [("hoa-don.pdf", PDF_BYTES, "application/pdf"), ("anh.jpg", PNG_BYTES, "image/jpeg"),
                            ("chuong-trinh.jpg", EXE_BYTES, "image/jpeg")], f"<{uuid.uuid4()}@example.vn>")  # fmt: skip
    first = await intake_.take_in(raw, "smtp")
    assert first.outcome is Outcome.FILED and first.complaint_id
    cid = first.complaint_id
    assert (await intake_.take_in(raw, "imap")).again  # the same mail the other way in: nothing twice
    handle = dev_env.client.get_workflow_handle(cid)
    state = await handle.query("state", result_type=ComplaintState)
    refs = [a for m in state.messages for a in m.attachments]
    assert [(r.name, r.content_type) for r in refs] == [
        ("hoa-don.pdf", "application/pdf"),
        ("anh.jpg.png", "image/png"),
    ]

    # A reply tagged with the case id threads on, with its file.
    reply = mail(f"Re: [{cid}] Mất mạng", [("ghi-am.mp3", b"ID3\x04\x00" + bytes(64), "audio/mpeg")],
                 f"<{uuid.uuid4()}@example.vn>")  # fmt: skip
    threaded = await intake_.take_in(reply, "smtp")
    assert (threaded.outcome, threaded.complaint_id) == (Outcome.THREADED, cid)
    state = await handle.query("state", result_type=ComplaintState)
    assert [a.content_type for m in state.messages for a in m.attachments][-1] == "audio/mpeg"
    cs = await Browser(app).login("lan.cs", lang="vi")
    got = await cs.http.get(f"/complaints/{cid}/attachments/{refs[0].sha256}")
    assert got.status_code == 200 and got.content == PDF_BYTES


async def test_anonymising_makes_the_files_unreadable_and_removes_them(
    dev_env: WorkflowEnvironment, settings: Settings, sessions: Sessions
) -> None:
    short = settings.model_copy(update={"sla_reopen_window": timedelta(seconds=2)})
    product = await Client.connect(dev_env.client.service_client.config.target_host,
                                   data_converter=data_converter(short, sessions))  # fmt: skip
    files = AttachmentStore.of(short, sessions)
    async with running_worker(product, short, sessions):
        handle = product.get_workflow_handle((await file_complaint(product, short, intake())).complaint_id)
        [ref] = await files.save_all(handle.id, [("thu.pdf", PDF_BYTES)])
        await add_customer_message(product, handle.id, "Thư gửi qua bưu điện", Channel.POST, attachments=[ref])
        for name, decision in (("verify", VERIFY), ("resolve", RESOLVE), ("reply", REPLY), ("close", CLOSE)):
            await handle.execute_update(name, decision, result_type=None)
        for _ in range(300):  # the reopen window ends, the run completes and its child archives it
            async with sessions() as session:
                if await load_archive(session, handle.id) is not None:
                    break
            await asyncio.sleep(0.2)
        else:
            raise AssertionError("never archived")
        path = short.effective_attachment_dir / handle.id / ref.sha256
        on_disk = path.read_bytes()
        manager = User("quang.manager", "Quang", Role.MANAGER, None, "vi")
        async with sessions() as session:
            await ComplaintService(session, connected(product), short).anonymise(
                manager, handle.id, "yêu cầu của khách"
            )
    assert not path.exists() and not path.parent.exists(), "the files are removed"
    # And what was on disk (a backup, say) no longer opens: the key that sealed it is gone.
    path.parent.mkdir(parents=True)
    path.write_bytes(on_disk)
    with pytest.raises(AttachmentRefused) as refused:
        await AttachmentStore.of(short, sessions).open(handle.id, ref)
    assert refused.value.msgid == GONE
