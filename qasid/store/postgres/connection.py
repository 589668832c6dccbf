"""A psycopg connection that the stores can use as they use sqlite3's.

Rows are tuples that can also be indexed by column name (as sqlite3.Row), statements are said in
PostgreSQL's dialect (`sql.translate`), Python booleans are stored as the integers SQLite keeps,
and whole-number NUMERIC results (what `sum()` of a BIGINT gives) come back as ints.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal
from functools import lru_cache
from typing import Any

import psycopg
from psycopg import pq
from psycopg.adapt import Dumper, Loader
from psycopg.rows import RowMaker

from qasid.store.groupcommit import UnstorableText
from qasid.store.postgres.sql import translate


@lru_cache(maxsize=2048)
def _row_class(names: tuple[str, ...]) -> type[tuple[Any, ...]]:
    index = {name: i for i, name in enumerate(names)}

    class Row(tuple[Any, ...]):
        __slots__ = ()

        def __getitem__(self, key: Any) -> Any:  # type: ignore[override]
            if isinstance(key, str):
                return tuple.__getitem__(self, index[key])
            return tuple.__getitem__(self, key)

        def keys(self) -> list[str]:
            return list(names)

    return Row


def _rows(cursor: Any) -> RowMaker[Any]:
    description = cursor.description
    if description is None:
        return tuple
    return _row_class(tuple(column.name for column in description))


class _BoolAsInt(Dumper):
    oid = psycopg.postgres.types["int8"].oid

    def dump(self, obj: bool) -> bytes:
        return b"1" if obj else b"0"


class _Numeric(Loader):
    def load(self, data: Any) -> int | float:
        value = Decimal(bytes(data).decode())
        return int(value) if value == value.to_integral_value() else float(value)


class _NoRows:
    """The cursor of a statement PostgreSQL has no use for (a PRAGMA), or of a lookup that can match nothing."""

    rowcount = 0

    def fetchone(self) -> None:
        return None

    def fetchall(self) -> list[Any]:
        return []

    def __iter__(self) -> Any:
        return iter(())


def has_nul(params: Sequence[Any]) -> bool:
    """Whether a text parameter holds U+0000, which PostgreSQL's text can't."""
    return any(type(p) is str and "\x00" in p for p in params)


def connect(url: str) -> psycopg.Connection[Any]:
    """A connection in autocommit (the engine says BEGIN and COMMIT itself), with the stores' types."""
    raw = psycopg.connect(url, autocommit=True, row_factory=_rows)
    raw.adapters.register_dumper(bool, _BoolAsInt)
    raw.adapters.register_loader("numeric", _Numeric)
    return raw


class PgConnection:
    """sqlite3.Connection's `execute`, `executemany`, `in_transaction` and `close` over psycopg."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.raw = connect(url)

    @property
    def lost(self) -> bool:
        """The connection is closed or broken (the server restarted, the network failed over)."""
        return bool(self.raw.closed or self.raw.broken)

    def reconnect(self) -> None:
        """A new connection in place of a lost one."""
        try:
            self.raw.close()
        finally:
            self.raw = connect(self.url)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        if has_nul(params):
            if sql.lstrip()[:6].upper() == "SELECT":
                return _NoRows()  # a lookup by text with U+0000 finds nothing: no stored text holds it
            raise UnstorableText("Text containing U+0000 can't be stored")
        statement = translate(sql)
        if statement is None:
            return _NoRows()
        # Always a tuple, even empty: psycopg then reads `%%` as `%`, as `translate` wrote it.
        return self.raw.execute(statement, tuple(params))  # type: ignore[arg-type]

    def executemany(self, sql: str, params: Iterable[Sequence[Any]]) -> Any:
        rows = [tuple(p) for p in params]
        if any(has_nul(row) for row in rows):
            raise UnstorableText("Text containing U+0000 can't be stored")
        statement = translate(sql)
        if statement is None:
            return _NoRows()
        cursor = self.raw.cursor()
        cursor.executemany(statement, rows)  # type: ignore[arg-type]
        return cursor

    @property
    def in_transaction(self) -> bool:
        return not self.lost and self.raw.info.transaction_status != pq.TransactionStatus.IDLE

    def close(self) -> None:
        self.raw.close()
