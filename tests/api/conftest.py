"""Fixtures of the bad-input sweeps (tests/api/test_bad_input*.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.api.probe_world import World, make_world, row_counts
from tests.server import ServerProcess


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    server = ServerProcess(tmp_path_factory.mktemp("bad-input") / "data")
    server.start()
    try:
        yield make_world(server, "prober")
    finally:
        server.stop()


@pytest.fixture
def unchanged(world: World) -> Iterator[None]:
    """Asserts that the test stored nothing: same rows in every table, same room history."""
    rows, history = row_counts(world.server), world.messages()
    yield
    assert world.messages() == history
    assert row_counts(world.server) == rows
