"""Issue 12 findings about ``python -m admin serve`` itself, run as staff run it (a real uvicorn
process on loopback, its log read as ``make run`` writes it to data/admin.log):

- low 7: ``X-Forwarded-For`` is believed only from configured proxies (none by default), so the
  per-address login throttle cannot be dodged by naming another address;
- low 9: search terms (phones, e-mails) in query strings stay out of the log.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

SPOOFED = "203.0.113.9"
PHONE = "0938361595"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def admin_serve(tmp_path: Path, **env: str) -> Iterator[tuple[str, Path]]:
    """``python -m admin serve`` on a free port with its own data dir; yields its URL and log."""
    port = free_port()
    data = tmp_path / "data"
    log = tmp_path / "admin.log"
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("COMPLAINTS_", "FORWARDED_ALLOW_IPS"))}
    environment |= {"COMPLAINTS_DATA_DIR": str(data), "COMPLAINTS_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}"}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "admin", "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=tmp_path, env=environment | env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{url}/ready-probe", timeout=2)  # any answer will do
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"admin did not start:\n{log.read_text()}") from None
                time.sleep(0.1)
        yield url, log
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def access_lines(log: Path, path: str) -> list[str]:
    return [line for line in log.read_text().splitlines() if f"GET {path}" in line]


def login_from(url: str, forwarded_for: str) -> None:
    response = httpx.get(f"{url}/login", headers={"X-Forwarded-For": forwarded_for}, timeout=10)
    assert response.status_code == 200


def wait_for_line(log: Path, path: str) -> list[str]:
    deadline = time.monotonic() + 10
    while not (lines := access_lines(log, path)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return lines


def test_a_spoofed_forwarded_for_does_not_change_the_client_address(tmp_path: Path) -> None:
    with admin_serve(tmp_path) as (url, log):
        login_from(url, SPOOFED)
        [line] = wait_for_line(log, "/login")
    assert "127.0.0.1" in line and SPOOFED not in line  # request.client.host, as the access log shows it


def test_a_configured_proxy_is_believed(tmp_path: Path) -> None:
    with admin_serve(tmp_path, COMPLAINTS_TRUSTED_PROXIES="127.0.0.1") as (url, log):
        login_from(url, SPOOFED)
        [line] = wait_for_line(log, "/login")
    assert SPOOFED in line


def test_search_terms_stay_out_of_the_log(tmp_path: Path) -> None:
    with admin_serve(tmp_path) as (url, log):
        for path in (f"/api/v1/complaints?q={PHONE}", "/complaints?q=an%40example.vn", f"/ready-probe?q={PHONE}"):
            httpx.get(f"{url}{path}", timeout=10)
        lines = wait_for_line(log, "/ready-probe")
        assert len(lines) == 2  # the start-up probe, and the one above
        written = log.read_text()
    assert "GET /api/v1/complaints HTTP" in written  # the request is logged, without its query string
    assert PHONE not in written and "example.vn" not in written and "an%40" not in written


async def test_a_store_error_does_not_carry_the_search_text(tmp_path: Path) -> None:
    """What the admin logs on a store error (its message) holds no parameter, so no search text."""
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    from store.engine import make_engine

    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'complaints.db'}")
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT * FROM missing WHERE document LIKE :q"), {"q": f"%{PHONE}%"})
    except DBAPIError as error:
        assert "missing" in str(error) and PHONE not in str(error)
    else:
        raise AssertionError("the query should have failed")
    finally:
        await engine.dispose()
