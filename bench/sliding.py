"""Phones' paths, side by side: sliding sync (MSC4186) against Synapse, and the cost of push.

    .venv/bin/python -m bench.sliding [--rooms 500] [--reps 3] [--rate 500] [--duration 10]

In one invocation, on loopback:
- `first_sliding_sync`: an account in `--rooms` rooms (each with a message) signs in on a new
  device and asks for the top 20 rooms with timeline_limit 1 — Element X's first request.
  Median ms of `--reps` (or `--first-reps`), qasid and Synapse, their repetitions interleaved
  (both servers provisioned first); `--first-only` runs this phase alone.
- `sliding_delivery`: 8 senders paced at `--rate` events/s in total into 1:1 rooms; each receiver
  long-polls sliding sync with the extensions Element X enables. Delivery: from the PUT's start
  to the event's first appearance in the receiver's sliding sync answer; p50/p99 and
  delivered/expected; the server's CPU ms, answers and (qasid) SQLite reads per event. qasid and
  Synapse. `--delivery-only --servers qasid` runs this phase alone.
- `push_cost`: qasid alone, 8 senders in a closed loop, with and without an HTTP pusher for every
  receiver (a loopback gateway that answers at once), events/s of each; alternated per repetition.
  CPU per event split into the server's own process, its children (the push process) and this
  process (senders and gateway).
Results go to bench/results/<UTC time>-sliding.json; the table is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import shutil
import statistics
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import orjson
import uvloop
from aiohttp import web

from bench.loadgen.matrix import PREFIX, Account, MatrixClient, new_session
from bench.loadgen.measure import cpu_seconds, percentiles
from bench.loadgen.workload import PASSWORD, MegolmBodies
from bench.servers import BENCH_DIR, Server, ensure_synapse, free_port, qasid_server, synapse_server

SLIDING = "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync"
FIRST_LIST = {"all": {"ranges": [[0, 19]], "timeline_limit": 1, "required_state": [
    ["m.room.name", ""], ["m.room.encryption", ""], ["m.room.member", "$ME"]]}}
SENDERS = 8
# What Element X (matrix-rust-sdk) asks for on every request of its room-list connection.
ELEMENT_X_EXTENSIONS = {"to_device": {"enabled": True}, "e2ee": {"enabled": True},
                        "account_data": {"enabled": True, "lists": ["*"], "rooms": ["*"]},
                        "receipts": {"enabled": True, "lists": ["*"], "rooms": ["*"]},
                        "typing": {"enabled": True, "lists": ["*"], "rooms": ["*"]}}


async def sliding(client: MatrixClient, account: Account, body: dict[str, Any], pos: str | None,
                  timeout_ms: int) -> dict[str, Any]:
    params = {"timeout": str(timeout_ms)} | ({"pos": pos} if pos else {})
    _, reply = await client.request("POST", SLIDING, body, account, params=params)
    return dict(reply)


async def register(client: MatrixClient, server: Server, name: str) -> Account:
    return await client.register(name, PASSWORD, server.registration_token)


async def first_sliding_syncs(work: Path, names: list[str], rooms: int, reps: int) -> dict[str, Any]:
    """Each server's first sliding sync, its repetitions interleaved so that both see the same
    machine: a busy moment lands on both, not on whichever ran then."""
    servers = {}
    try:
        async with new_session() as session:
            readers = {}
            for name in names:
                (work / f"{name}-first").mkdir()
                server = servers[name] = (synapse_server(work / f"{name}-first") if name == "synapse"
                                          else qasid_server(work / f"{name}-first"))
                server.start()
                client = MatrixClient(session, server.base_url)
                readers[name] = (client, await provisioned_reader(client, server, rooms))
            times: dict[str, list[float]] = {name: [] for name in names}
            sizes: dict[str, list[int]] = {name: [] for name in names}
            for _ in range(reps):
                for name, (client, reader) in readers.items():
                    elapsed, size = await first_sliding_sync(client, reader, rooms)
                    times[name].append(elapsed)
                    sizes[name].append(size)
    finally:
        for server in servers.values():
            server.stop()
    return {f"{name}.first_sliding_sync": {
        "median_ms": round(statistics.median(times[name]) * 1000, 2),
        "runs_ms": [round(t * 1000, 2) for t in times[name]], "bytes": statistics.median(sizes[name])}
        for name in names}


async def provisioned_reader(client: MatrixClient, server: Server, rooms: int) -> Account:
    reader = await register(client, server, "reader")
    bodies = MegolmBodies()
    for n in range(rooms):
        room_id = await client.create_encrypted_room(reader, [], f"room {n}", is_direct=False)
        await client.send_encrypted(reader, room_id, f"first{n}", bodies.encode(f"R{n:05d}"))
    return reader


async def first_sliding_sync(client: MatrixClient, reader: Account, rooms: int) -> tuple[float, int]:
    """Sign in on a new device, then time its first request: (seconds, response bytes)."""
    device = await client.login(reader.user_id, PASSWORD)
    t0 = time.perf_counter()
    async with client.session.post(client.base_url + SLIDING, data=orjson.dumps({"lists": FIRST_LIST}),
                                   headers=device.headers) as response:
        raw = await response.read()
    elapsed = time.perf_counter() - t0
    assert response.status == 200, raw[:300]
    reply = orjson.loads(raw)
    assert len(reply["rooms"]) == 20 and reply["lists"]["all"]["count"] == rooms, reply["lists"]
    return elapsed, len(raw)


async def pairs(client: MatrixClient, server: Server, tag: str) -> list[tuple[Account, Account, str]]:
    """SENDERS (sender, receiver, 1:1 encrypted room) triples."""
    found = []
    for i in range(SENDERS):
        sender = await register(client, server, f"{tag}s{i}")
        receiver = await register(client, server, f"{tag}r{i}")
        room_id = await client.create_encrypted_room(sender, [receiver.user_id], f"{tag} {i}", is_direct=True)
        await client.join(receiver, room_id)
        found.append((sender, receiver, room_id))
    return found


async def sliding_delivery(client: MatrixClient, server: Server, rate: float, duration: float) -> dict[str, Any]:
    triples = await pairs(client, server, "d")
    bodies = MegolmBodies()
    started: dict[str, float] = {}
    seen: dict[str, float] = {}
    body = {"lists": {"all": {"ranges": [[0, 19]], "timeline_limit": 50, "required_state": []}},
            "extensions": {} if os.environ.get("BENCH_NO_EXTENSIONS") else ELEMENT_X_EXTENSIONS}
    stop = asyncio.Event()
    answers = [0]

    async def receive(receiver: Account) -> None:
        pos = (await sliding(client, receiver, body, None, 0))["pos"]
        while not stop.is_set():
            reply = await sliding(client, receiver, body, pos, 10_000)
            now = time.perf_counter()
            answers[0] += 1
            pos = reply["pos"]
            for room in reply.get("rooms", {}).values():
                for event in room.get("timeline", []):
                    ciphertext = event.get("content", {}).get("ciphertext", "")
                    seen.setdefault(ciphertext[2:14], now)

    async def send(sender: Account, room_id: str, i: int) -> None:
        interval = SENDERS / rate
        next_t = time.perf_counter() + interval * i / SENDERS
        end = time.perf_counter() + duration
        seq, tasks = 0, set()
        while next_t < end:
            await asyncio.sleep(max(0.0, next_t - time.perf_counter()))
            next_t += interval
            seq += 1
            marker = f"D{i:02d}{seq:09d}"
            started[marker] = time.perf_counter()
            task = asyncio.create_task(client.send_encrypted(sender, room_id, f"d{i}.{seq}", bodies.encode(marker)))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.wait(tasks)

    receivers = [asyncio.create_task(receive(r)) for _, r, _ in triples]
    await asyncio.sleep(1)
    cpu0, reads0, answers0 = cpu_seconds(server.pid), await db_reads(server), answers[0]
    t0 = time.perf_counter()
    await asyncio.gather(*(send(s, room, i) for i, (s, _, room) in enumerate(triples)))
    elapsed = time.perf_counter() - t0
    await asyncio.sleep(3)  # the last deliveries
    cpu, reads, answered = cpu_seconds(server.pid) - cpu0, await db_reads(server) - reads0, answers[0] - answers0
    stop.set()
    await asyncio.wait(receivers, timeout=15)
    delays = [seen[m] - t for m, t in started.items() if m in seen]
    sent = max(1, len(started))
    return {"offered_per_s": rate, "achieved_per_s": round(len(started) / elapsed, 1),
            "delivered": round(len(delays) / sent, 4), **percentiles(delays),
            "answers_per_event": round(answered / sent, 3), "cpu_ms_per_event": round(cpu * 1000 / sent, 3),
            "db_reads_per_event": round(reads / sent, 2) if reads >= 0 else None}


async def db_reads(server: Server) -> float:
    """qasid's count of SQLite reads so far, from its metrics listener (-1 for Synapse)."""
    bind = server.env.get("QASID_METRICS_BIND")
    if not bind:
        return -1.0

    def scrape() -> str:
        with urllib.request.urlopen(f"http://{bind}/metrics", timeout=5) as response:
            return str(response.read().decode())

    text = await asyncio.to_thread(scrape)
    return next(float(line.split()[-1]) for line in text.splitlines() if line.startswith("qasid_db_reads_total"))


async def closed_loop_rate(client: MatrixClient, triples: list[tuple[Account, Account, str]], tag: str,
                           duration: float) -> float:
    bodies = MegolmBodies()
    done = [0]
    end = time.perf_counter() + duration

    async def loop(sender: Account, room_id: str, i: int) -> None:
        seq = 0
        while time.perf_counter() < end:
            seq += 1
            await client.send_encrypted(sender, room_id, f"{tag}{i}.{seq}", bodies.encode(f"P{i:02d}{seq:09d}"))
            done[0] += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(loop(s, room, i) for i, (s, _, room) in enumerate(triples)))
    return done[0] / (time.perf_counter() - t0)


async def push_cost(work: Path, reps: int, duration: float) -> dict[str, Any]:
    gateway_hits = [0]

    async def notify(request: web.Request) -> web.Response:
        await request.read()
        gateway_hits[0] += 1
        return web.json_response({"rejected": []})

    app = web.Application()
    app.router.add_post("/_matrix/push/v1/notify", notify)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    gateway = f"http://127.0.0.1:{port}"
    servers = {"without": qasid_server(work / "plain"), "with": qasid_server(work / "push")}
    servers["with"].env["QASID_PUSH_GATEWAY_ALLOWLIST"] = gateway
    rates: dict[str, list[float]] = {"without": [], "with": []}
    cpu_per_event: dict[str, list[float]] = {"without": [], "with": []}
    # Where the CPU of an event goes: the server's own process, its children (the push process),
    # and this process (the senders, and the gateway, which a deployment runs elsewhere).
    split: dict[str, dict[str, list[float]]] = {name: {"server_process": [], "children": [], "load_generator": []}
                                                for name in ("without", "with")}
    try:
        async with new_session() as session:
            triples = {}
            for name, server in servers.items():
                server.start()
                client = MatrixClient(session, server.base_url)
                triples[name] = await pairs(client, server, "p")
            for _, receiver, _ in triples["with"]:
                await MatrixClient(session, servers["with"].base_url).request(
                    "POST", PREFIX + "/pushers/set", {
                        "kind": "http", "app_id": "bench.push", "pushkey": receiver.user_id,
                        "app_display_name": "bench", "device_display_name": "bench", "lang": "en",
                        "data": {"url": gateway + "/_matrix/push/v1/notify", "format": "event_id_only"}},
                    receiver)
            for rep in range(reps):
                for name in (("without", "with") if rep % 2 == 0 else ("with", "without")):
                    client = MatrixClient(session, servers[name].base_url)
                    pid = servers[name].pid
                    cpu0, own0, here0 = cpu_seconds(pid), cpu_seconds(pid, descendants=False), time.process_time()
                    rate = await closed_loop_rate(client, triples[name], f"{name}{rep}.", duration)
                    await asyncio.sleep(2)  # delivery of what was queued counts too
                    events = rate * duration
                    cpu, own = cpu_seconds(pid) - cpu0, cpu_seconds(pid, descendants=False) - own0
                    cpu_per_event[name].append(cpu / events)
                    split[name]["server_process"].append(own / events)
                    split[name]["children"].append((cpu - own) / events)
                    split[name]["load_generator"].append((time.process_time() - here0) / events)
                    rates[name].append(rate)
    finally:
        for server in servers.values():
            server.stop()
        await runner.cleanup()
    without, with_push = statistics.median(rates["without"]), statistics.median(rates["with"])
    cpu_without, cpu_with = statistics.median(cpu_per_event["without"]), statistics.median(cpu_per_event["with"])
    return {"events_per_s_without": round(without, 1), "events_per_s_with": round(with_push, 1),
            "ratio": round(with_push / without, 3), "runs": rates,
            "cpu_ms_per_event_without": round(cpu_without * 1000, 3), "cpu_ms_per_event_with": round(cpu_with * 1000, 3),
            "cpu_ratio": round(cpu_with / cpu_without, 3), "gateway_requests": gateway_hits[0],
            "cpu_ms_per_event_split": {name: {part: round(statistics.median(values) * 1000, 3)
                                              for part, values in parts.items()} for name, parts in split.items()}}


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    work = BENCH_DIR / "work" / f"{stamp}-sliding"
    work.mkdir(parents=True)
    results: dict[str, Any] = {"time": stamp, "args": vars(args)}
    if "synapse" in args.servers and not args.push_only:
        results["synapse_version"] = ensure_synapse(args.synapse_version)
    if not (args.push_only or args.delivery_only):
        results |= await first_sliding_syncs(work, args.servers, args.rooms, args.first_reps or args.reps)
    for name in ([] if args.push_only or args.first_only else args.servers):
        (work / name).mkdir()
        server = synapse_server(work / name) if name == "synapse" else qasid_server(work / name)
        server.start()
        try:
            async with new_session() as session:
                client = MatrixClient(session, server.base_url)
                results[f"{name}.sliding_delivery"] = await sliding_delivery(client, server, args.rate, args.duration)
        finally:
            server.stop()
    if ("qasid" in args.servers or args.push_only) and not (args.delivery_only or args.first_only):
        results["qasid.push_cost"] = await push_cost(work / "push", args.reps, args.duration)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rooms", type=int, default=500)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--servers", type=lambda s: s.split(","), default=["synapse", "qasid"])
    parser.add_argument("--synapse-version")
    parser.add_argument("--push-only", action="store_true", help="only the push_cost phase")
    parser.add_argument("--delivery-only", action="store_true", help="only the sliding_delivery phase")
    parser.add_argument("--first-only", action="store_true", help="only the first_sliding_sync phase")
    parser.add_argument("--first-reps", type=int, help="repetitions of first_sliding_sync (default: --reps)")
    parser.add_argument("--keep-work", action="store_true", help="keep bench/work/<time>-sliding/ (data and logs)")
    args = parser.parse_args()
    results = uvloop.run(main_async(args))
    if not args.keep_work:
        shutil.rmtree(BENCH_DIR / "work" / f"{results['time']}-sliding", ignore_errors=True)
    out = BENCH_DIR / "results" / f"{results['time']}-sliding.json"
    out.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    print(orjson.dumps(results, option=orjson.OPT_INDENT_2).decode())
    if "synapse.first_sliding_sync" in results and "qasid.first_sliding_sync" in results:
        ratio = results["qasid.first_sliding_sync"]["median_ms"] / results["synapse.first_sliding_sync"]["median_ms"]
        print(f"first sliding sync, qasid/Synapse: {ratio:.3f} (target <= 0.2)")
    print(f"results: {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
