"""The local stack's launchers: ports, the product's processes, the throwaway PostgreSQL cluster
(what `make run`, `make test`, `make faults` and `make bench` stand on), with real processes."""

import smtplib
import socket
import subprocess
import sys
from email.message import EmailMessage
from pathlib import Path

import asyncpg
import pytest

from localstack.ports import _ephemeral_range, free_port, port_open, wait_for_port
from localstack.postgres import TEST_URL_VARIABLE, PostgresCluster
from localstack.processes import Launcher, ProcessFailed, mailcatcher_command

ROOT = Path(__file__).resolve().parent.parent


def test_free_port_is_free_and_below_the_ephemeral_range() -> None:
    port = free_port()
    assert 1024 <= port < _ephemeral_range()[0]
    assert not port_open(port)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", port))
        listener.listen()
        assert port_open(port)
        wait_for_port(port, timeout=1)
    with pytest.raises(TimeoutError):
        wait_for_port(port, timeout=0.3)


def test_launcher_starts_logs_notices_a_crash_and_stops(tmp_path: Path) -> None:
    launcher = Launcher(tmp_path / "logs")
    port = free_port()
    try:
        catcher = launcher.add("mailcatcher", mailcatcher_command("127.0.0.1", port, tmp_path / "mail"), port=port)
        catcher.start(ready_within=30)
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = "a@example.vn", "b@example.vn", "launcher"
        message.set_content("hello")
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
            smtp.send_message(message)
        assert len(list((tmp_path / "mail").glob("*.eml"))) == 1
        # A second process on a taken port is refused before it starts.
        with pytest.raises(ProcessFailed, match="taken"):
            launcher.add("second", mailcatcher_command("127.0.0.1", port, tmp_path / "mail"), port=port).start()
        catcher.kill()
        assert launcher.crashed() == []  # killed on purpose
        catcher.start(ready_within=30)
        subprocess.run(["kill", "-KILL", str(catcher.pid)], check=True)  # dies behind the launcher's back
        catcher.popen.wait(timeout=10)  # type: ignore[union-attr]
        assert launcher.crashed() == [catcher]
        assert catcher.log_path.read_text().count("===== start") == 2
    finally:
        launcher.stop_all(timeout=10)
    assert not port_open(port)


def test_a_process_that_dies_while_starting_is_reported_with_its_log(tmp_path: Path) -> None:
    launcher = Launcher(tmp_path)
    dying = [sys.executable, "-c", "import sys; print('cannot open the store'); sys.exit(3)"]
    with pytest.raises(ProcessFailed, match=r"(?s)exited with 3.*cannot open the store"):
        launcher.add("dying", dying, port=free_port()).start(ready_within=30)


async def _count_rows(url: str) -> int:
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    try:
        await conn.execute("CREATE TABLE IF NOT EXISTS kept (n int)")
        await conn.execute("INSERT INTO kept VALUES (1)")
        return int(await conn.fetchval("SELECT count(*) FROM kept"))
    finally:
        await conn.close()


async def test_postgres_cluster_keeps_its_data_across_a_restart_and_is_removed() -> None:
    with PostgresCluster() as cluster:
        assert await _count_rows(cluster.url) == 1
        cluster.stop()
        assert not port_open(cluster.port)
        cluster.start()
        assert await _count_rows(cluster.url) == 2
        directory = cluster.directory
    assert not directory.exists()
    assert not port_open(cluster.port)


def test_postgres_command_exports_the_url_and_passes_the_exit_status_on() -> None:
    probe = f"import os, sys; print('URL', os.environ['{TEST_URL_VARIABLE}']); sys.exit(7)"
    done = subprocess.run(
        [sys.executable, "-m", "localstack.postgres", "--", sys.executable, "-c", probe],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 7, done.stderr
    url = next(line.split()[1] for line in done.stdout.splitlines() if line.startswith("URL "))
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    assert url == f"postgresql+asyncpg://postgres@127.0.0.1:{port}/complaints_test"
    assert not port_open(port)  # removed once the command ended
