"""The HTTP stack's own floor under a parked long-poll: uvicorn with an app that does nothing.

    .venv/bin/python -m bench.parked_floor [--count 4000]

For each of uvicorn's HTTP implementations (httptools, h11) and event loops (uvloop, asyncio),
starts bench/trivial_asgi.py (its /sync with `since` sleeps out the timeout, as a parked
long-poll of a server with nothing to say), parks `--count` requests on connections of their
own, and prints the RSS growth per parked request. Whatever qasid costs above this is its own.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

from bench.parked import memory_of, raise_fd_limit
from bench.servers import BENCH_DIR, REPO, Server, free_port


async def park(port: int, count: int) -> list[asyncio.StreamWriter]:
    writers = []
    for n in range(count):
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"GET /_matrix/client/v3/sync?since=s{n}&timeout=60000 HTTP/1.1\r\n"
                     f"Host: 127.0.0.1\r\nAuthorization: Bearer t{n}\r\n\r\n".encode())
        writers.append(writer)
    await asyncio.sleep(3)
    return writers


async def one(http: str, loop: str, count: int, work: Path) -> float:
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "bench.trivial_asgi:app", "--host", "127.0.0.1", "--port",
               str(port), "--loop", loop, "--http", http, "--no-access-log", "--log-level", "warning"]
    server = Server(f"trivial-{http}-{loop}", command, work, port, cwd=REPO)
    server.start()
    try:
        await asyncio.sleep(1)
        before = memory_of(server.pid)["rss_kib"]
        writers = await park(port, count)
        after = memory_of(server.pid)["rss_kib"]
        for w in writers:
            w.close()
        return (after - before) / count
    finally:
        server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=4000)
    args = parser.parse_args()
    raise_fd_limit()
    work = BENCH_DIR / "work" / f"floor-{time.strftime('%Y%m%dT%H%M%S')}"
    work.mkdir(parents=True)
    for http in ("httptools", "h11"):
        for loop in ("uvloop", "asyncio"):
            per = asyncio.run(one(http, loop, args.count, work))
            print(f"{http:9} {loop:7} {per:6.2f} KiB per parked request ({args.count})", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
