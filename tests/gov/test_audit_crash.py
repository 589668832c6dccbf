"""An audited action and its audit record commit in one transaction: a SIGKILL leaves both or neither.

A burst of logins (device.added + login), logouts (device.removed) and admin suspensions runs
while the server is killed, at several points. Afterwards the chain verifies, every action the
client got a 200 for has its record, and the database holds no record of an action that didn't
happen (and no action without its record).
"""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import httpx
import pytest

from tests.gov.helpers import ADMIN, PASSWORD, V3, Gov

OFFICIALS = 4
LOGINS = 48


def audit_rows(gov: Gov) -> list[dict[str, Any]]:
    query = gov.server.query
    with gov.server.snapshot():
        rows = query("SELECT action, actor_device, target, details FROM audit_log ORDER BY seq")
        devices = {(u, d) for u, d in query("SELECT user_id, device_id FROM devices")}
        locked = dict(query("SELECT user_id, locked FROM users"))
    return [{"action": a, "device": d, "target": t, "details": json.loads(x), "devices": devices, "locked": locked}
            for a, d, t, x in rows]


@pytest.mark.parametrize("acks_before_kill", [1, 8, 24])
def test_sigkill_during_audited_actions_leaves_both_or_neither(gov: Gov, acks_before_kill: int) -> None:
    unit = gov.unit("MOF")
    officials = [gov.official(f"o{i}", unit) for i in range(OFFICIALS)]
    victim = gov.official("victim", unit)
    done: dict[str, list[Any]] = {"login": [], "logout": [], "suspend": []}
    enough = threading.Event()

    def acked(kind: str, value: Any) -> None:
        done[kind].append(value)
        if sum(map(len, done.values())) >= acks_before_kill:
            enough.set()

    async def run() -> None:
        async with httpx.AsyncClient(base_url=gov.server.base_url, timeout=60) as client:
            async def login_then_logout(n: int) -> None:
                who = f"o{n % OFFICIALS}"
                try:
                    r = await client.post(V3 + "/login", json={
                        "type": "m.login.password", "identifier": {"type": "m.id.user", "user": who},
                        "password": PASSWORD, "device_id": f"DEV{n}"})
                    if r.status_code != 200:
                        return
                    acked("login", (r.json()["user_id"], f"DEV{n}"))
                    if n % 2:
                        out = await client.post(V3 + "/logout", headers={
                            "authorization": f"Bearer {r.json()['access_token']}"})
                        if out.status_code == 200:
                            acked("logout", (r.json()["user_id"], f"DEV{n}"))
                except httpx.HTTPError:
                    return

            async def toggle_suspension() -> None:
                for n in range(40):
                    action = "suspend" if n % 2 == 0 else "unsuspend"
                    try:
                        r = await client.post(f"{ADMIN}/officials/{victim.user_id}/{action}", headers=gov.root.auth)
                    except httpx.HTTPError:
                        return
                    if r.status_code == 200:
                        acked("suspend", action)

            await asyncio.gather(toggle_suspension(), *(login_then_logout(n) for n in range(LOGINS)))

    def kill_midway() -> None:
        enough.wait(120)
        gov.server.kill()

    killer = threading.Thread(target=kill_midway)
    killer.start()
    asyncio.run(run())
    killer.join()
    assert any(done.values()), "some actions must have been acknowledged before the kill"

    verified = gov.server.run_cli("audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    rows = audit_rows(gov)
    devices, locked = rows[0]["devices"], rows[0]["locked"]
    ours = {s.user_id for s in officials}
    added = {(r["target"], r["details"]["device_id"]) for r in rows if r["action"] == "device.added"}
    logins = {(r["target"], r["device"]) for r in rows if r["action"] == "login"}
    removed = {(r["target"], r["details"]["device_id"]) for r in rows if r["action"] == "device.removed"}
    # Every acknowledged action has its record.
    assert set(done["login"]) <= added & logins
    assert set(done["logout"]) <= removed
    # No record without its action, no action without its record.
    present = {d for d in devices if d[0] in ours}
    assert present == {d for d in added if d[0] in ours} - removed
    # Registration adds a device without a login; every DEVn device came from a login.
    assert {d for d in logins if d[0] in ours} == {d for d in added if d[0] in ours and d[1].startswith("DEV")}
    flips = [r["action"] for r in rows if r["action"] in ("account.suspend", "account.unsuspend")
             and r["target"] == victim.user_id]
    assert len(flips) >= len(done["suspend"])
    assert bool(locked[victim.user_id]) == (bool(flips) and flips[-1] == "account.suspend")
