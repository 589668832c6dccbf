"""Wake latency between two workers through each engine qasid could use: PostgreSQL LISTEN/NOTIFY,
Redis pub/sub, NATS.

A message about the size of a commit's wake-up (a few user IDs) goes from one connection to another
connection of a second process, which answers on the same engine; half the round trip is the
one-way wake latency. The product uses LISTEN/NOTIFY (qasid/store/postgres/channel.py); the Redis
and NATS clients here are a few lines of their wire protocols, for this measurement only.

    python -m bench.worker_wake --rounds 500 [--pg URL] [--redis HOST:PORT] [--nats HOST:PORT]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import psycopg

PAYLOAD = json.dumps({"from": "a1b2c3", "wake": [f"@official{i}:gov.example" for i in range(8)]})


class Pg:
    def __init__(self, url: str, listen: str) -> None:
        self.url, self.listen = url, listen

    async def open(self) -> None:
        self.sub = await psycopg.AsyncConnection.connect(self.url, autocommit=True)
        await self.sub.execute(f"LISTEN {self.listen}")
        self.pub = await psycopg.AsyncConnection.connect(self.url, autocommit=True)
        self.gen = self.sub.notifies()

    async def send(self, channel: str, payload: str) -> None:
        await self.pub.execute("SELECT pg_notify(%s, %s)", (channel, payload))

    async def receive(self) -> str:
        return (await anext(self.gen)).payload


class Redis:
    def __init__(self, address: str, listen: str) -> None:
        self.host, port = address.split(":")
        self.port, self.listen = int(port), listen

    async def open(self) -> None:
        self.sr, self.sw = await asyncio.open_connection(self.host, self.port)
        self.sw.write(_resp("SUBSCRIBE", self.listen))
        await self.sw.drain()
        await self._read_array(self.sr)
        self.pr, self.pw = await asyncio.open_connection(self.host, self.port)

    async def send(self, channel: str, payload: str) -> None:
        self.pw.write(_resp("PUBLISH", channel, payload))
        await self.pw.drain()
        await self.pr.readline()  # :<receivers>

    async def receive(self) -> str:
        return (await self._read_array(self.sr))[2]

    async def _read_array(self, reader: asyncio.StreamReader) -> list[str]:
        count = int((await reader.readline())[1:])
        items = []
        for _ in range(count):
            head = await reader.readline()
            if head[:1] == b":":
                items.append(head[1:].strip().decode())
                continue
            size = int(head[1:])
            items.append((await reader.readexactly(size + 2))[:-2].decode())
        return items


def _resp(*parts: str) -> bytes:
    out = [f"*{len(parts)}\r\n".encode()]
    for part in parts:
        data = part.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


class Nats:
    def __init__(self, address: str, listen: str) -> None:
        self.host, port = address.split(":")
        self.port, self.listen = int(port), listen

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        await reader.readline()  # INFO
        writer.write(b'CONNECT {"verbose":false,"pedantic":false}\r\n')
        return reader, writer

    async def open(self) -> None:
        self.sr, self.sw = await self._connect()
        self.sw.write(f"SUB {self.listen} 1\r\nPING\r\n".encode())
        await self.sw.drain()
        while (await self.sr.readline()).strip() != b"PONG":
            pass
        self.pr, self.pw = await self._connect()

    async def send(self, channel: str, payload: str) -> None:
        data = payload.encode()
        self.pw.write(b"PUB %s %d\r\n%s\r\n" % (channel.encode(), len(data), data))
        await self.pw.drain()

    async def receive(self) -> str:
        while True:
            line = await self.sr.readline()
            if line.startswith(b"PING"):
                self.sw.write(b"PONG\r\n")
                continue
            if line.startswith(b"MSG"):
                size = int(line.split()[-1])
                return (await self.sr.readexactly(size + 2))[:-2].decode()


def make(engine: str, address: str, listen: str) -> Pg | Redis | Nats:
    return {"postgresql": Pg, "redis": Redis, "nats": Nats}[engine](address, listen)


async def echo(engine: str, address: str, rounds: int) -> None:
    """The second worker: answer every ping on the engine."""
    side = make(engine, address, "qasid_bench_ping")
    await side.open()
    print("ready", flush=True)
    for _ in range(rounds + 1):
        await side.send("qasid_bench_pong", await side.receive())


async def measure(engine: str, address: str, rounds: int) -> list[float]:
    side = make(engine, address, "qasid_bench_pong")
    await side.open()
    other = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.worker_wake", "--echo", engine, "--address", address, "--rounds", str(rounds),
        stdout=asyncio.subprocess.PIPE)
    assert other.stdout is not None
    await other.stdout.readline()
    await side.send("qasid_bench_ping", PAYLOAD)  # warm-up
    await side.receive()
    one_way_ms = []
    for _ in range(rounds):
        started = time.perf_counter()
        await side.send("qasid_bench_ping", PAYLOAD)
        await side.receive()
        one_way_ms.append((time.perf_counter() - started) * 1000 / 2)
    await other.wait()
    return one_way_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3, help="runs per engine, interleaved")
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis", default="127.0.0.1:6379")
    parser.add_argument("--nats", default="127.0.0.1:4222")
    parser.add_argument("--echo", help=argparse.SUPPRESS)
    parser.add_argument("--address", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.echo:
        asyncio.run(echo(args.echo, args.address, args.rounds))
        return
    engines = {"postgresql": args.pg, "redis": args.redis, "nats": args.nats}
    runs: dict[str, list[float]] = {e: [] for e in engines}
    for _ in range(args.repeat):
        for engine, address in engines.items():
            samples = asyncio.run(measure(engine, address, args.rounds))
            runs[engine].append(statistics.median(samples))
            print(f"{engine:10s} median {statistics.median(samples):.3f} ms  p99 "
                  f"{statistics.quantiles(samples, n=100)[98]:.3f} ms", flush=True)
    summary = {e: {"median_of_run_medians_ms": round(statistics.median(v), 3), "run_medians_ms": [round(x, 3) for x in v]}
               for e, v in runs.items()}
    print(json.dumps(summary, indent=1))
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out = Path(__file__).parent / "results" / f"{stamp}-worker-wake.json"
    out.write_text(json.dumps({"bench": "worker_wake", "rounds": args.rounds, "one_way_wake": summary}, indent=1) + "\n")


if __name__ == "__main__":
    main()
