"""The population a run works on: accounts, encrypted rooms, history, and Megolm-shaped bodies.

Layout (S senders, N receivers, all distinct accounts):
- a 1:1 encrypted room per sender i, shared with receiver i mod N;
- one 10-member encrypted group room: the first 5 senders and the first 5 receivers;
- for initial sync: a reader in 20 encrypted rooms of 10 members each, 1,000 events of history.
"""

from __future__ import annotations

import asyncio
import base64
import os
import random
import secrets
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson

from bench.loadgen.matrix import Account, MatrixClient

T = TypeVar("T")
PASSWORD = "loadgen correct horse battery staple"
CIPHERTEXT_CHARS = 300
MARKER_CHARS = 14  # tag (4) + sender (3) + sequence (7)
GROUP_SIZE = 10


async def bounded(coros: Iterable[Awaitable[T]], limit: int) -> list[T]:
    """Await every coroutine with at most `limit` in flight; results in order."""
    gate = asyncio.Semaphore(limit)

    async def one(coro: Awaitable[T]) -> T:
        async with gate:
            return await coro

    return list(await asyncio.gather(*(one(c) for c in coros)))


def _b64(n: int) -> str:
    return base64.b64encode(os.urandom(n)).decode().rstrip("=")


class MegolmBodies:
    """m.room.encrypted contents shaped like a real Megolm message (~300-char ciphertext).

    The ciphertext starts with a unique marker (base64-alphabet characters) so a receiver can
    tell which send it is looking at without decrypting anything."""

    def __init__(self) -> None:
        self._pool = _b64(6000)
        self.sender_key = _b64(32)
        self.session_id = _b64(32)
        self.device_id = "LOADGEN" + secrets.token_hex(3).upper()

    def encode(self, marker: str) -> bytes:
        offset = random.randrange(0, len(self._pool) - CIPHERTEXT_CHARS)
        ciphertext = "Aw" + marker + self._pool[offset:offset + CIPHERTEXT_CHARS - 2 - len(marker)]
        return orjson.dumps({
            "algorithm": "m.megolm.v1.aes-sha2",
            "ciphertext": ciphertext,
            "device_id": self.device_id,
            "sender_key": self.sender_key,
            "session_id": self.session_id,
        })


def marker_of(content: dict[str, Any]) -> str | None:
    """The marker embedded by `MegolmBodies.encode`, if this content carries one."""
    ciphertext = content.get("ciphertext")
    if isinstance(ciphertext, str) and len(ciphertext) > MARKER_CHARS + 2:
        return ciphertext[2:2 + MARKER_CHARS]
    return None


@dataclass
class Population:
    """Everyone and every room a run uses, created once per server and reused by every phase."""

    prefix: str
    senders: list[Account] = field(default_factory=list)
    receivers: list[Account] = field(default_factory=list)
    direct_rooms: list[str] = field(default_factory=list)
    group_room: str = ""
    group_senders: int = 0
    group_receivers: list[int] = field(default_factory=list)
    reader: Account | None = None
    history_members: list[Account] = field(default_factory=list)
    history_rooms: list[str] = field(default_factory=list)

    def route(self, sender: int, seq: int) -> tuple[str, tuple[int, ...]]:
        """(room, receivers expected to see it) for a sender's seq-th message: group members send
        every fourth message to the group room, everything else goes to their 1:1 room."""
        if sender < self.group_senders and seq % 4 == 3:
            return self.group_room, tuple(self.group_receivers)
        return self.direct_rooms[sender], (sender % len(self.receivers),)


async def register_many(
    client: MatrixClient, names: list[str], token: str | None, concurrency: int,
) -> list[Account]:
    return await bounded((client.register(n, PASSWORD, token) for n in names), concurrency)


async def provision(
    client: MatrixClient, senders: int, receivers: int, token: str | None, history: bool,
    history_rooms: int = 20, history_events: int = 1000, concurrency: int = 8,
) -> Population:
    """Register the accounts, create and join the rooms, and (if asked) write the history."""
    pop = Population(prefix="lg" + secrets.token_hex(3))
    pop.senders = await register_many(client, [f"{pop.prefix}s{i}" for i in range(senders)], token, concurrency)
    pop.receivers = await register_many(client, [f"{pop.prefix}r{i}" for i in range(receivers)], token, concurrency)

    async def direct(i: int) -> str:
        partner = pop.receivers[i % receivers]
        room = await client.create_encrypted_room(pop.senders[i], [partner.user_id], f"1:1 {i}", True)
        await client.join(partner, room)
        return room

    pop.direct_rooms = await bounded((direct(i) for i in range(senders)), concurrency)
    pop.group_senders = min(GROUP_SIZE // 2, senders)
    pop.group_receivers = list(range(min(GROUP_SIZE - pop.group_senders, receivers)))
    members = pop.senders[:pop.group_senders] + [pop.receivers[j] for j in pop.group_receivers]
    pop.group_room = await client.create_encrypted_room(
        members[0], [m.user_id for m in members[1:]], "group", False)
    await bounded((client.join(m, pop.group_room) for m in members[1:]), concurrency)
    if history:
        await write_history(client, pop, token, history_rooms, history_events, concurrency)
    return pop


async def write_history(
    client: MatrixClient, pop: Population, token: str | None, rooms: int, events: int, concurrency: int,
) -> None:
    """A reader in `rooms` rooms of GROUP_SIZE members, with `events` encrypted events spread over them."""
    names = [f"{pop.prefix}h{i}" for i in range(GROUP_SIZE)]
    accounts = await register_many(client, names, token, concurrency)
    pop.reader, pop.history_members = accounts[0], accounts[1:]
    invitees = [m.user_id for m in pop.history_members]

    async def room(k: int) -> str:
        assert pop.reader is not None
        room_id = await client.create_encrypted_room(pop.reader, invitees, f"history {k}", False)
        for member in pop.history_members:
            await client.join(member, room_id)
        return room_id

    pop.history_rooms = await bounded((room(k) for k in range(rooms)), concurrency)
    bodies = MegolmBodies()
    rng = random.Random(7)

    async def send(n: int) -> None:
        author = rng.choice(accounts)
        room_id = pop.history_rooms[n % rooms]
        await client.send_encrypted(author, room_id, f"{pop.prefix}hist{n}", bodies.encode(f"HIST{n:010d}"))

    await bounded((send(n) for n in range(events)), concurrency)
