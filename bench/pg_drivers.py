"""psycopg 3 against asyncpg on qasid's hot path, in one run, on one PostgreSQL.

The two operations that dominate the store on a busy server:
- an event append: one transaction holding the writers' advisory lock, the event row and its
  push-action rows (qasid's group commit takes several such writes per transaction: `--batch`);
- a point read by primary key, as a sync wake does several times.
Each driver runs each operation `--n` times per repetition; repetitions alternate the drivers, and
medians of the per-operation times are reported with the ratio.

    .venv/bin/pip install asyncpg   # only for this comparison: qasid itself does not use it
    .venv/bin/python -m bench.pg_drivers --url postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
import uuid
from typing import Any

SCHEMA = """
CREATE TABLE ev (stream_ordering BIGINT PRIMARY KEY, event_id TEXT UNIQUE, room_id TEXT, pdu BYTEA);
CREATE TABLE pa (stream_ordering BIGINT, user_id TEXT, actions BYTEA, PRIMARY KEY (user_id, stream_ordering));
"""
PDU = b'{"type":"m.room.encrypted","content":{"ciphertext":"' + b"x" * 600 + b'"}}'
LOCK = 0x71617369_6400ffff


def _psycopg_sync(url: str, n: int, batch: int, start: int) -> tuple[float, float]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        began = time.perf_counter()
        pos = start
        for _ in range(n // batch):
            conn.execute("BEGIN")
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK,))
            for _ in range(batch):
                pos += 1
                conn.execute("INSERT INTO ev VALUES (%s, %s, %s, %s)", (pos, f"$e{pos}", "!r", PDU))
                conn.execute("INSERT INTO pa VALUES (%s, %s, %s)", (pos, "@u:x", b'["notify"]'))
            conn.execute("COMMIT")
        write = (time.perf_counter() - began) / n
        began = time.perf_counter()
        for i in range(n):
            conn.execute("SELECT pdu FROM ev WHERE stream_ordering = %s", (start + 1 + i,)).fetchone()
        read = (time.perf_counter() - began) / n
    return write, read


async def _asyncpg(url: str, n: int, batch: int, start: int) -> tuple[float, float]:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        began = time.perf_counter()
        pos = start
        for _ in range(n // batch):
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock($1)", LOCK)
                for _ in range(batch):
                    pos += 1
                    await conn.execute("INSERT INTO ev VALUES ($1, $2, $3, $4)", pos, f"$e{pos}", "!r", PDU)
                    await conn.execute("INSERT INTO pa VALUES ($1, $2, $3)", pos, "@u:x", b'["notify"]')
        write = (time.perf_counter() - began) / n
        began = time.perf_counter()
        for i in range(n):
            await conn.fetchrow("SELECT pdu FROM ev WHERE stream_ordering = $1", start + 1 + i)
        read = (time.perf_counter() - began) / n
    finally:
        await conn.close()
    return write, read


async def _psycopg_async(url: str, n: int, batch: int, start: int) -> tuple[float, float]:
    import psycopg

    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        began = time.perf_counter()
        pos = start
        for _ in range(n // batch):
            await conn.execute("BEGIN")
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK,))
            for _ in range(batch):
                pos += 1
                await conn.execute("INSERT INTO ev VALUES (%s, %s, %s, %s)", (pos, f"$e{pos}", "!r", PDU))
                await conn.execute("INSERT INTO pa VALUES (%s, %s, %s)", (pos, "@u:x", b'["notify"]'))
            await conn.execute("COMMIT")
        write = (time.perf_counter() - began) / n
        began = time.perf_counter()
        for i in range(n):
            await (await conn.execute("SELECT pdu FROM ev WHERE stream_ordering = %s", (start + 1 + i,))).fetchone()
        read = (time.perf_counter() - began) / n
    return write, read


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    import psycopg

    schema = f"bench_drivers_{uuid.uuid4().hex[:8]}"
    url = f"{args.url}{'&' if '?' in args.url else '?'}options=-csearch_path%3D{schema}"
    with psycopg.connect(args.url, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(SCHEMA)
        runs: dict[str, list[tuple[float, float]]] = {"psycopg (sync, as the writer thread uses it)": [],
                                                      "psycopg (async)": [], "asyncpg": []}
        start = 0
        for _ in range(args.reps):
            for name in runs:
                if name.startswith("psycopg (sync"):
                    result = _psycopg_sync(url, args.n, args.batch, start)
                elif name == "asyncpg":
                    result = asyncio.run(_asyncpg(url, args.n, args.batch, start))
                else:
                    result = asyncio.run(_psycopg_async(url, args.n, args.batch, start))
                runs[name].append(result)
                start += args.n
        report: dict[str, Any] = {"n": args.n, "batch": args.batch, "reps": args.reps, "drivers": {}}
        for name, results in runs.items():
            report["drivers"][name] = {
                "append_us_median": round(statistics.median(w for w, _ in results) * 1e6, 1),
                "point_read_us_median": round(statistics.median(r for _, r in results) * 1e6, 1),
            }
        print(json.dumps(report, indent=2))
    finally:
        with psycopg.connect(args.url, autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")


if __name__ == "__main__":
    main()
