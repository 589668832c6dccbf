"""The measured phases: send (closed loop or paced) with delivery, initial sync, accounts.

Every phase returns a plain dict that goes straight into the JSON report.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import string
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from bench.loadgen.matrix import Account, MatrixClient, MatrixHTTPError
from bench.loadgen.measure import ResourceWindow, percentiles
from bench.loadgen.workload import PASSWORD, MegolmBodies, Population, bounded, marker_of, register_many

SYNC_FILTER = orjson.dumps({"room": {"timeline": {"limit": 400}, "state": {"lazy_load_members": True}}}).decode()
FIRST_SYNC_FILTER = orjson.dumps({"room": {"timeline": {"limit": 1}}}).decode()
LONG_POLL_MS = 10_000
PACED_MAX_IN_FLIGHT = 64  # as many as the 64-sender closed loop keeps waiting
PACED_GRACE_S = 20.0


@dataclass
class SendState:
    """Shared bookkeeping of one send phase."""

    tag: str
    t_warm: float
    t_end: float
    bodies: MegolmBodies = field(default_factory=MegolmBodies)
    sent: dict[str, tuple[float, tuple[int, ...]]] = field(default_factory=dict)
    seen: dict[tuple[str, int], float] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    completed_in_window: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    limited_timelines: int = 0
    syncs_in_window: int = 0
    skipped: int = 0


async def _one_send(client: MatrixClient, st: SendState, pop: Population, i: int, seq: int) -> None:
    room_id, expected = pop.route(i, seq)
    marker = f"{st.tag}{i:03d}{seq:07d}"
    body = st.bodies.encode(marker)
    t0 = time.perf_counter()
    measured = t0 >= st.t_warm
    if measured:
        st.sent[marker] = (t0, expected)
    try:
        await client.send_encrypted(pop.senders[i], room_id, f"{st.tag}.{i}.{seq}", body)
    except asyncio.CancelledError:
        st.sent.pop(marker, None)  # never answered: not counted as sent, nor expected anywhere
        raise
    except MatrixHTTPError as e:
        st.sent.pop(marker, None)
        st.errors[f"{e.status} {e.errcode}"] += 1
        await asyncio.sleep(0.01)
        return
    except aiohttp.ClientError as e:
        st.sent.pop(marker, None)
        st.errors[type(e).__name__] += 1
        await asyncio.sleep(0.01)
        return
    t1 = time.perf_counter()
    if measured:
        st.latencies.append(t1 - t0)
    if st.t_warm <= t1 <= st.t_end:
        st.completed_in_window += 1


async def _closed_loop_sender(client: MatrixClient, st: SendState, pop: Population, i: int) -> None:
    seq = 0
    while time.perf_counter() < st.t_end:
        seq += 1
        await _one_send(client, st, pop, i, seq)


async def _paced_sender(
    client: MatrixClient, st: SendState, pop: Population, i: int, rate_per_sender: float,
    t_start: float, in_flight: list[int], cap: int,
) -> None:
    """Open loop: one send every 1/rate seconds whatever the answers. A tick that finds `cap`
    sends already waiting (across all senders) is skipped and counted, so a server that can't
    keep up shows as a lower achieved rate instead of an ever-growing backlog."""
    interval = 1.0 / rate_per_sender
    next_t = t_start + random.random() * interval
    seq = 0
    tasks: set[asyncio.Task[None]] = set()

    async def fire(n: int) -> None:
        in_flight[0] += 1
        try:
            await _one_send(client, st, pop, i, n)
        finally:
            in_flight[0] -= 1

    while next_t < st.t_end:
        delay = next_t - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        next_t += interval
        if in_flight[0] >= cap:
            st.skipped += 1
            continue
        seq += 1
        task = asyncio.create_task(fire(seq))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.wait(tasks, timeout=PACED_GRACE_S)
        for task in list(tasks):
            task.cancel()
            st.errors["unanswered"] += 1


async def _receiver(client: MatrixClient, st: SendState, account: Account, idx: int, since: str) -> None:
    tag = st.tag
    while True:
        try:
            raw = await client.sync_raw(account, since, LONG_POLL_MS, SYNC_FILTER)
        except (MatrixHTTPError, aiohttp.ClientError) as e:
            st.errors[f"sync {type(e).__name__}"] += 1
            await asyncio.sleep(0.1)
            continue
        now = time.perf_counter()
        if st.t_warm <= now <= st.t_end:
            st.syncs_in_window += 1
        doc = orjson.loads(raw)
        since = doc["next_batch"]
        for room in doc.get("rooms", {}).get("join", {}).values():
            timeline = room.get("timeline", {})
            if timeline.get("limited"):
                st.limited_timelines += 1
            for event in timeline.get("events", ()):
                if event.get("type") != "m.room.encrypted":
                    continue
                marker = marker_of(event.get("content", {}))
                if marker and marker.startswith(tag):
                    st.seen.setdefault((marker, idx), now)


async def first_since(client: MatrixClient, accounts: list[Account]) -> list[str]:
    """Each receiver's position now, so the measured syncs are incremental long-polls."""
    async def one(a: Account) -> str:
        return str(orjson.loads(await client.sync_raw(a, None, 0, FIRST_SYNC_FILTER))["next_batch"])
    return await bounded((one(a) for a in accounts), 8)


async def send_phase(
    client: MatrixClient, pop: Population, senders: int, duration: float, warmup: float,
    pid: int | None, offered_rate: float | None = None, delivery: bool = True, drain_s: float = 30.0,
) -> dict[str, Any]:
    """S senders (closed loop, or paced at `offered_rate` events/s in total) while every receiver
    long-polls /sync; send latency from PUT to 200, delivery latency from PUT to appearance."""
    sinces = await first_since(client, pop.receivers)
    tag = "".join(random.choice(string.ascii_uppercase) for _ in range(4))
    t_start = time.perf_counter()
    st = SendState(tag=tag, t_warm=t_start + warmup, t_end=t_start + warmup + duration)
    receivers = [asyncio.create_task(_receiver(client, st, a, j, sinces[j]))
                 for j, a in enumerate(pop.receivers)]
    async with ResourceWindow(pid) as window:
        if offered_rate:
            in_flight = [0]
            await asyncio.gather(*(_paced_sender(client, st, pop, i, offered_rate / senders, t_start,
                                                 in_flight, PACED_MAX_IN_FLIGHT)
                                   for i in range(senders)))
        else:
            await asyncio.gather(*(_closed_loop_sender(client, st, pop, i) for i in range(senders)))
        expected = {(m, r) for m, (_, rs) in st.sent.items() for r in rs}
        drain_deadline = time.perf_counter() + drain_s
        while delivery and time.perf_counter() < drain_deadline and not expected <= st.seen.keys():
            await asyncio.sleep(0.05)
    for task in receivers:
        task.cancel()
    await asyncio.gather(*receivers, return_exceptions=True)
    result: dict[str, Any] = {
        "senders": senders, "receivers": len(pop.receivers), "duration_s": duration, "warmup_s": warmup,
        "offered_rate": offered_rate, "events": st.completed_in_window,
        "events_per_s": round(st.completed_in_window / duration, 1),
        "send_latency": percentiles(st.latencies), "errors": dict(st.errors),
        "resources": window.result,
    }
    if offered_rate:
        result["skipped_ticks"] = st.skipped
    if delivery:
        delays = [st.seen[k] - st.sent[k[0]][0] for k in expected if k in st.seen]
        result["delivery"] = {
            "expected": len(expected), "delivered": len(delays),
            "fraction": round(len(delays) / len(expected), 6) if expected else None,
            **percentiles(delays), "limited_timelines": st.limited_timelines,
            # How many sync answers the receivers got: fewer per event means more batching.
            "syncs_per_s": round(st.syncs_in_window / duration, 1),
        }
    return result


async def initial_sync_phase(client: MatrixClient, pop: Population, pid: int | None, reps: int = 3) -> dict[str, Any]:
    """A fresh device of the reader (20 rooms, 1,000 events) syncs from nothing, with and without
    lazy-loaded members; the login is not timed. Timeline limit 20 in both, so servers do equal work."""
    assert pop.reader is not None
    result: dict[str, Any] = {"rooms": len(pop.history_rooms)}
    async with ResourceWindow(pid) as window:
        for lazy in (False, True):
            room_filter: dict[str, Any] = {"timeline": {"limit": 20}}
            if lazy:
                room_filter["state"] = {"lazy_load_members": True}
            times, sizes, rooms_seen, states = [], [], [], []
            for _ in range(reps):
                device = await client.login(pop.reader.user_id, PASSWORD)
                t0 = time.perf_counter()
                raw = await client.sync_raw(device, None, 0, orjson.dumps({"room": room_filter}).decode())
                times.append(time.perf_counter() - t0)
                doc = orjson.loads(raw)
                joined = doc.get("rooms", {}).get("join", {})
                sizes.append(len(raw))
                rooms_seen.append(len(joined))
                states.append(sum(len(r.get("state", {}).get("events", [])) for r in joined.values()))
            key = "lazy" if lazy else "full"
            result[key] = {"median_ms": round(sorted(times)[len(times) // 2] * 1000, 2),
                           "all_ms": [round(t * 1000, 2) for t in times], "bytes": sizes[-1],
                           "joined_rooms": rooms_seen[-1], "state_events": states[-1]}
    result["resources"] = window.result
    return result


async def accounts_phase(
    client: MatrixClient, pop: Population, token: str | None, pid: int | None, count: int = 16,
    concurrency: int = 4,
) -> dict[str, Any]:
    """Registration (the server's whole UIA flow) and password login, `concurrency` at a time."""
    result: dict[str, Any] = {"count": count, "concurrency": concurrency}
    async with ResourceWindow(pid) as window:
        names = [f"{pop.prefix}a{secrets.token_hex(3)}{i}" for i in range(count)]
        lat: list[float] = []

        async def timed_register(name: str) -> Account:
            t0 = time.perf_counter()
            (account,) = await register_many(client, [name], token, 1)
            lat.append(time.perf_counter() - t0)
            return account

        t0 = time.perf_counter()
        accounts = await bounded((timed_register(n) for n in names), concurrency)
        wall = time.perf_counter() - t0
        result["registration"] = {"per_s": round(count / wall, 2), **percentiles(lat)}
        login_lat: list[float] = []

        async def timed_login(account: Account) -> None:
            t = time.perf_counter()
            await client.login(account.user_id, PASSWORD)
            login_lat.append(time.perf_counter() - t)

        t0 = time.perf_counter()
        await bounded((timed_login(a) for a in accounts), concurrency)
        wall = time.perf_counter() - t0
        result["login"] = {"per_s": round(count / wall, 2), **percentiles(login_lat)}
    result["resources"] = window.result
    return result
