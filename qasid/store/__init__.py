"""Persistence: the stores of every area over SQLite (embedded, the default) or PostgreSQL."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from qasid.config import Settings
    from qasid.store.sqlite import Store


def open_store(settings: Settings) -> Store:
    """The store the settings name: PostgreSQL at `database_url`, else the data folder's SQLite file."""
    if settings.database_url:
        from qasid.store.postgres import PostgresStore

        return PostgresStore(settings.database_url)
    from qasid.store.sqlite import SqliteStore

    return SqliteStore(settings.database_path)
