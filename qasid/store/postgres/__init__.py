"""PostgreSQL behind the same stores: for several workers, on several hosts, sharing one database."""

from __future__ import annotations

from qasid.store.postgres.engine import PgDatabase
from qasid.store.postgres.search import PgSearchStore
from qasid.store.sqlite import Store


class PostgresStore(Store):
    """The stores over a PostgreSQL database; full-text search is PostgreSQL's own."""

    def __init__(self, url: str) -> None:
        db = PgDatabase(url)
        super().__init__(db)
        self.search = PgSearchStore(db)  # type: ignore[assignment]
