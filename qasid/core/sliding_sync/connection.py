"""What each sliding sync connection has been sent, so an incremental response carries only changes.

A connection is (user, device, conn_id). Each response is a new position of its connection; the
state at a position says, per room, up to which event the client has the room and with which
config. The client may retry a position (or change its body and resend it), so the state of
the position it sends is kept until a later one is used. Kept in memory: after a restart, or
once a connection has been idle too long, its positions are unknown (400 M_UNKNOWN_POS) and
the client starts the connection again, as the MSC provides.
"""

from __future__ import annotations

import re
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from qasid.core.errors import MatrixError
from qasid.core.sliding_sync.required_state import RequiredState
from qasid.core.sync import SyncToken

# Bounds on what connections may hold, against clients that open many.
MAX_CONNECTIONS = 10_000
MAX_CONNECTIONS_PER_DEVICE = 10
IDLE_SECONDS = 24 * 3600
MAX_LAZY_MEMBERS = 1000
_POS = re.compile(r"([0-9a-z]{8})\.([0-9]{1,18})")


@dataclass(frozen=True)
class RoomSent:
    """A room as the client last received it on this connection."""

    upto: int  # the events stream position the client has the room's timeline up to
    membership: str
    timeline_limit: int
    required_state: RequiredState
    counts: tuple[int, int]
    # Members sent because the timeline needed them ($LAZY), so they are not sent again.
    lazy_members: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ConnectionState:
    """Everything the client holds at one position."""

    token: SyncToken
    rooms: dict[str, RoomSent] = field(default_factory=dict)
    list_counts: dict[str, int] = field(default_factory=dict)
    # More is waiting than one answer carried (to-device messages past the limit).
    truncated: bool = False
    # (the user's notifier version read before it was built, the request's shape): a request of
    # that shape at this position, before the version moves, would get nothing new.
    built_at: tuple[int, Any] | None = None
    dm_rooms: frozenset[str] = frozenset()  # the rooms m.direct named, as of `token.account_data`


@dataclass
class Connection:
    """The positions of one connection still usable by its client."""

    key: tuple[str, str, str]
    states: dict[int, ConnectionState] = field(default_factory=dict)
    next_position: int = 1
    used_at: float = 0.0


def unknown_pos() -> MatrixError:
    return MatrixError(400, "M_UNKNOWN_POS", "Unknown or expired pos: start the connection again")


class Connections:
    """Every live connection, least recently used first."""

    def __init__(self) -> None:
        # Positions from before a restart must not be mistaken for this process's own.
        self.epoch = secrets.token_hex(4)
        self._connections: OrderedDict[tuple[str, str, str], Connection] = OrderedDict()
        # Each device's conn_ids, least recently used first: a new connection's per-device limit
        # is checked without a scan of every connection (a nation's phones reconnect at once).
        self._per_device: dict[tuple[str, str], dict[str, None]] = {}

    def resume(self, user_id: str, device_id: str, conn_id: str, pos: str | None) -> tuple[Connection, ConnectionState | None]:
        """The connection and the state at `pos` (None: a new connection, replacing any of that conn_id)."""
        key = (user_id, device_id, conn_id)
        now = time.monotonic()
        self._expire(now)
        if pos is None:
            connection = Connection(key)
            self._drop(key)
            self._limit_device(user_id, device_id)
            self._connections[key] = connection
            self._per_device.setdefault((user_id, device_id), {})[conn_id] = None
            connection.used_at = now
            return connection, None
        match = _POS.fullmatch(pos)
        known = self._connections.get(key)
        if match is None or match.group(1) != self.epoch or known is None:
            raise unknown_pos()
        position = int(match.group(2))
        state = known.states.get(position)
        if state is None:
            raise unknown_pos()
        # The client has what `position` says: anything older can no longer be asked for.
        for old in [p for p in known.states if p < position]:
            del known.states[old]
        known.used_at = now
        self._connections.move_to_end(key)
        device = self._per_device[(user_id, device_id)]
        device[conn_id] = device.pop(conn_id)
        return known, state

    def record(self, connection: Connection, state: ConnectionState) -> str:
        """Keep `state` as the connection's next position; returns that position as `pos`."""
        position = connection.next_position
        connection.next_position += 1
        connection.states[position] = state
        if self._connections.get(connection.key) is not connection:
            raise unknown_pos()  # replaced by a newer connection with the same conn_id meanwhile
        return f"{self.epoch}.{position}"

    def _limit_device(self, user_id: str, device_id: str) -> None:
        mine = list(self._per_device.get((user_id, device_id), ()))
        for conn_id in mine[:max(0, len(mine) - MAX_CONNECTIONS_PER_DEVICE + 1)]:
            self._drop((user_id, device_id, conn_id))
        while len(self._connections) >= MAX_CONNECTIONS:
            self._drop(next(iter(self._connections)))

    def _drop(self, key: tuple[str, str, str]) -> None:
        if self._connections.pop(key, None) is None:
            return
        device = self._per_device[key[:2]]
        del device[key[2]]
        if not device:
            del self._per_device[key[:2]]

    def _expire(self, now: float) -> None:
        while self._connections:
            oldest = next(iter(self._connections.values()))
            if now - oldest.used_at < IDLE_SECONDS:
                return
            self._drop(oldest.key)
