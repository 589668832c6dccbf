"""Parked long-polls: what each costs the server in memory, and a 1,000-member room's fan-out.

    .venv/bin/python -m bench.parked [--counts 2000,4000] [--members 1000] [--phases memory,fanout]
                                     [--tracemalloc 8]

- `memory`: one qasid process; `max(counts)` users, one device each, in public rooms of
  `--room-size`, each after its initial sync. The server's RSS (VmRSS) and PSS (smaps_rollup) are
  read after a full gc with no client connected, then with each count of `/sync?since=…&timeout=60000`
  long-polls parked (`--timeout-ms`: qasid's longest, so parking thousands on a busy machine ends
  before the first is answered; Element's 30000 costs the same), each on its own TCP connection
  (a client re-parks at once when answered, as a real one does). Reports the growth per parked long-poll. With `--tracemalloc N` the server
  runs under `-X tracemalloc=N` and the top allocation sites of the growth are printed (RSS is
  then inflated by tracemalloc itself: use those runs for where, not how much). `--sliding` parks
  sliding syncs (MSC4186, Element X's first list) instead.
- `fanout`: `--members` users joined to one room, each with a lazy-loading long-poll parked; one
  member sends a message; the time from the PUT's start until each parked sync answers with it:
  p50/p99 over all members, `--rounds` messages (each after every member has re-parked).

The server is `qasid serve` run through bench/parked_server.py (a gc/snapshot probe beside it,
nothing added to qasid). Provisioning uses argon2id at its lowest cost (`QASID_ARGON2_*`), so
thousands of accounts register in seconds; nothing measured hashes a password.
The client side is raw asyncio streams speaking HTTP/1.1 by hand (one connection per poll).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import orjson

from bench.app_on import serve_on
from bench.loadgen.matrix import PREFIX, Account, MatrixClient, new_session
from bench.loadgen.measure import family, percentiles
from bench.servers import BENCH_DIR, APP_SERVERS, Server, qasid_server

PASSWORD = "parked-bench-password-1"
SLIDING = "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync"
# Element X's list: the top 20 rooms with their last event.
SLIDING_BODY = orjson.dumps({"lists": {"all": {"ranges": [[0, 19]], "timeline_limit": 1, "required_state": [
    ["m.room.name", ""], ["m.room.member", "$ME"]]}}})
LAZY = orjson.dumps({"room": {"state": {"lazy_load_members": True}, "timeline": {"limit": 10}}}).decode()


def raise_fd_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# --- the server ----------------------------------------------------------------------------


def start_server(work: Path, trace_frames: int, http_server: str = "qasid") -> Server:
    server = qasid_server(work)
    server.env.update({"QASID_ARGON2_TIME_COST": "1", "QASID_ARGON2_MEMORY_KIB": "8",
                       "BENCH_PROBE_DIR": str(work)})
    trace = ["-X", f"tracemalloc={trace_frames}"] if trace_frames else []
    server.command = [sys.executable, *trace, "-m", "bench.parked_server", "serve"]
    if http_server != "qasid":
        serve_on(server, http_server)  # no tracemalloc there (granian serves from a child process)
    server.start()
    return server


def memory_of(pid: int) -> dict[str, int]:
    """VmRSS and Pss of the server process and its descendants (granian's worker), in KiB."""
    rss = pss = 0
    for member in family(pid):
        status = Path(f"/proc/{member}/status").read_text()
        rss += next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
        rollup = Path(f"/proc/{member}/smaps_rollup").read_text()
        pss += next(int(line.split()[1]) for line in rollup.splitlines() if line.startswith("Pss:"))
    return {"rss_kib": rss, "pss_kib": pss}


async def probe(work: Path, timeout_s: float = 300.0) -> None:
    """Ask the probe thread for a gc (and a snapshot under tracemalloc); wait until it is done."""
    done = work / "probe.done"
    done.unlink(missing_ok=True)
    (work / "probe.request").write_text("")
    deadline = time.monotonic() + timeout_s
    while not done.exists():
        if time.monotonic() > deadline:
            raise RuntimeError("the server's probe did not answer")
        await asyncio.sleep(0.1)


async def parked_now(session: aiohttp.ClientSession, server: Server) -> int:
    async with session.get(f"http://{server.env['QASID_METRICS_BIND']}/metrics") as response:
        text = await response.text()
    return int(sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith("qasid_parked_long_polls{")))


async def wait_parked(session: aiohttp.ClientSession, server: Server, count: int, timeout_s: float = 120) -> float:
    """Seconds until `count` long-polls are parked."""
    t0 = time.monotonic()
    while (now := await parked_now(session, server)) < count:
        if time.monotonic() - t0 > timeout_s:
            raise RuntimeError(f"only {now} of {count} long-polls parked after {timeout_s} s")
        await asyncio.sleep(0.2)
    return time.monotonic() - t0


# --- the raw client ------------------------------------------------------------------------


class Poller:
    """One device long-polling /sync on a TCP connection of its own, HTTP/1.1 written by hand."""

    def __init__(self, port: int, account: Account, since: str, filter_json: str | None, sliding: bool = False) -> None:
        self.port, self.account, self.since, self.filter_json = port, account, since, filter_json
        self.sliding = sliding  # MSC4186 sliding sync (POST, `pos`) instead of /sync
        self.answers: asyncio.Queue[bytes] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None
        self.errors = 0

    def request(self, timeout_ms: int) -> bytes:
        if self.sliding:
            return (f"POST {SLIDING}?timeout={timeout_ms}&pos={quote(self.since)} HTTP/1.1\r\n"
                    f"Host: 127.0.0.1:{self.port}\r\nAuthorization: Bearer {self.account.access_token}\r\n"
                    f"Content-Type: application/json\r\nContent-Length: {len(SLIDING_BODY)}\r\n\r\n").encode() + SLIDING_BODY
        target = f"{PREFIX}/sync?timeout={timeout_ms}&since={quote(self.since)}"
        if self.filter_json:
            target += "&filter=" + quote(self.filter_json)
        return (f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
                f"Authorization: Bearer {self.account.access_token}\r\n\r\n").encode()

    async def run(self, timeout_ms: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            while True:
                writer.write(self.request(timeout_ms))
                status, body = await read_response(reader)
                if status != 200:
                    self.errors += 1
                    raise RuntimeError(f"/sync -> {status} {body[:200]!r}")
                self.since = orjson.loads(body)["pos" if self.sliding else "next_batch"]
                self.answers.put_nowait(body)
        finally:
            writer.close()

    def start(self, timeout_ms: int = 30000) -> None:
        self.task = asyncio.ensure_future(self.run(timeout_ms))

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
    if "content-length" in headers:
        return status, await reader.readexactly(int(headers["content-length"]))
    body = b""
    while True:  # chunked
        size = int((await reader.readuntil(b"\r\n")).strip(), 16)
        chunk = await reader.readexactly(size + 2)
        if size == 0:
            return status, body
        body += chunk[:-2]


# --- provisioning --------------------------------------------------------------------------


async def gather_limited(jobs: list[Any], limit: int = 16) -> list[Any]:
    gate = asyncio.Semaphore(limit)

    async def one(job: Any) -> Any:
        async with gate:
            return await job

    return list(await asyncio.gather(*(one(j) for j in jobs)))


async def provision(client: MatrixClient, server: Server, users: int, room_size: int, tag: str) -> list[Account]:
    """`users` accounts (one device each) in public rooms of `room_size` members."""
    accounts = await gather_limited([client.register(f"{tag}{n:06d}", PASSWORD, server.registration_token)
                                     for n in range(users)])
    for first in range(0, users, room_size):
        group = accounts[first:first + room_size]
        _, reply = await client.request("POST", PREFIX + "/createRoom",
                                        {"preset": "public_chat", "name": f"{tag} {first}"}, group[0])
        await gather_limited([client.join(a, reply["room_id"]) for a in group[1:]])
    return accounts


async def initial_syncs(client: MatrixClient, accounts: list[Account], filter_json: str | None,
                        sliding: bool = False) -> list[str]:
    async def one(account: Account) -> str:
        if sliding:
            _, reply = await client.request("POST", SLIDING, orjson.loads(SLIDING_BODY), account)
            return str(reply["pos"])
        raw = await client.sync_raw(account, None, 0, filter_json)
        return str(orjson.loads(raw)["next_batch"])

    return await gather_limited([one(a) for a in accounts])


# --- phases --------------------------------------------------------------------------------


async def memory_phase(work: Path, counts: list[int], room_size: int, trace_frames: int,
                       timeout_ms: int, sliding: bool = False, http_server: str = "qasid") -> dict[str, Any]:
    server = start_server(work, trace_frames, http_server)
    result: dict[str, Any] = {"counts": counts, "room_size": room_size, "tracemalloc": trace_frames,
                              "kind": "sliding_sync" if sliding else "sync", "http_server": http_server}
    pollers: list[Poller] = []
    try:
        async with new_session(64) as session:
            client = MatrixClient(session, server.base_url)
            accounts = await provision(client, server, max(counts), room_size, "m")
            tokens = await initial_syncs(client, accounts, None, sliding)
        pollers = [Poller(server.port, a, t, None, sliding) for a, t in zip(accounts, tokens, strict=True)]
        async with aiohttp.ClientSession() as metrics:
            await asyncio.sleep(2)
            await probe(work)
            base = memory_of(server.pid)
            result["idle"] = base
            started = 0
            for count in counts:
                for p in pollers[started:count]:
                    p.start(timeout_ms)
                started = count
                result[f"park_s_{count}"] = round(await wait_parked(metrics, server, count), 2)
                await asyncio.sleep(1)
                await probe(work)
                now = memory_of(server.pid)
                if (parked := await parked_now(metrics, server)) < count - count // 100:
                    # Past ~15,000 the first long-polls time out and re-park while the last are
                    # still parking, as real phones do; a few in between are allowed (1%).
                    raise RuntimeError(f"only {parked} of {count} parked at the measurement: rerun")
                result[f"parked_at_measurement_{count}"] = parked
                result[str(count)] = {**now, "rss_per_parked_kib": round((now["rss_kib"] - base["rss_kib"]) / count, 2),
                                      "pss_per_parked_kib": round((now["pss_kib"] - base["pss_kib"]) / count, 2)}
                print(f"parked {count}: {result[str(count)]}", flush=True)
            if trace_frames:
                result["top"] = top_allocations(work, max(counts))
    finally:
        await asyncio.gather(*(p.stop() for p in pollers))
        server.stop()
    return result


def top_allocations(work: Path, count: int, lines: int = 30) -> list[str]:
    first = tracemalloc.Snapshot.load(str(work / "snapshot-0.pickle"))
    last = tracemalloc.Snapshot.load(max(work.glob("snapshot-*.pickle")).as_posix())
    keep = [tracemalloc.Filter(False, tracemalloc.__file__)]
    diff = last.filter_traces(keep).compare_to(first.filter_traces(keep), "traceback")
    total = sum(d.size_diff for d in diff)
    out = [f"total traced growth {total / 1024:.0f} KiB = {total / count:.0f} B per parked long-poll"]
    for stat in diff[:lines]:
        frames = " <- ".join(f"{Path(f.filename).name}:{f.lineno}" for f in list(stat.traceback)[::-1][:4])
        out.append(f"{stat.size_diff / count:8.0f} B/poll {stat.count_diff / count:6.2f} blocks/poll  {frames}")
    print("\n".join(out), flush=True)
    return out


async def fanout_phase(work: Path, members: int, rounds: int, spy: bool, http_server: str = "qasid") -> dict[str, Any]:
    server = start_server(work, 0, http_server)
    pollers: list[Poller] = []
    try:
        async with new_session(64) as session:
            client = MatrixClient(session, server.base_url)
            accounts = await provision(client, server, members, members, "f")
            room_id = (await client.request("GET", PREFIX + "/joined_rooms", None, accounts[0]))[1]["joined_rooms"][0]
            tokens = await initial_syncs(client, accounts, LAZY)
            pollers = [Poller(server.port, a, t, LAZY) for a, t in zip(accounts, tokens, strict=True)]
            for p in pollers:
                p.start()
            runs = []
            profiler = start_py_spy(server.pid, work / "fanout.raw") if spy else None
            async with aiohttp.ClientSession() as metrics:
                for n in range(rounds):
                    await wait_parked(metrics, server, members)
                    await asyncio.sleep(0.5)
                    for p in pollers:
                        while not p.answers.empty():
                            p.answers.get_nowait()
                    marker = f"fanout-{n}-{time.time_ns()}"
                    t0 = time.perf_counter()
                    await client.request("PUT", f"{PREFIX}/rooms/{quote(room_id)}/send/m.room.message/t{n}",
                                         {"msgtype": "m.text", "body": marker}, accounts[n % members])
                    delays = await asyncio.gather(*(until_seen(p, marker.encode(), t0) for p in pollers))
                    runs.append(percentiles(delays))
                    print(f"round {n}: {runs[-1]}", flush=True)
            if profiler is not None:
                profiler.send_signal(signal.SIGINT)
                profiler.wait()
                print(f"profile: {work / 'fanout.raw'} (python -m bench.profile_top)", flush=True)
        return {"members": members, "rounds": runs,
                "median_p50_ms": statistics.median(r["p50_ms"] for r in runs),
                "median_p99_ms": statistics.median(r["p99_ms"] for r in runs),
                "worst_max_ms": max(r["max_ms"] for r in runs)}
    finally:
        await asyncio.gather(*(p.stop() for p in pollers))
        server.stop()


def start_py_spy(pid: int, out: Path) -> subprocess.Popen[bytes]:
    """py-spy over the fan-out rounds only (from bench/.venv-tools, as bench/profile_qasid.py)."""
    return subprocess.Popen([str(BENCH_DIR / ".venv-tools" / "bin" / "py-spy"), "record", "--pid", str(pid),
                             "--format", "raw", "--output", str(out), "--nonblocking"])


async def until_seen(poller: Poller, marker: bytes, t0: float, timeout_s: float = 60) -> float:
    deadline = time.monotonic() + timeout_s
    while True:
        body = await asyncio.wait_for(poller.answers.get(), max(0.1, deadline - time.monotonic()))
        if marker in body:
            return time.perf_counter() - t0


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    results: dict[str, Any] = {"time": stamp, "args": vars(args), "client_fd_limit": raise_fd_limit(),
                               "cpus": os.cpu_count()}
    if "memory" in args.phases:
        work = BENCH_DIR / "work" / f"{stamp}-parked-memory"
        work.mkdir(parents=True)
        results["memory"] = await memory_phase(work, args.counts, args.room_size, args.tracemalloc,
                                                args.timeout_ms, args.sliding, args.http_server)
    if "fanout" in args.phases:
        work = BENCH_DIR / "work" / f"{stamp}-parked-fanout"
        work.mkdir(parents=True)
        results["fanout"] = await fanout_phase(work, args.members, args.rounds, args.py_spy, args.http_server)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--counts", type=lambda s: [int(c) for c in s.split(",")], default=[2000, 4000])
    parser.add_argument("--room-size", type=int, default=20)
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--phases", type=lambda s: s.split(","), default=["memory", "fanout"])
    parser.add_argument("--tracemalloc", type=int, default=0, metavar="FRAMES")
    parser.add_argument("--timeout-ms", type=int, default=60000,
                        help="the memory phase's long-poll timeout: qasid's most, so that parking thousands on a busy"
                             " machine ends before the first answer at its timeout")
    parser.add_argument("--sliding", action="store_true", help="memory phase: park sliding syncs (MSC4186)")
    parser.add_argument("--py-spy", action="store_true", help="profile the server over the fan-out rounds")
    parser.add_argument("--http-server", choices=APP_SERVERS, default="qasid",
                        help="serve qasid's app on its own transport (`qasid serve`), or on uvicorn or granian (bench/app_on.py)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    import uvloop

    results = uvloop.run(main_async(args))
    out = args.out or BENCH_DIR / "results" / f"{results['time']}-parked{'-trace' if args.tracemalloc else ''}.json"
    out.write_text(json.dumps(results, indent=2, default=str))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
