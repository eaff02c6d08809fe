"""A throwaway PostgreSQL cluster on loopback (Debian's postgresql package), for the tests,
`make faults` and `make bench`.

As a context manager it is created on a free port and removed on exit; ``stop`` and ``start``
in between restart it with its data (the faults' postgres-restart scenario). As a command,
``python -m localstack.postgres -- CMD ...`` runs CMD with the cluster's URL in
``COMPLAINTS_TEST_POSTGRES_URL`` (`make test`) and removes the cluster afterwards.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from localstack.ports import LOOPBACK, free_port
from localstack.processes import Throwaway, run_command_beside

TEST_URL_VARIABLE = "COMPLAINTS_TEST_POSTGRES_URL"


def _bindir() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    if not found:
        raise RuntimeError("PostgreSQL is not installed (`make system-deps` installs Debian's postgresql)")
    return found[-1].parent


class PostgresCluster(Throwaway):
    """One cluster in ``directory`` (a new temporary one by default) with one database."""

    def __init__(self, directory: Path | None = None, port: int | None = None, database: str = "complaints") -> None:
        self.owns_directory = directory is None
        self.directory = directory or Path(tempfile.mkdtemp(prefix="complaints-pg-"))
        self.port = port or free_port()
        self.database = database
        self.data = self.directory / "data"
        self.log = self.directory / "postgres.log"
        self.bindir = _bindir()
        # PostgreSQL refuses to run as root: use the account the Debian package created.
        self._run_as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        self.running = False

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@{LOOPBACK}:{self.port}/{self.database}"

    def _run(self, tool: str, *args: str, check: bool = True) -> None:
        done = subprocess.run(
            [*self._run_as, str(self.bindir / tool), *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=120,
        )
        if check and done.returncode != 0:
            raise RuntimeError(f"{tool} failed ({done.returncode}): {done.stderr.decode(errors='replace')[-2000:]}")

    def create(self) -> str:
        """initdb, start and create the database; returns its URL."""
        self.directory.mkdir(parents=True, exist_ok=True)
        if self._run_as:
            shutil.chown(self.directory, "postgres", "postgres")
        # --no-sync: nothing to make durable in a cluster thrown away after the run (seconds saved).
        initdb = ["-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"]
        self._run("initdb", *initdb)
        self.start()
        self._run("createdb", "-h", LOOPBACK, "-p", str(self.port), "-U", "postgres", self.database)
        return self.url

    def start(self) -> None:
        # fsync off: only a crash of the machine could lose data, and the cluster is thrown away.
        options = f"-c listen_addresses={LOOPBACK} -p {self.port} -k {self.directory}"
        options += " -c fsync=off -c max_connections=200"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-o", options, "start")
        self.running = True

    def stop(self, mode: str = "fast") -> None:
        """``fast`` disconnects every client and shuts down cleanly, as an operator's restart does."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop", check=False)
        self.running = False

    def remove(self) -> None:
        """Stop at once and delete the cluster (its directory too, when it made it)."""
        if self.running:
            self.stop("immediate")
        shutil.rmtree(self.directory if self.owns_directory else self.data, ignore_errors=True)


def run_with_cluster(command: list[str], database: str) -> int:
    """Run ``command`` with the cluster's URL exported; its exit status (128+N for signal N)."""
    with PostgresCluster(database=database) as cluster:
        print(f"PostgreSQL test cluster on {LOOPBACK}:{cluster.port}", flush=True)
        return run_command_beside(command, os.environ | {TEST_URL_VARIABLE: cluster.url})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m localstack.postgres",
        description=f"Run a command with a throwaway PostgreSQL cluster, its URL in {TEST_URL_VARIABLE}.",
    )
    parser.add_argument("--database", default="complaints_test", help="database to create (default %(default)s)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command and its arguments")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given (python -m localstack.postgres -- CMD ...)")
    return run_with_cluster(command, args.database)


if __name__ == "__main__":
    sys.exit(main())
