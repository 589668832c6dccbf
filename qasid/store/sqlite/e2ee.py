"""Device keys, one-time and fallback keys, cross-signing keys, device-list changes, to-device inboxes, key backup."""

from __future__ import annotations

from qasid.store.sqlite.engine import Database


class E2eeStore:
    """Typed persistence; every write durable before it returns."""

    def __init__(self, db: Database) -> None:
        self.db = db
