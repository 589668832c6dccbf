from __future__ import annotations

import os
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from tests import pg
from tests.server import ServerProcess

# Set by CI (.ci/run), which installs every system package the tests need: there, a test that
# would skip for want of one (Node.js, nginx, coturn, ...) fails instead, so nothing is silently left out.
STRICT_SKIPS = os.environ.get("QASID_TEST_STRICT_SKIPS") == "1"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, None, None]:
    outcome = yield
    report = outcome.get_result()
    if STRICT_SKIPS and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped, which QASID_TEST_STRICT_SKIPS=1 forbids (CI installs what tests need): {reason}"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A fresh qasid server process on a free port, on its own SQLite file."""
    proc = ServerProcess(tmp_path / "data")
    proc.start()
    yield proc
    proc.stop()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "sqlite_only: about the embedded SQLite file itself; not run on PostgreSQL")
    config.addinivalue_line("markers", "postgres_only: about PostgreSQL itself; run only in the PostgreSQL pass")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if pg.ON_POSTGRES:
        # Deselected, not skipped: on PostgreSQL they have nothing to test (CI fails a skip).
        # Everything under tests/store/sqlite is about the SQLite file and its migrations.
        kept = [item for item in items if item.get_closest_marker("sqlite_only") is None
                and "store/sqlite" not in item.path.as_posix()]
    else:
        # Several workers need PostgreSQL whatever the pass: they run once, in the PostgreSQL pass.
        kept = [item for item in items if "tests/workers/" not in item.path.as_posix()
                and item.get_closest_marker("postgres_only") is None]
    config.hook.pytest_deselected(items=[item for item in items if item not in kept])
    items[:] = kept


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    pg.drop_unused_schemas()


def pytest_sessionfinish(session: pytest.Session) -> None:
    pg.drop_unused_schemas(everything=True)
