"""The shapes of events as the store reads and writes them."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from qasid.core import jsonutil
from qasid.store.sqlite.push import PushRow

# The columns `row_of` reads, in its order.
EVENT_COLUMNS = "stream_ordering, event_id, pdu, unsigned, txn_device_id, txn_id, redacted_by"


class EventRow(NamedTuple):
    """A stored event as the sync and timeline code needs it (a tuple: built for every row read)."""

    stream_ordering: int
    event_id: str
    pdu: dict[str, Any]
    unsigned: dict[str, Any] | None
    txn_device_id: str | None
    txn_id: str | None
    redacted_by: str | None


def row_of(r: Any) -> EventRow:
    """An EventRow from a row of EVENT_COLUMNS."""
    return EventRow(
        r[0], r[1], jsonutil.loads_stored(r[2]), jsonutil.loads_stored(r[3]) if r[3] else None, r[4], r[5], r[6])


@dataclass(frozen=True)
class NewEvent:
    """Everything the append path writes for one event, in one transaction."""

    event_id: str
    pdu: dict[str, Any]
    pdu_json: bytes
    unsigned: dict[str, Any] | None
    txn_user_id: str | None = None
    txn_device_id: str | None = None
    txn_scope: str | None = None
    txn_id: str | None = None
    redacts: str | None = None
    redacted_pdu_json: bytes | None = None
    # Whom push rules said to notify; written in the event's own transaction.
    push_rows: tuple[PushRow, ...] = ()
    # What the policy records about the event (e.g. an acknowledgement and its audit entry), in its transaction.
    also: tuple[Callable[[sqlite3.Connection], object], ...] = ()
    # (rel_type, parent event ID) of the event's m.relates_to, indexed with the event.
    relation: tuple[str, str] | None = None


@dataclass(frozen=True)
class NewRoom:
    """A room row (and its alias) written in the same transaction as the room's first events."""

    room_id: str
    room_version: str
    creator: str
    alias: str | None = None
