"""The stores' SQL, written for SQLite, said in PostgreSQL's words.

The stores keep one text of each statement; the few places where SQLite's dialect differs from
PostgreSQL's are rewritten here, once per distinct statement (cached):

- `?` placeholders become `%s` (and a literal `%` becomes `%%`), never inside a quoted string;
- `INSERT OR IGNORE` becomes `ON CONFLICT DO NOTHING`;
- `INSERT OR REPLACE` becomes an upsert on the table's primary key, setting every other column;
- `LIKE` becomes `ILIKE`: SQLite's LIKE ignores ASCII case, PostgreSQL's does not;
- `PRAGMA` (SQLite's own settings: secure_delete and the like) has no counterpart and is skipped.

What can't be rewritten by rule (full-text search) has its own store class; `json_extract` is a
function the schema defines.
"""

from __future__ import annotations

import re
from functools import lru_cache

_INSERT_OR = re.compile(r"^\s*INSERT\s+OR\s+(IGNORE|REPLACE)\s+INTO\s+(\w+)\s*(\(([^)]*)\))?", re.I | re.S)
_RETURNING = re.compile(r"\sRETURNING\s", re.I)
_LIKE = re.compile(r"\bLIKE\b")

# The primary key of every table an `INSERT OR REPLACE` names: its conflict target.
PRIMARY_KEYS: dict[str, tuple[str, ...]] = {}


@lru_cache(maxsize=4096)
def translate(sql: str) -> str | None:
    """`sql` for PostgreSQL; None for a statement that has no meaning there (a PRAGMA)."""
    if sql.lstrip().upper().startswith("PRAGMA"):
        return None
    text = _outside_strings(sql, _placeholders)
    match = _INSERT_OR.match(text)
    if match:
        text = _upsert(text, match)
    return _outside_strings(text, lambda part: _LIKE.sub("ILIKE", part))


def _placeholders(part: str) -> str:
    return part.replace("%", "%%").replace("?", "%s")


def _outside_strings(sql: str, change: object) -> str:
    """Apply `change` to the parts of `sql` outside single-quoted strings."""
    pieces = sql.split("'")
    # Even pieces are outside quotes ('' inside a string splits into an empty odd piece: still inside).
    return "'".join(change(piece) if i % 2 == 0 else piece for i, piece in enumerate(pieces))  # type: ignore[operator]


def _upsert(sql: str, match: re.Match[str]) -> str:
    kind, table, columns = match.group(1).upper(), match.group(2), match.group(4)
    plain = sql[:match.start()] + f"INSERT INTO {table}" + (f" ({columns})" if columns else "") + sql[match.end():]
    if kind == "IGNORE":
        clause = " ON CONFLICT DO NOTHING"
    else:
        if columns is None:
            raise ValueError(f"INSERT OR REPLACE INTO {table} needs its column list to be said in PostgreSQL")
        key = PRIMARY_KEYS[table]
        rest = [c.strip() for c in columns.split(",") if c.strip() not in key]
        clause = (f" ON CONFLICT ({', '.join(key)}) DO "
                  + ("UPDATE SET " + ", ".join(f"{c} = EXCLUDED.{c}" for c in rest) if rest else "NOTHING"))
    returning = _RETURNING.search(plain)
    if returning:
        return plain[:returning.start()] + clause + plain[returning.start():]
    return plain.rstrip().rstrip(";") + clause
