"""What one long-poll wake costs the server: CPU and SQLite reads per delivered event, no load.

    .venv/bin/python -m bench.wake_cost [--events 300] [--rooms 50]

One qasid, one sender and one receiver in a 1:1 encrypted room; the receiver is also in
`--rooms` other rooms (a phone's list is never one room). The receiver holds a long-poll, the
sender sends one event, the receiver is answered with it; repeated `--events` times, one at a
time, for each way of syncing (and `send`: no one polling, the send's own cost): `/sync`, sliding sync with a list, and sliding sync with the
extensions Element X enables. The server's CPU time (from /proc) and its count of SQLite reads
(from its metrics listener) per round are what a busy machine cannot blur: nothing waits.
`--repo DIR` (repeatable) measures other checkouts in the same invocation, for an A/B.
Results go to bench/results/<UTC time>-wake.json.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import shutil
import statistics
import sys
from pathlib import Path
from typing import Any

import orjson
import uvloop

from bench.loadgen.matrix import PREFIX, Account, MatrixClient, new_session
from bench.loadgen.measure import cpu_seconds
from bench.loadgen.workload import PASSWORD, MegolmBodies
from bench.servers import BENCH_DIR, REPO, qasid_server
from bench.sliding import ELEMENT_X_EXTENSIONS, SLIDING, db_reads

LIST = {"all": {"ranges": [[0, 19]], "timeline_limit": 10, "required_state": [
    ["m.room.name", ""], ["m.room.encryption", ""], ["m.room.member", "$LAZY"], ["m.room.member", "$ME"]]}}


async def rounds(client: MatrixClient, sender: Account, receiver: Account, room_id: str, mode: str,
                 events: int, rep: int) -> tuple[float, float]:
    bodies = MegolmBodies()
    body: dict[str, Any] = {"lists": LIST} | ({"extensions": ELEMENT_X_EXTENSIONS} if mode == "sliding+ext" else {})

    async def poll(token: str | None) -> tuple[str, dict[str, Any]]:
        if mode == "sync":
            params = {"timeout": "10000"} | ({"since": token} if token else {"timeout": "0"})
            _, reply = await client.request("GET", PREFIX + "/sync", None, receiver, params=params)
            return reply["next_batch"], reply
        params = {"timeout": "10000"} | ({"pos": token} if token else {"timeout": "0"})
        _, reply = await client.request("POST", SLIDING, body, receiver, params=params)
        return reply["pos"], reply

    token = None if mode == "send" else (await poll(None))[0]
    for n in range(events + 10):
        if n == 10:  # the first rounds warm the caches
            cpu0, reads0 = cpu_seconds(client.server_pid), await db_reads(client.server)
        if mode == "send":  # the send alone, to subtract
            await client.send_encrypted(sender, room_id, f"{mode}.{rep}.{n}", bodies.encode(f"W{n:09d}"))
            await asyncio.sleep(0.03)
            continue
        waiting = asyncio.create_task(poll(token))
        await asyncio.sleep(0.005)  # parked before the event arrives, as a phone is
        await client.send_encrypted(sender, room_id, f"{mode}.{rep}.{n}", bodies.encode(f"W{n:09d}"))
        token, _ = await waiting
        await asyncio.sleep(0.025)  # past the pace of the answered device: each round is a wake
    cpu = cpu_seconds(client.server_pid) - cpu0
    reads = await db_reads(client.server) - reads0
    return cpu * 1000 / events, reads / events


async def measure(work: Path, repo: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Every mode on one server running the tree at `repo`."""
    server = qasid_server(work, repo)
    server.start()
    results: dict[str, Any] = {}
    try:
        async with new_session() as session:
            client = MatrixClient(session, server.base_url)
            client.server, client.server_pid = server, server.pid  # type: ignore[attr-defined]
            sender = await client.register("wsender", PASSWORD, server.registration_token)
            receiver = await client.register("wreceiver", PASSWORD, server.registration_token)
            room_id = await client.create_encrypted_room(sender, [receiver.user_id], "pair", is_direct=True)
            await client.join(receiver, room_id)
            for n in range(args.rooms):
                other = await client.create_encrypted_room(receiver, [], f"other {n}", is_direct=False)
                await client.send_encrypted(receiver, other, f"o{n}", MegolmBodies().encode(f"O{n:05d}"))
            per_mode: dict[str, dict[str, list[float]]] = {}
            for rep in range(args.reps):
                for mode in args.modes:
                    cpu_ms, reads = await rounds(client, sender, receiver, room_id, mode, args.events, rep)
                    print(f"{repo.name} {mode} rep {rep}: {cpu_ms:.3f} ms CPU, {reads:.2f} reads per round",
                          file=sys.stderr)
                    found = per_mode.setdefault(mode, {"cpu_ms": [], "reads": []})
                    found["cpu_ms"].append(round(cpu_ms, 3))
                    found["reads"].append(round(reads, 2))
            for mode, found in per_mode.items():
                results[mode] = {"cpu_ms_per_round": statistics.median(found["cpu_ms"]),
                                 "db_reads_per_round": statistics.median(found["reads"]), "runs": found}
    finally:
        server.stop()
    return results


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    results: dict[str, Any] = {"time": stamp, "args": {k: str(v) for k, v in vars(args).items()}}
    try:
        for n, repo in enumerate(args.repo or [REPO]):
            work = BENCH_DIR / "work" / f"{stamp}-wake" / str(n)
            work.mkdir(parents=True)
            results[str(repo)] = await measure(work, repo, args)
    finally:
        shutil.rmtree(BENCH_DIR / "work" / f"{stamp}-wake", ignore_errors=True)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--rooms", type=int, default=50)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--modes", type=lambda v: v.split(","), default=["send", "sync", "sliding", "sliding+ext"])
    parser.add_argument("--repo", type=Path, action="append",
                        help="a checkout of qasid to measure (repeatable: each in turn; default this one)")
    results = uvloop.run(main_async(parser.parse_args()))
    out = BENCH_DIR / "results" / f"{results['time']}-wake.json"
    out.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    print(orjson.dumps(results, option=orjson.OPT_INDENT_2).decode())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
