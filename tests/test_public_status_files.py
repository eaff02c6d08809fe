"""Issue 14 §3 over HTTP (real app, real dev server, real worker, real store): the customer adds
files with their information on the status page. They are checked as the form's are (sizes,
type sniffed from the content), stored encrypted under the complaint's key, and carried by the
customer's message, so staff see them beside it in the conversation; the same post sent twice
adds the message and its files once; a file alone is information. A refused file adds nothing,
keeps what was typed and says why beside the file field, in the customer's language. The page
names the customer's files and serves none."""

import asyncio
import html
import re

from fastapi import FastAPI
from temporalio.testing import WorkflowEnvironment

from admin.public_guards import message_key
from config.settings import Settings
from domain.models import MAX_FILES_TAKEN, Direction
from domain.vocabulary import Channel
from tests.conftest import Sessions
from tests.test_admin_pages import Browser, app  # noqa: F401
from tests.test_attachments import ELF_BYTES, PDF_BYTES, PNG_BYTES
from tests.test_conversation_pages import conversation_of
from tests.test_public_messages import form_stamp, messages_of, workflow_state
from tests.test_public_pages import Customer, settings  # noqa: F401

# Over the 512 KB of an ordinary form body: the status page's form is an upload form.
REPORT = PDF_BYTES + b" " * (600 * 1024)


def attachments_error(page: str) -> str:
    found = re.search(r'id="attachments-error">([^<]*)<', page)
    assert found, "no reason beside the file field"
    return html.unescape(found.group(1))


async def test_files_added_on_the_status_page_reach_staff_once(
    app: FastAPI,  # noqa: F811
    sessions: Sessions,
    dev_env: WorkflowEnvironment,
    settings: Settings,  # noqa: F811
) -> None:
    customer = Customer(app, "198.51.100.150")
    path, _ = await customer.file(name="Phan Thị Thu")
    complaint_id = path.split("/")[-2]
    page = (await customer.http.get(path)).text
    assert 'enctype="multipart/form-data" data-form="message"' in page
    assert 'type="file" id="attachments" name="attachments" multiple' in page
    assert "tối đa 10 MB mỗi tệp và 25 MB tổng cộng" in page, "the limits, as on the form"

    stamp = form_stamp(page, "message")
    text = "Tôi gửi kèm ảnh modem và biên bản kiểm tra."
    files = [("attachments", ("anh-modem.pdf", PNG_BYTES, "application/pdf")),
             ("attachments", ("bien-ban.pdf", REPORT, "application/pdf"))]  # fmt: skip
    first = await customer.http.post(f"{path}/messages", data={"stamp": stamp, "text": text}, files=files)
    again = await customer.http.post(f"{path}/messages", data={"stamp": stamp, "text": text}, files=files)
    assert (first.status_code, again.status_code) == (303, 303), first.text[:2000]

    state = await workflow_state(dev_env, complaint_id)
    web = [m for m in state.messages if m.direction is Direction.IN and m.via is Channel.WEB and m.text == text]
    assert len(web) == 1, "the message once"
    refs = web[0].attachments
    assert [(r.name, r.content_type, r.size) for r in refs] == [
        ("anh-modem.pdf.png", "image/png", len(PNG_BYTES)),
        ("bien-ban.pdf", "application/pdf", len(REPORT)),
    ]
    for ref in refs:  # encrypted at rest under the complaint's key, stored once
        on_disk = (settings.effective_attachment_dir / complaint_id / ref.sha256).read_bytes()
        assert PDF_BYTES not in on_disk and PNG_BYTES[:16] not in on_disk

    # Staff see them beside the message in the conversation, once each, and download them.
    staff = await Browser(app).login("lan.cs")
    conversation = conversation_of((await staff.get(f"/complaints/{complaint_id}")).text)
    entry = re.search(rf"<li[^>]*>(?:(?!</li>).)*?{re.escape(text)}.*?</ul>", conversation, re.S)
    assert entry, conversation
    for ref in refs:
        href = f'href="/complaints/{complaint_id}/attachments/{ref.sha256}"'
        assert conversation.count(href) == 1 and href in entry.group(0), ref.name
    got = await staff.get(f"/complaints/{complaint_id}/attachments/{refs[1].sha256}")
    assert got.status_code == 200 and got.content == REPORT

    # The customer's page names their files and offers none of them back.
    for _ in range(100):  # shown from the store's projection
        page = (await customer.http.get(first.headers["location"])).text
        if text in messages_of(page):
            break
        await asyncio.sleep(0.1)
    shown = messages_of(page)
    assert "anh-modem.pdf.png" in shown and "bien-ban.pdf" in shown and shown.count("data-attachment") == 2
    assert "/attachments/" not in page

    # A file alone is information: its message says where it came from.
    alone = form_stamp(page, "message")
    sent = await customer.http.post(f"{path}/messages", data={"stamp": alone, "text": "  "},
                                    files=[("attachments", ("hoa-don.pdf", PDF_BYTES, "application/pdf"))])  # fmt: skip
    assert sent.status_code == 303, sent.text[:2000]
    state = await workflow_state(dev_env, complaint_id)
    [only] = [m for m in state.messages if m.message_id == message_key(app.state.public_stamps.read(alone))]
    assert only.text == "Tệp đính kèm gửi từ trang tra cứu khiếu nại."
    assert [(r.name, r.content_type) for r in only.attachments] == [("hoa-don.pdf", "application/pdf")]


async def test_a_refused_file_adds_nothing_and_keeps_the_text(
    app: FastAPI,  # noqa: F811
    dev_env: WorkflowEnvironment,
    settings: Settings,  # noqa: F811
) -> None:
    customer = Customer(app, "198.51.100.160")
    path, _ = await customer.file(name="Đoàn Văn Lực")
    complaint_id = path.split("/")[-2]
    stamp = form_stamp((await customer.http.get(path)).text, "message")
    text = "Ảnh chụp màn hình lỗi thanh toán, xem tệp kèm theo."

    # An executable named .pdf: refused beside the field, what was typed kept, nothing added.
    program = [("attachments", ("scan.pdf", ELF_BYTES, "application/pdf"))]
    refused = await customer.http.post(f"{path}/messages", data={"stamp": stamp, "text": text}, files=program)
    assert refused.status_code == 422, refused.text[:2000]
    assert attachments_error(refused.text) == (
        "Tệp scan.pdf không thuộc loại được chấp nhận (ảnh, PDF, tài liệu văn phòng, âm thanh)."
    )
    assert f">{html.escape(text, quote=False)}</textarea>" in refused.text
    assert 'aria-describedby="attachments-error"' in refused.text
    assert form_stamp(refused.text, "message") == stamp, "the same form: sent again, it is added once"
    english = await customer.http.post(f"{path}/messages", data={"stamp": stamp, "text": text, "lang": "en"},
                                       files=program)  # fmt: skip
    assert english.status_code == 422
    assert attachments_error(english.text) == (
        "The file scan.pdf is not a type we accept (images, PDF, office documents, audio)."
    )
    state = await workflow_state(dev_env, complaint_id)
    assert not [m for m in state.messages if m.direction is Direction.IN], "nothing was added"
    assert not (settings.effective_attachment_dir / complaint_id).exists(), "nothing was stored"

    # More files than one message carries: refused the same way, the limit named.
    many = [("attachments", (f"anh-{n}.png", PNG_BYTES, "image/png")) for n in range(MAX_FILES_TAKEN + 1)]
    neighbour = Customer(app, "198.51.100.161")  # posts of one address are rate-limited
    crowded = await neighbour.http.post(f"{path}/messages", data={"stamp": stamp, "text": text}, files=many)
    assert crowded.status_code == 422, crowded.text[:2000]
    assert attachments_error(crowded.text) == f"Mỗi lần gửi chỉ được kèm tối đa {MAX_FILES_TAKEN} tệp."
    assert f">{html.escape(text, quote=False)}</textarea>" in crowded.text
    assert not (settings.effective_attachment_dir / complaint_id).exists(), "nothing was stored"

    # Sent again with an allowed file: added, once.
    fixed = [("attachments", ("man-hinh.png", PNG_BYTES, "image/png"))]
    sent = await customer.http.post(f"{path}/messages", data={"stamp": stamp, "text": text}, files=fixed)
    assert sent.status_code == 303, sent.text[:2000]
    state = await workflow_state(dev_env, complaint_id)
    added = [m for m in state.messages if m.direction is Direction.IN]
    assert [(m.text, [a.name for a in m.attachments]) for m in added] == [(text, ["man-hinh.png"])]
