"""The committed positions of the persistent streams /sync reads, in one query."""

from __future__ import annotations

from dataclasses import dataclass

from qasid.store.sqlite.engine import Database


@dataclass(frozen=True)
class StreamPositions:
    """Highest committed position of each stream a sync token carries (events aside)."""

    receipts: int
    account_data: int
    to_device: int
    device_lists: int
    presence: int = 0


class StreamStore:
    """Read from the file every time: the operator CLI writes some of these streams too."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def positions(self) -> StreamPositions:
        row = self.db.read_one(
            "SELECT (SELECT coalesce(max(stream_id), 0) FROM receipts),"
            " (SELECT coalesce(max(stream_id), 0) FROM account_data),"
            # The to-device position never falls, even when messages are deleted.
            " (SELECT coalesce(max(position), 0) FROM to_device_stream WHERE id = 1),"
            " (SELECT coalesce(max(stream_id), 0) FROM device_list_changes),"
            " (SELECT coalesce(max(stream_id), 0) FROM presence)")
        return StreamPositions(int(row[0]), int(row[1]), int(row[2]), int(row[3]), int(row[4]))
