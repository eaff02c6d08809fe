"""Livechat files (issue 14): a Chatwoot message's attachments fetched from Chatwoot and kept on
the customer's message, over HTTP against the real app, a real Temporal dev server, a worker and
the real store, with real local HTTP servers standing in for Chatwoot's file host (and for a
host that is not Chatwoot: it must never be asked)."""

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from admin.services.webhooks import FILES_TEXT
from config.settings import Settings
from domain.models import AttachmentRef, ComplaintState, Message
from store.attachments import AttachmentStore
from tests.conftest import Sessions
from tests.mail_corpus import pdf, png
from tests.test_attachments import EXE_BYTES
from tests.test_webhooks import CHATWOOT_SECRET, Hooks, _hooks, conversation, message_event, new_ids

MAX_FILE = 64 * 1024  # the per-file limit in these tests
SCREENSHOT = png(40, 30, seed=14)
LETTER = pdf("Hoa don thang 11")


@dataclass
class Served:
    body: bytes
    declare_length: bool = True  # False: no Content-Length, the body streamed until the connection closes
    redirect: str | None = None  # a Location (302) instead of a body


@dataclass
class FileHost:
    """A real HTTP server on 127.0.0.1: serves ``files`` by path, records each request's path and
    how many bytes of each body it could write before the client hung up."""

    files: dict[str, Served] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    written: dict[str, int] = field(default_factory=dict)
    base: str = ""

    def url(self, path: str) -> str:
        return self.base + path


@pytest.fixture
def file_hosts() -> Iterator[tuple[FileHost, FileHost]]:
    """Chatwoot's file host, and another host on the same machine (another port: another origin)."""
    hosts = (FileHost(), FileHost())
    servers = []
    for host in hosts:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(host))
        host.base = f"http://127.0.0.1:{server.server_address[1]}"
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
    yield hosts
    for server in servers:
        server.shutdown()
        server.server_close()


def _handler(host: FileHost) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def do_GET(self) -> None:
            host.requests.append(self.path)
            served = host.files.get(self.path)
            if served is None:
                self.send_error(404)
                return
            if served.redirect is not None:
                self.send_response(302)
                self.send_header("Location", served.redirect)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            if served.declare_length:
                self.send_header("Content-Length", str(len(served.body)))
            self.end_headers()
            sent = 0
            try:
                for start in range(0, len(served.body), 64 * 1024):
                    self.wfile.write(served.body[start : start + 64 * 1024])
                    sent += min(64 * 1024, len(served.body) - start)
            except (BrokenPipeError, ConnectionResetError):
                pass
            host.written[self.path] = sent

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
async def file_hooks(
    dev_env: WorkflowEnvironment, settings: Settings, sessions: Sessions, file_hosts: tuple[FileHost, FileHost]
) -> AsyncIterator[Hooks]:
    chatwoot, _ = file_hosts
    configured = settings.model_copy(
        update={
            "chatwoot_webhook_secret": CHATWOOT_SECRET,
            "chatwoot_url": chatwoot.base + "/",
            "attachment_max_bytes": MAX_FILE,
            "message_max_bytes": 3 * MAX_FILE,
        }
    )
    async for h in _hooks(dev_env, configured, sessions):
        yield h


def attachment(attachment_id: int, data_url: str, file_type: str = "file") -> dict[str, Any]:
    """One of a message's files as Chatwoot sends it (Attachment#push_event_data)."""
    return {
        "id": attachment_id,
        "message_id": 1,
        "file_type": file_type,
        "account_id": 1,
        "extension": None,
        "data_url": data_url,
        "thumb_url": data_url,
        "file_size": 1234,
        "width": None,
        "height": None,
    }


def with_files(event: dict[str, Any], *files: dict[str, Any]) -> dict[str, Any]:
    return event | {"attachments": list(files)}


def blob(name: str) -> str:
    """Where Chatwoot's Active Storage serves a file: a redirect address ending in its name."""
    return f"/rails/active_storage/blobs/redirect/eyJfcmFpbHMi--{name.split('.')[0]}/{name}"


async def written(host: FileHost, path: str) -> int:
    """What the server could write of ``path``'s body before the client hung up."""
    for _ in range(100):
        if path in host.written:
            return host.written[path]
        await asyncio.sleep(0.05)
    raise AssertionError(f"{path} still being served")


def the_message(state: ComplaintState, message_id: int) -> Message:
    [message] = [m for m in state.messages if m.message_id == f"chatwoot:message:{message_id}"]
    return message


async def contents(settings: Settings, sessions: Sessions, cid: str, refs: list[AttachmentRef]) -> list[bytes]:
    files = AttachmentStore.of(settings, sessions)
    return [(await files.open(cid, ref)).data for ref in refs]


async def test_a_livechat_messages_files_are_fetched_from_chatwoot_and_kept_on_it_once(
    file_hooks: Hooks, file_hosts: tuple[FileHost, FileHost], settings: Settings, sessions: Sessions
) -> None:
    chatwoot, _ = file_hosts
    # As Chatwoot on local disk serves them: the blob address redirects to the file on the same host.
    chatwoot.files[blob("man-hinh.png")] = Served(b"", redirect="/rails/active_storage/disk/abc/man-hinh.png")
    chatwoot.files["/rails/active_storage/disk/abc/man-hinh.png"] = Served(SCREENSHOT)
    chatwoot.files[blob("hoa-don.pdf")] = Served(LETTER, declare_length=False)
    conv_id, msg = new_ids()
    conv = conversation(conv_id, ["khieu-nai"])
    event = with_files(message_event(conv, msg, "Ảnh chụp lỗi và hoá đơn"),
                       attachment(501, chatwoot.url(blob("man-hinh.png")), "image"),
                       attachment(502, chatwoot.url(blob("hoa-don.pdf"))))  # fmt: skip
    filed = await file_hooks.chatwoot(event)
    assert (filed.status_code, filed.json()["outcome"]) == (200, "filed"), filed.text
    cid = filed.json()["complaint_id"]

    message = the_message(await file_hooks.state(cid), msg)
    assert message.text == "Ảnh chụp lỗi và hoá đơn"
    assert [(a.name, a.content_type) for a in message.attachments] == [
        ("man-hinh.png", "image/png"),
        ("hoa-don.pdf", "application/pdf"),
    ]
    assert await contents(settings, sessions, cid, message.attachments) == [SCREENSHOT, LETTER]
    on_disk = (settings.effective_attachment_dir / cid / message.attachments[0].sha256).read_bytes()
    assert SCREENSHOT not in on_disk, "stored encrypted"
    fetched = list(chatwoot.requests)
    assert len(fetched) == 3  # the redirect, the screenshot, the letter

    # Chatwoot delivers it again (signed anew): nothing added twice, nothing fetched again.
    again = await file_hooks.chatwoot(event, age=60)
    assert again.json() == {"outcome": "added", "complaint_id": cid}, again.text
    state = await file_hooks.state(cid)
    assert [m.message_id for m in state.messages].count(f"chatwoot:message:{msg}") == 1
    assert the_message(state, msg).attachments == message.attachments
    assert chatwoot.requests == fetched


async def test_a_file_only_message_arrives_with_its_file(
    file_hooks: Hooks, file_hosts: tuple[FileHost, FileHost], settings: Settings, sessions: Sessions
) -> None:
    chatwoot, _ = file_hosts
    chatwoot.files[blob("loi.png")] = Served(SCREENSHOT)
    conv_id, msg = new_ids()
    conv = conversation(conv_id, ["khieu-nai"])
    shot = attachment(601, chatwoot.url(blob("loi.png")), "image")
    # A screenshot alone (Chatwoot sends content null), on a complaint filed already and on a new one.
    filed = (await file_hooks.chatwoot(conversation_event_of(conv))).json()["complaint_id"]
    added = await file_hooks.chatwoot(with_files(message_event(conv, msg, "") | {"content": None}, shot))
    assert added.json() == {"outcome": "added", "complaint_id": filed}, added.text
    message = the_message(await file_hooks.state(filed), msg)
    assert message.text == FILES_TEXT
    assert await contents(settings, sessions, filed, message.attachments) == [SCREENSHOT]

    other = conversation(new_ids()[0], ["khieu-nai"])
    new = await file_hooks.chatwoot(with_files(message_event(other, msg + 1, "") | {"content": None}, shot))
    assert new.json()["outcome"] == "filed", new.text
    message = the_message(await file_hooks.state(new.json()["complaint_id"]), msg + 1)
    assert message.text == FILES_TEXT and [a.name for a in message.attachments] == ["loi.png"]


def conversation_event_of(conv: dict[str, Any]) -> dict[str, Any]:
    return conv | {"event": "conversation_created"}


async def test_a_file_not_on_chatwoot_is_never_requested_and_the_message_says_so(
    file_hooks: Hooks, file_hosts: tuple[FileHost, FileHost]
) -> None:
    chatwoot, elsewhere = file_hosts
    elsewhere.files["/metadata/secret.png"] = Served(SCREENSHOT)
    # On Chatwoot's host, but redirecting elsewhere: not followed there.
    chatwoot.files[blob("chuyen-huong.png")] = Served(b"", redirect=elsewhere.url("/metadata/secret.png"))
    conv_id, msg = new_ids()
    conv = conversation(conv_id, ["khieu-nai"])
    event = with_files(
        message_event(conv, msg, "Xem ảnh"),
        attachment(701, elsewhere.url("/metadata/secret.png"), "image"),
        attachment(702, "file:///etc/passwd"),
        attachment(703, chatwoot.url(blob("chuyen-huong.png")), "image"),
        # On Chatwoot's origin but no address httpx can request (InvalidURL is no HTTPError).
        attachment(704, chatwoot.url("/rails/x\x00y/hong.png"), "image"),
    )
    response = await file_hooks.chatwoot(event)
    assert (response.status_code, response.json()["outcome"]) == (200, "filed"), response.text
    assert elsewhere.requests == []
    assert chatwoot.requests == [blob("chuyen-huong.png")]
    message = the_message(await file_hooks.state(response.json()["complaint_id"]), msg)
    assert message.attachments == []
    assert message.text == (
        "Xem ảnh\n\nTệp đính kèm không nhận được:\n"
        "Không tải được tệp secret.png từ chat trực tuyến.\n"
        "Không tải được tệp passwd từ chat trực tuyến.\n"
        "Không tải được tệp chuyen-huong.png từ chat trực tuyến.\n"
        "Không tải được tệp hong.png từ chat trực tuyến."
    )


async def test_without_the_chatwoot_address_no_file_is_fetched(
    dev_env: WorkflowEnvironment, settings: Settings, sessions: Sessions, file_hosts: tuple[FileHost, FileHost]
) -> None:
    chatwoot, _ = file_hosts
    chatwoot.files[blob("anh.png")] = Served(SCREENSHOT)
    configured = settings.model_copy(update={"chatwoot_webhook_secret": CHATWOOT_SECRET})
    assert configured.chatwoot_url == ""
    async for hooks in _hooks(dev_env, configured, sessions):
        conv_id, msg = new_ids()
        event = with_files(message_event(conversation(conv_id, ["khieu-nai"]), msg, ""),
                           attachment(801, chatwoot.url(blob("anh.png")), "image"))  # fmt: skip
        response = await hooks.chatwoot(event)
        assert response.json()["outcome"] == "filed", response.text
        message = the_message(await hooks.state(response.json()["complaint_id"]), msg)
        note = "Tệp đính kèm không nhận được:\nKhông tải được tệp anh.png từ chat trực tuyến."
        assert message.text == f"{FILES_TEXT}\n\n{note}"
    assert chatwoot.requests == []


async def test_files_over_the_limits_or_not_allowed_are_refused_and_the_message_kept(
    file_hooks: Hooks, file_hosts: tuple[FileHost, FileHost], settings: Settings, sessions: Sessions
) -> None:
    chatwoot, _ = file_hosts
    huge = SCREENSHOT + bytes(20 * 1024 * 1024)  # 20 MB, no Content-Length: read until the limit only
    chatwoot.files[blob("quay-man-hinh.png")] = Served(huge, declare_length=False)
    chatwoot.files[blob("ghi-am.png")] = Served(SCREENSHOT + bytes(MAX_FILE))  # Content-Length says too big
    chatwoot.files[blob("chuong-trinh.pdf")] = Served(EXE_BYTES)  # an executable named .pdf
    chatwoot.files[blob("anh.png")] = Served(SCREENSHOT)
    conv_id, msg = new_ids()
    event = with_files(
        message_event(conversation(conv_id, ["khieu-nai"]), msg, "Gửi các tệp"),
        attachment(901, chatwoot.url(blob("quay-man-hinh.png")), "video"),
        attachment(902, chatwoot.url(blob("ghi-am.png")), "audio"),
        attachment(903, chatwoot.url(blob("chuong-trinh.pdf"))),
        attachment(904, chatwoot.url(blob("anh.png")), "image"),
        attachment(905, "https://maps.example.com/?q=10.7,106.6", "location"),  # not a file: not fetched, not noted
    )
    response = await file_hooks.chatwoot(event)
    assert (response.status_code, response.json()["outcome"]) == (200, "filed"), response.text
    cid = response.json()["complaint_id"]
    message = the_message(await file_hooks.state(cid), msg)
    assert await contents(settings, sessions, cid, message.attachments) == [SCREENSHOT]
    assert message.text == (
        "Gửi các tệp\n\nTệp đính kèm không nhận được:\n"
        "Tệp quay-man-hinh.png lớn hơn 0.0625 MB.\n"
        "Tệp ghi-am.png lớn hơn 0.0625 MB.\n"
        "Tệp chuong-trinh.pdf không thuộc loại được chấp nhận (ảnh, PDF, tài liệu văn phòng, âm thanh)."
    )
    assert await written(chatwoot, blob("quay-man-hinh.png")) < len(huge), "read to its end"
    assert len(chatwoot.requests) == 4


async def test_the_files_of_one_message_together_are_held_to_the_messages_limit(
    file_hooks: Hooks, file_hosts: tuple[FileHost, FileHost], settings: Settings, sessions: Sessions
) -> None:
    chatwoot, _ = file_hosts
    # Each under the file's limit; three fit in the message's, the fourth does not.
    parts = [(image := png(20, 20, seed=n)) + bytes(50_000 - len(image)) for n in range(4)]
    for n, part in enumerate(parts):
        chatwoot.files[blob(f"anh-{n}.png")] = Served(part)
    conv_id, msg = new_ids()
    files = [attachment(950 + n, chatwoot.url(blob(f"anh-{n}.png")), "image") for n in range(4)]
    event = with_files(message_event(conversation(conv_id, ["khieu-nai"]), msg, "Bốn ảnh"), *files)
    response = await file_hooks.chatwoot(event)
    cid = response.json()["complaint_id"]
    message = the_message(await file_hooks.state(cid), msg)
    taken = await contents(settings, sessions, cid, message.attachments)
    assert taken == parts[:3]
    assert message.text.endswith("Tổng dung lượng các tệp đính kèm của một lần gửi vượt quá 0.1875 MB."), message.text
