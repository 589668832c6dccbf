"""Every admin action commits with its audit entry: a SIGKILL at any point leaves both or neither.

A burst of admin API calls — units created and renamed, policy set, officials created and
imported, offboardings (devices removed, rooms left), suspensions, enrollment tokens, and
maintenance runs (retention purges, expired devices) — runs while the server is killed after a
varying number of acknowledgements plus a random delay. Then, from the database as the kill left
it: the chain verifies; every effect present has its entry and every entry its effect; every
acknowledged call has its entry. After a restart the maintenance loop finishes the interrupted
offboardings, and the same holds.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.gov.helpers import ADMIN, PASSWORD, V3, Gov, Session

VICTIMS = 4
ROOMS_EACH = 3
MESSAGES = 6


@dataclass
class World:
    """What the burst acts on, set up before it."""

    mof: int
    renamed: int
    policed: int
    victims: list[Session]
    expiring: Session
    retention_room: str
    enrollment_token: str
    acked: dict[str, list[Any]] = field(default_factory=lambda: defaultdict(list))


@dataclass
class Db:
    """The database as the kill left it."""

    entries: list[dict[str, Any]]
    units: dict[str, str]
    policies: dict[int, dict[str, Any]]
    users: set[str]
    deactivated: set[str]
    locked: dict[str, bool]
    devices: set[tuple[str, str]]
    leaves: set[tuple[str, str]]
    pending: set[str]
    retention_events: int
    tokens: int
    officials: dict[str, int]

    def of(self, action: str) -> list[dict[str, Any]]:
        return [e for e in self.entries if e["action"] == action]


def read_db(gov: Gov, world: World) -> Db:
    with gov.server.snapshot():
        return _read_db(gov, world)


def _read_db(gov: Gov, world: World) -> Db:
    query = gov.server.query
    entries = [{"action": a, "target": t, "unit_id": u, "details": json.loads(d)} for a, t, u, d in query(
        "SELECT action, target, unit_id, details FROM audit_log ORDER BY seq")]
    leaves = set()
    for user_id, room_id, pdu in query(
            "SELECT e.state_key, e.room_id, e.pdu FROM events e WHERE e.type = 'm.room.member'"):
        content = json.loads(pdu)["content"]
        if content.get("membership") == "leave" and content.get("reason") == "offboarded":
            leaves.add((user_id, room_id))
    return Db(
        entries=entries,
        units={code: name for code, name in query("SELECT code, name FROM units")},
        policies={u: json.loads(p) for u, p in query("SELECT unit_id, policy_json FROM unit_policies")},
        users={u for (u,) in query("SELECT user_id FROM users")},
        deactivated={u for (u,) in query("SELECT user_id FROM users WHERE deactivated = 1")},
        locked={u: bool(x) for u, x in query("SELECT user_id, locked FROM users")},
        devices={(u, d) for u, d in query("SELECT user_id, device_id FROM devices")},
        leaves=leaves,
        pending={u for (u,) in query("SELECT user_id FROM pending_offboardings")},
        retention_events=query("SELECT count(*) FROM events WHERE room_id = ? AND type = 'm.room.encrypted'",
                                 (world.retention_room,))[0][0],
        tokens=query("SELECT count(*) FROM enrollment_tokens")[0][0],
        officials=dict(query("SELECT user_id, unit_id FROM officials")),
    )


def setup(gov: Gov) -> World:
    mof = gov.unit("MOF")
    renamed, policed = gov.unit("REN", parent=mof), gov.unit("POL", parent=mof)
    victims = []
    for n in range(VICTIMS):
        victim = gov.official(f"victim{n}", mof)
        gov.login(f"victim{n}", device_id=f"SECOND{n}")
        for r in range(ROOMS_EACH):
            made = gov.client("POST", "/createRoom", victim, {"name": f"room {n}.{r}"})
            assert made.status_code == 200, made.text
        victims.append(victim)
    retention = gov.unit("RET", encryption_required=False, retention_days=1 / 86400)
    keeper = gov.official("keeper", retention)
    room = gov.client("POST", "/createRoom", keeper, {"name": "short-lived"}).json()["room_id"]
    for n in range(MESSAGES):
        sent = gov.client("PUT", f"/rooms/{room}/send/m.room.encrypted/t{n}", keeper,
                          {"algorithm": "m.megolm.v1.aes-sha2", "ciphertext": f"c{n}", "session_id": "s"})
        assert sent.status_code == 200, sent.text
    gov.client("PUT", f"/rooms/{room}/state/m.room.topic/", keeper, {"topic": "the newest event stays"})
    expiring_unit = gov.unit("EXP", device_inactive_days=1 / 86400)
    expiring = gov.official("expiring", expiring_unit)
    for n in range(3):
        gov.login("expiring", device_id=f"OLD{n}")
    time.sleep(1.5)  # the messages and the devices are past their policy now
    return World(mof, renamed, policed, victims, expiring, room, gov.enrollment_token(mof, uses_allowed=100))


def burst(gov: Gov, world: World, acks_before_kill: int, delay: float) -> None:
    enough = threading.Event()

    async def run() -> None:
        async with httpx.AsyncClient(base_url=gov.server.base_url + ADMIN, timeout=60,
                                     headers=gov.root.auth) as client:
            async def repeat(kind: str, count: int, call: Callable[[int], Awaitable[httpx.Response]],
                             ack: Callable[[int, httpx.Response], Any] = lambda n, r: n) -> None:
                for n in range(count):
                    try:
                        response = await call(n)
                    except httpx.HTTPError:
                        return
                    if response.status_code == 200:
                        world.acked[kind].append(ack(n, response))
                        if sum(map(len, world.acked.values())) >= acks_before_kill:
                            enough.set()

            csv = "\n".join

            async def enroll(n: int) -> httpx.Response:
                """The spec's three steps with the enrollment token; the last creates the account."""
                url, body = gov.server.base_url + V3 + "/register", {"username": f"reg{n}", "password": PASSWORD}
                session = (await client.post(url, json=body)).json()["session"]
                await client.post(url, json={**body, "auth": {
                    "type": "m.login.registration_token", "token": world.enrollment_token, "session": session}})
                return await client.post(url, json={**body, "auth": {"type": "m.login.dummy", "session": session}})

            await asyncio.gather(
                repeat("unit", 30, lambda n: client.post("/units", json={
                    "code": f"C{n}", "name": f"Cell {n}", "parent_id": world.mof})),
                repeat("rename", 30, lambda n: client.put(f"/units/{world.renamed}", json={"name": f"name-{n}"})),
                repeat("policy", 30, lambda n: client.put(f"/units/{world.policed}/policy", json={"max_devices": n + 1})),
                repeat("official", 20, lambda n: client.post("/officials", json={
                    "username": f"new{n}", "unit_id": world.mof})),
                repeat("import", 10, lambda n: client.post("/officials/import", json={"csv": csv([
                    f"MOF,imp{n}a,Imported {n}a,Clerk", f"MOF,imp{n}b,Imported {n}b,Clerk"])})),
                repeat("offboard", VICTIMS, lambda n: client.post(
                    f"/officials/{world.victims[n].user_id}/offboard"), lambda n, r: world.victims[n].user_id),
                repeat("suspend", 20, lambda n: client.post(
                    f"/officials/{world.expiring.user_id}/{'suspend' if n % 2 == 0 else 'unsuspend'}")),
                repeat("token", 10, lambda n: client.post("/enrollment_tokens", json={"unit_id": world.mof})),
                repeat("enroll", 12, enroll),
                repeat("maintenance", 4, lambda n: client.post("/maintenance/run", json={}),
                       lambda n, r: r.json()),
            )

    def kill_midway() -> None:
        enough.wait(120)
        time.sleep(delay)
        gov.server.kill()

    killer = threading.Thread(target=kill_midway)
    killer.start()
    asyncio.run(run())
    enough.set()
    killer.join()


def check_both_or_neither(gov: Gov, world: World, db: Db) -> None:
    """Every effect in the database has its entry, every entry its effect, every acknowledgement its entry."""
    verified = gov.server.run_cli("audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    acked = world.acked

    created_units = {e["target"] for e in db.of("unit.create") if e["target"].startswith("C")}
    assert created_units == {code for code in db.units if code.startswith("C")}
    assert {f"C{n}" for n in acked["unit"]} <= created_units

    renames = [e["details"]["name"] for e in db.of("unit.update") if e["target"] == "REN"]
    assert db.units["REN"] == (renames[-1] if renames else "REN")
    assert len(renames) >= len(acked["rename"])

    policies = [e["details"]["max_devices"] for e in db.of("policy.change") if e["target"] == "POL"]
    assert db.policies.get(world.policed, {}).get("max_devices") == (policies[-1] if policies else None)
    assert len(policies) >= len(acked["policy"])

    created = {e["target"] for e in db.of("account.create") if e["target"].startswith("@new")}
    assert created == {u for u in db.users if u.startswith("@new")}
    assert {gov.server.user_id(f"new{n}") for n in acked["official"]} <= created

    imported = [u for e in db.of("account.bulk_import") for u in e["details"]["created_user_ids"]]
    assert sorted(imported) == sorted(u for u in db.users if u.startswith("@imp"))
    assert {gov.server.user_id(f"imp{n}{x}") for n in acked["import"] for x in "ab"} <= set(imported)

    offboarded = {e["target"] for e in db.of("account.offboard")}
    assert offboarded == db.deactivated & {v.user_id for v in world.victims}
    assert set(acked["offboard"]) <= offboarded
    removed = {(e["target"], e["details"]["device_id"]) for e in db.of("device.removed")}
    for n, victim in enumerate(world.victims):
        before = {(victim.user_id, victim.device_id), (victim.user_id, f"SECOND{n}")}
        assert {d for d in db.devices if d[0] == victim.user_id} == before - removed
    left = {(e["target"], e["details"]["room_id"]) for e in db.of("membership.leave")}
    assert left == db.leaves
    finished = {e["target"] for e in db.of("membership.leave_all")}
    assert finished.isdisjoint(db.pending) and finished | db.pending == offboarded
    for user_id in set(acked["offboard"]):
        assert user_id in finished  # the API answers after the rooms are left
        assert not {d for d in db.devices if d[0] == user_id}

    flips = [e["action"] for e in db.entries if e["action"] in ("account.suspend", "account.unsuspend")
             and e["target"] == world.expiring.user_id]
    assert len(flips) >= len(acked["suspend"])
    assert db.locked[world.expiring.user_id] == (bool(flips) and flips[-1] == "account.suspend")

    assert len(db.of("enrollment_token.issue")) == db.tokens >= len(acked["token"])

    # An enrolled account, its place in the unit and its entry (filed under that unit) commit together.
    redeemed = {e["target"]: e["unit_id"] for e in db.of("registration_token.redeemed") if e["target"].startswith("@reg")}
    enrolled = {u for u in db.users if u.startswith("@reg")}
    assert set(redeemed) == enrolled and {gov.server.user_id(f"reg{n}") for n in acked["enroll"]} <= enrolled
    assert all(db.officials.get(u) == world.mof == redeemed[u] for u in enrolled)

    purged = sum(e["details"]["events_purged"] for e in db.of("retention.purge") if e["target"] == world.retention_room)
    assert purged == MESSAGES - db.retention_events
    expired = {(e["target"], d) for e in db.of("device.expire") for d in e["details"]["device_ids"]}
    expiring = world.expiring.user_id
    assert expired == {(u, e["details"]["device_id"]) for e in db.of("device.removed")
                       if (u := e["target"]) == expiring and e["details"]["reason"] == "expired"}
    all_devices = {(expiring, d) for d in ("OLD0", "OLD1", "OLD2", world.expiring.device_id)}
    assert {d for d in db.devices if d[0] == expiring} == all_devices - expired


@pytest.mark.parametrize("acks_before_kill", [2, 8, 20, 45, 90])
def test_sigkill_during_admin_actions_leaves_both_or_neither(gov: Gov, acks_before_kill: int) -> None:
    world = setup(gov)
    burst(gov, world, acks_before_kill, delay=random.Random(acks_before_kill).uniform(0, 0.05))
    assert any(world.acked.values()), "some actions must have been acknowledged before the kill"
    check_both_or_neither(gov, world, read_db(gov, world))

    gov.server.start()  # its maintenance loop finishes the offboardings the kill interrupted
    deadline = time.monotonic() + 30
    while (db := read_db(gov, world)).pending and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not db.pending
    check_both_or_neither(gov, world, db)
    for victim in db.deactivated & {v.user_id for v in world.victims}:
        assert not {d for d in db.devices if d[0] == victim}
        rooms = {r for u, r in db.leaves if u == victim}
        assert len(rooms) == ROOMS_EACH, (victim, rooms)
    assert gov.ok("POST", "/maintenance/run")  # the server serves after it all
