"""A throwaway PostgreSQL cluster on loopback (Debian's postgresql), as scripts/with-postgres.sh
makes for the tests: initdb, pg_ctl start on a free port, removed on stop."""

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from bench.stack import free_port


def _bindir() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    if not found:
        raise RuntimeError("PostgreSQL is not installed (make bench installs Debian's postgresql)")
    return found[-1].parent


class Postgres:
    def __init__(self) -> None:
        self.bindir = _bindir()
        self.dir = Path(tempfile.mkdtemp(prefix="bench-pg-"))
        self.port = free_port()
        # PostgreSQL refuses to run as root: use the account the package created.
        self.run_as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.run_as:
            shutil.chown(self.dir, "postgres", "postgres")
        self.started = False

    def _run(self, *args: str) -> None:
        subprocess.run([*self.run_as, *args], check=True, capture_output=True)

    def start(self) -> str:
        """Start the cluster and create a database; return its SQLAlchemy URL."""
        data = self.dir / "data"
        self._run(str(self.bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                  "--locale=C.UTF-8")  # fmt: skip
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.dir} -c fsync=off -c max_connections=200"
        log = str(self.dir / "log")
        self._run(str(self.bindir / "pg_ctl"), "-D", str(data), "-l", log, "-w", "-o", options, "start")
        self.started = True
        self._run(str(self.bindir / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "bench")
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/bench"

    def stop(self) -> None:
        if self.started:
            subprocess.run(
                [*self.run_as, str(self.bindir / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "immediate", "stop"],
                capture_output=True,
            )
            self.started = False
        shutil.rmtree(self.dir, ignore_errors=True)
