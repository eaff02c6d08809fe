"""The IMAP client (intake/imap_mailbox.py) against a real Dovecot (localstack/dovecot.py): TLS
checked against the throwaway CA, login, UIDs after a checkpoint, byte-exact fetch, flag, move,
UIDVALIDITY across a restart, and the exceptions for down / refused / gone."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from intake.imap_mailbox import (
    SEEN,
    ImapAccount,
    ImapLoginRefused,
    ImapMailbox,
    ImapMailboxGone,
    ImapMessageGone,
    ImapServerDown,
    ImapTlsRefused,
)
from localstack.dovecot import ENV_PREFIX, DovecotServer, make_certificates


@pytest.fixture
def server() -> Iterator[DovecotServer]:
    with DovecotServer() as dovecot:
        yield dovecot


def account(server: DovecotServer, **changes: object) -> ImapAccount:
    fields: dict[str, object] = {
        "host": server.host,
        "port": server.port,
        "username": server.username,
        "password": server.password,
        "ca_file": server.ca_file,
        "timeout": 30.0,
    }
    fields.update(changes)
    return ImapAccount(**fields)  # type: ignore[arg-type]


def message(number: int) -> bytes:
    """CRLF lines (as mail travels), 8-bit UTF-8 and a base64 attachment of every byte value."""
    attachment = __import__("base64").encodebytes(bytes(range(256)) * (number + 1)).replace(b"\n", b"\r\n")
    return (
        (
            f"From: Khách {number} <khach{number}@example.org>\r\n"
            f"To: khieunai@example.org\r\n"
            f"Subject: Khiếu nại số {number}\r\n"
            f"Message-ID: <m{number}@example.org>\r\n"
            "MIME-Version: 1.0\r\n"
            'Content-Type: multipart/mixed; boundary="b"\r\n'
            "\r\n"
            "--b\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: 8bit\r\n"
            "\r\n"
            f"Đơn hàng {number} giao trễ.  \r\n"  # trailing spaces kept
            "--b\r\n"
            "Content-Type: application/octet-stream\r\n"
            "Content-Transfer-Encoding: base64\r\n"
            "\r\n"
        ).encode()
        + attachment
        + b"--b--\r\n"
    )


async def test_lists_after_a_checkpoint_and_fetches_every_message_byte_exact(server: DovecotServer) -> None:
    sent = [message(n) for n in range(20)]
    for raw in sent:
        server.append(raw)
    async with ImapMailbox(account(server)) as mailbox:
        validity = await mailbox.select("INBOX")
        assert validity > 0 and mailbox.uidvalidity == validity
        uids = await mailbox.uids_after(0)
        assert len(uids) == 20 and uids == sorted(uids)
        assert await mailbox.uids_after(uids[9]) == uids[10:]
        # "n:*" matches the highest UID even when it is below n: nothing above the last one.
        assert await mailbox.uids_after(uids[-1]) == []
        assert await mailbox.uids_after(uids[-1] + 100) == []
        for uid, raw in zip(uids, sent, strict=True):
            assert await mailbox.fetch(uid) == raw
        assert SEEN not in await mailbox.flags(uids[0])  # fetching leaves it unread
        with pytest.raises(ImapMessageGone):
            await mailbox.fetch(uids[-1] + 1)


async def test_the_fixture_appends_in_bulk_byte_exact_and_empties_the_folder(server: DovecotServer) -> None:
    """The bench's load (localstack/dovecot.py append_all: MULTIAPPEND with LITERAL+, several
    commands) delivers every message as append does (bare LFs read back as CRLF); empty leaves none."""
    sent = [message(n) for n in range(12)]
    server.append_all([*sent[:11], sent[11].replace(b"\r\n", b"\n")], per_command=5)
    async with ImapMailbox(account(server)) as mailbox:
        await mailbox.select("INBOX")
        uids = await mailbox.uids_after(0)
        assert [await mailbox.fetch(uid) for uid in uids] == sent
    server.empty()
    server.append_all(sent[:1])
    async with ImapMailbox(account(server)) as mailbox:
        await mailbox.select("INBOX")
        assert await mailbox.uids_after(0) == [uids[-1] + 1]  # the others gone; UIDs go on


@pytest.mark.parametrize("use_move", [True, False], ids=["MOVE", "COPY+EXPUNGE"])
async def test_flags_and_moves_one_message(server: DovecotServer, use_move: bool) -> None:
    sent = [message(n) for n in range(3)]
    for raw in sent:
        server.append(raw)
    server.create_folder("Processed")
    async with ImapMailbox(account(server), use_move=use_move) as mailbox:
        await mailbox.select("INBOX")
        first, second, third = await mailbox.uids_after(0)
        await mailbox.flag(first)
        await mailbox.flag(first, "$Filed")
        assert {SEEN, "$Filed"} <= await mailbox.flags(first)
        assert SEEN not in await mailbox.flags(second)
        with pytest.raises(ValueError):
            await mailbox.flag(first, "two words")
        # The fallback must not expunge a message someone else marked \Deleted.
        await mailbox.flag(third, "\\Deleted")
        await mailbox.move(second, "Processed")
        assert await mailbox.uids_after(0) == [first, third]
        await mailbox.move(second, "Processed")  # already moved: a retry is harmless
        with pytest.raises(ImapMailboxGone):
            await mailbox.move(first, "No such folder")
        assert await mailbox.uids_after(0) == [first, third]
        await mailbox.select("Processed")
        [moved] = await mailbox.uids_after(0)
        assert await mailbox.fetch(moved) == sent[1]


async def test_a_missing_folder_is_gone(server: DovecotServer) -> None:
    async with ImapMailbox(account(server)) as mailbox:
        with pytest.raises(ImapMailboxGone):
            await mailbox.select("Nowhere")
        await mailbox.select("INBOX")  # the connection is still usable


async def test_a_folder_deleted_while_selected(server: DovecotServer) -> None:
    server.create_folder("Complaints")
    server.append(message(1), "Complaints")
    async with ImapMailbox(account(server)) as mailbox:
        await mailbox.select("Complaints")
        [uid] = await mailbox.uids_after(0)
        server.delete_folder("Complaints")
        # Dovecot ends the session ("BYE Mailbox was deleted"), between commands, so aioimaplib
        # drops that text: a lost connection, and the next session finds the folder gone.
        with pytest.raises(ImapServerDown):
            await mailbox.fetch(uid)
    async with ImapMailbox(account(server)) as mailbox:
        with pytest.raises(ImapMailboxGone):
            await mailbox.select("Complaints")


async def test_uidvalidity_and_uids_survive_a_restart_mid_session(server: DovecotServer) -> None:
    sent = [message(n) for n in range(5)]
    for raw in sent:
        server.append(raw)
    mailbox = ImapMailbox(account(server))
    await mailbox.connect()
    validity = await mailbox.select("INBOX")
    uids = await mailbox.uids_after(0)
    assert await mailbox.fetch(uids[0]) == sent[0]
    server.stop()
    started = time.monotonic()
    with pytest.raises(ImapServerDown):
        await mailbox.fetch(uids[1])
    # Ends when the connection drops, not at the 30 s deadline.
    assert time.monotonic() - started < 10
    await mailbox.logout()
    server.start()
    async with ImapMailbox(account(server)) as again:
        assert await again.select("INBOX") == validity
        assert await again.uids_after(0) == uids
        assert await again.fetch(uids[1]) == sent[1]


async def test_a_wrong_password_or_user_is_refused(server: DovecotServer) -> None:
    for changes in ({"password": server.password + "x"}, {"username": "nobody-here"}):
        with pytest.raises(ImapLoginRefused):
            await ImapMailbox(account(server, **changes)).connect()
    async with ImapMailbox(account(server)) as mailbox:  # the right one still logs in
        await mailbox.select("INBOX")


async def test_a_stopped_server_is_down(server: DovecotServer) -> None:
    server.stop()
    started = time.monotonic()
    with pytest.raises(ImapServerDown):
        await ImapMailbox(account(server)).connect()
    assert time.monotonic() - started < 10  # refused at once, not at the deadline


async def test_a_server_that_does_not_answer_is_down_at_the_deadline(server: DovecotServer) -> None:
    group = server.process.pid  # the master and its children share its process group
    mailbox = ImapMailbox(account(server, timeout=1.0))
    await mailbox.connect()
    os.killpg(group, signal.SIGSTOP)  # frozen: connections stay open, nothing answers
    try:
        started = time.monotonic()
        with pytest.raises(ImapServerDown):
            await mailbox.select("INBOX")
        assert 0.9 < time.monotonic() - started < 10
        # The unanswered command would shift later answers: the connection is given up.
        with pytest.raises(ImapServerDown):
            await mailbox.select("INBOX")
        await mailbox.logout()
        started = time.monotonic()
        with pytest.raises(ImapServerDown):
            await ImapMailbox(account(server, timeout=1.0)).connect()
        assert 0.9 < time.monotonic() - started < 10
    finally:
        os.killpg(group, signal.SIGCONT)


async def test_tls_is_used_and_the_certificate_checked(server: DovecotServer, tmp_path: Path) -> None:
    async with ImapMailbox(account(server)) as mailbox:
        assert mailbox.tls_version in {"TLSv1.2", "TLSv1.3"}
    # The name in the certificate is checked too: localhost is in it, another name is not.
    async with ImapMailbox(account(server, host="localhost")) as mailbox:
        assert mailbox.tls_version is not None
    # Not trusted: the system's CAs, or another throwaway CA.
    other_ca, _, _ = make_certificates(tmp_path)
    for ca_file in (None, other_ca):
        with pytest.raises(ImapTlsRefused):
            await ImapMailbox(account(server, ca_file=ca_file)).connect()


def test_the_command_runs_with_the_server_in_its_environment() -> None:
    probe = (
        "import os, ssl, socket;"
        f"e = {{k[len('{ENV_PREFIX}'):]: v for k, v in os.environ.items() if k.startswith('{ENV_PREFIX}')}};"
        "c = ssl.create_default_context(cafile=e['CA_FILE']);"
        "s = c.wrap_socket(socket.create_connection((e['HOST'], int(e['PORT']))), server_hostname=e['HOST']);"
        "print(sorted(e), s.recv(100).split()[1].decode())"
    )
    done = subprocess.run(
        [sys.executable, "-m", "localstack.dovecot", "--", sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "['CA_FILE', 'HOST', 'PASSWORD', 'PORT', 'USERNAME'] OK" in done.stdout
