from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.gov.helpers import Gov
from tests.server import ServerProcess


@pytest.fixture
def gov(server: ServerProcess) -> Iterator[Gov]:
    """A real server with a national admin logged in."""
    g = Gov(server)
    yield g
    g.http.close()
