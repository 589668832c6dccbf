"""Uploaded media metadata (the bytes live in files under the data folder)."""

from __future__ import annotations

from qasid.store.sqlite.engine import Database


class MediaStore:
    """Typed persistence; every write durable before it returns."""

    def __init__(self, db: Database) -> None:
        self.db = db
