"""The HTTP stack's own floor under a parked long-poll: an HTTP server with an app that does nothing.

    .venv/bin/python -m bench.parked_floor [--http-server uvicorn,granian] [--counts 2000,4000] [--runs 3]

Starts bench/trivial_asgi.py (its /sync with `since` sleeps out the timeout, as a parked
long-poll of a server with nothing to say) under each server asked for — uvicorn with each of
its HTTP implementations (httptools, h11) and event loops (uvloop, asyncio), granian (Rust,
uvloop) — parks up to max(`--counts`) requests on connections of their own, and prints the RSS
growth per parked request at each count (process and descendants: granian serves from a worker
process), the median over `--runs` fresh servers. Whatever qasid costs above this is its own.
With `--out FILE` the raw runs go to a JSON file.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

from bench.parked import memory_of, raise_fd_limit
from bench.servers import BENCH_DIR, REPO, Server, free_port, trivial_command

UVICORN_VARIANTS = [("httptools", "uvloop"), ("httptools", "asyncio"), ("h11", "uvloop"), ("h11", "asyncio")]


async def park(port: int, first: int, count: int) -> list[asyncio.StreamWriter]:
    writers = []
    for n in range(first, first + count):
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"GET /_matrix/client/v3/sync?since=s{n}&timeout=60000 HTTP/1.1\r\n"
                     f"Host: 127.0.0.1\r\nAuthorization: Bearer t{n}\r\n\r\n".encode())
        writers.append(writer)
    await asyncio.sleep(3)
    return writers


def command(http_server: str, http: str, loop: str, port: int) -> list[str]:
    base = trivial_command(port, http_server)
    if http_server == "uvicorn":
        base[base.index("--loop") + 1], base[base.index("--http") + 1] = loop, http
    return base


async def one(variant: str, base: list[str], counts: list[int], work: Path) -> dict[int, float]:
    """KiB of RSS per parked request at each count, on one fresh server."""
    port = int(base[base.index("--port") + 1])
    server = Server(f"trivial-{variant}", base, work, port, cwd=REPO)
    server.start()
    writers: list[asyncio.StreamWriter] = []
    try:
        await asyncio.sleep(1)
        before = memory_of(server.pid)["rss_kib"]
        per = {}
        for count in sorted(counts):
            writers += await park(port, len(writers), count - len(writers))
            per[count] = (memory_of(server.pid)["rss_kib"] - before) / count
        return per
    finally:
        for w in writers:
            w.close()
        server.stop()


def variants(http_servers: list[str]) -> list[tuple[str, str, str]]:
    chosen = []
    for http_server in http_servers:
        if http_server == "uvicorn":
            chosen += [("uvicorn", http, loop) for http, loop in UVICORN_VARIANTS]
        else:
            chosen.append((http_server, "rust", "uvloop"))
    return chosen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--http-server", default="uvicorn,granian", help="comma-separated: uvicorn, granian")
    parser.add_argument("--counts", default="4000", help="comma-separated numbers of parked requests")
    parser.add_argument("--runs", type=int, default=1, help="fresh servers per variant (the median is printed)")
    parser.add_argument("--uvicorn-variants", default="all", help="'all', or 'qasid' for httptools + uvloop only")
    parser.add_argument("--out", help="write the raw runs to this JSON file")
    args = parser.parse_args()
    raise_fd_limit()
    counts = [int(c) for c in args.counts.split(",")]
    work = BENCH_DIR / "work" / f"floor-{time.strftime('%Y%m%dT%H%M%S')}"
    work.mkdir(parents=True)
    chosen = variants(args.http_server.split(","))
    if args.uvicorn_variants == "qasid":
        chosen = [v for v in chosen if v[0] != "uvicorn" or v[1:] == ("httptools", "uvloop")]
    results: list[dict[str, Any]] = []
    for _ in range(args.runs):
        for http_server, http, loop in chosen:
            name = f"{http_server}-{http}-{loop}"
            per = asyncio.run(one(name, command(http_server, http, loop, free_port()), counts, work))
            results.append({"variant": name, "per_parked_kib": per})
            print(f"{name:26} " + "  ".join(f"{per[c]:6.2f} KiB at {c}" for c in counts), flush=True)
    summary = {f"{s}-{h}-{lo}": {c: round(statistics.median(r["per_parked_kib"][c] for r in results
                                                          if r["variant"] == f"{s}-{h}-{lo}"), 2)
                                 for c in counts} for s, h, lo in chosen}
    print("median:", json.dumps(summary), flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps({
            "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "load_average": os.getloadavg(), "counts": counts, "runs": results, "median_kib": summary}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
