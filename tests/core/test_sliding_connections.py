"""Sliding sync connections: the bounds on how many a device and the server keep."""

from __future__ import annotations

import pytest

from qasid.core.errors import MatrixError
from qasid.core.sliding_sync import connection as module
from qasid.core.sliding_sync.connection import Connections, ConnectionState
from qasid.core.sync import SyncToken


def opened(connections: Connections, user: str, device: str, conn_id: str) -> str:
    connection, state = connections.resume(user, device, conn_id, None)
    assert state is None
    return connections.record(connection, ConnectionState(SyncToken()))


def test_a_device_keeps_its_most_recently_used_connections(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(module, "MAX_CONNECTIONS_PER_DEVICE", 3)
    connections = Connections()
    pos = {conn_id: opened(connections, "@a:x", "D", conn_id) for conn_id in ("one", "two", "three")}
    connections.resume("@a:x", "D", "one", pos["one"])  # used again: "two" is now the least recent
    opened(connections, "@b:x", "D", "two")  # another user's device is not counted
    opened(connections, "@a:x", "D", "four")
    with pytest.raises(MatrixError) as gone:
        connections.resume("@a:x", "D", "two", pos["two"])
    assert gone.value.errcode == "M_UNKNOWN_POS"
    for conn_id in ("one", "three"):
        connections.resume("@a:x", "D", conn_id, pos[conn_id])


def test_the_server_keeps_at_most_its_limit_dropping_the_least_recently_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(module, "MAX_CONNECTIONS", 4)
    connections = Connections()
    pos = {n: opened(connections, f"@u{n}:x", "D", "c") for n in range(4)}
    connections.resume("@u0:x", "D", "c", pos[0])
    opened(connections, "@u9:x", "D", "c")  # over the limit: @u1's goes
    with pytest.raises(MatrixError):
        connections.resume("@u1:x", "D", "c", pos[1])
    for n in (0, 2, 3):
        connections.resume(f"@u{n}:x", "D", "c", pos[n])
    # A replaced connection (same conn_id, no pos) leaves no trace of the old one behind.
    opened(connections, "@u0:x", "D", "c")
    opened(connections, "@u0:x", "D", "c")
    assert len(connections._per_device[("@u0:x", "D")]) == 1
