from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server import ServerProcess


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A fresh qasid server process on a free port, on its own SQLite file."""
    proc = ServerProcess(tmp_path / "data")
    proc.start()
    yield proc
    proc.stop()
