"""Account data, receipts, filters, presence: per-user and per-room data that is not events."""

from __future__ import annotations

from qasid.store.sqlite.engine import Database


class UserDataStore:
    """Typed persistence; every write durable before it returns."""

    def __init__(self, db: Database) -> None:
        self.db = db
