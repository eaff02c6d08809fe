"""Issue 12, low 3: data files are their owner's alone (0600 in a 0700 directory), whatever the
umask of the process that creates them: the settings' secrets, the mail catcher's .eml files, the
SQLite store with its WAL. And each entry point sets umask 077 for what others create in data/
(Temporal's database, the logs)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
import pytest
from sqlalchemy import text

from config.settings import ROOT, Settings
from localstack.mailcatcher import MailCatcher
from store.engine import make_engine


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    """The usual 022, under which files are created world-readable unless asked otherwise."""
    before = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(before)


def test_generated_secrets_are_private_from_the_start(tmp_path: Path) -> None:
    data = tmp_path / "data"
    settings = Settings(data_dir=data, secret_key="", payload_keys="")  # type: ignore[arg-type]
    key = settings.effective_secret_key()
    assert key and settings.effective_secret_key() == key  # made once, then read back
    settings.effective_payload_keys()
    assert mode(data) == 0o700
    assert sorted(p.name for p in data.iterdir()) == ["payload_keys", "secret_key"]  # no draft left behind
    assert {p.name: mode(p) for p in data.iterdir()} == {"payload_keys": 0o600, "secret_key": 0o600}


async def test_caught_mail_is_private(tmp_path: Path) -> None:
    directory = tmp_path / "data" / "mail"
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "cskh@luarong.vn", "an@example.vn", "Riêng tư"
    message.set_content("Số điện thoại của khách: 0938 361 595")
    async with MailCatcher(directory=directory) as catcher:
        await aiosmtplib.send(message, hostname="127.0.0.1", port=catcher.port)
        [path] = catcher.message_files()
    assert mode(directory) == 0o700 and mode(path) == 0o600


async def test_the_sqlite_store_and_its_wal_are_private(tmp_path: Path) -> None:
    database = tmp_path / "data" / "complaints.db"
    engine = make_engine(f"sqlite+aiosqlite:///{database}")
    try:
        async with engine.begin() as connection:
            await connection.execute(text("CREATE TABLE t (x TEXT)"))
            await connection.execute(text("INSERT INTO t VALUES ('0938 361 595')"))
        files = {p.name: mode(p) for p in database.parent.iterdir()}
    finally:
        await engine.dispose()
    assert {"complaints.db", "complaints.db-wal", "complaints.db-shm"} <= files.keys()
    assert set(files.values()) == {0o600}, files
    assert mode(database.parent) == 0o700


@pytest.mark.parametrize("entry", ["worker.py", "starter.py", "admin/__main__.py", "localstack/devstack.py"])
def test_each_entry_point_sets_umask_077_first(entry: str, tmp_path: Path) -> None:
    """The entry point's main() sets the umask before anything else: run it with its settings
    made impossible, so it stops right after, and read the umask it left."""
    probe = (
        "import os, runpy, sys\n"
        f"sys.argv = [{entry!r}, 'serve'] if {entry!r}.startswith('admin') else [{entry!r}]\n"
        "try:\n"
        f"    runpy.run_path({str(ROOT / entry)!r}, run_name='__main__')\n"
        "except BaseException:\n"
        "    pass\n"
        "print(oct(os.umask(0)))\n"
    )
    env = os.environ | {"COMPLAINTS_ENVIRONMENT": "not-an-environment"}  # get_settings() fails at once
    done = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    assert done.stdout.strip().splitlines()[-1] == "0o77", done.stdout + done.stderr
