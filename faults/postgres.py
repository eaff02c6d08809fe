"""A throwaway PostgreSQL cluster in the scenario's directory (Debian's postgresql, as
``scripts/with-postgres.sh`` starts it), which a scenario can stop and start again."""

import os
import shutil
import subprocess
from pathlib import Path


def _bindir() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    if not found:
        raise RuntimeError("PostgreSQL is not installed (make faults installs Debian's postgresql)")
    return found[-1].parent


class PostgresCluster:
    def __init__(self, directory: Path, port: int) -> None:
        self.directory, self.port = directory, port
        self.data = directory / "data"
        self.log = directory / "postgres.log"
        self.bindir = _bindir()
        # PostgreSQL refuses to run as root: use the account the Debian package created.
        self._run_as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        self.running = False

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/complaints"

    def _run(self, tool: str, *args: str, check: bool = True) -> None:
        subprocess.run(
            [*self._run_as, str(self.bindir / tool), *args],
            check=check,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=120,
        )

    def create(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        if self._run_as:
            shutil.chown(self.directory, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8")
        self.start()
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "complaints")

    def start(self) -> None:
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.directory} -c fsync=off -c max_connections=200"
        )
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-o", options, "start")
        self.running = True

    def stop(self, mode: str = "fast") -> None:
        """``fast`` disconnects every client and shuts down cleanly, as an operator's restart does."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop", check=False)
        self.running = False
