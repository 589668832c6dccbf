"""Item 4: 100 parallel /keys/claim calls against 50 one-time keys hand out each key once, then the fallback.

(tests/api/test_e2ee.py::test_claim_hands_out_each_key_once_under_concurrency does 30 against 20
from one claimer; this is the issue's exact shape, from several claiming devices at once.)
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import httpx

from tests.api.e2ee_helpers import Device, share_room
from tests.hardening.client import V3, User, new_user
from tests.server import ServerProcess

KEYS = 50
CLAIMS = 100


def as_device(user: User) -> Device:
    return Device(user.server, {"user_id": user.user_id, "device_id": user.device_id, "access_token": user.token})


def test_100_parallel_claims_against_50_keys(server: ServerProcess) -> None:
    alice = as_device(new_user(server, "alice"))
    one_time_keys = alice.one_time_keys(KEYS)
    uploaded = alice.upload(device_keys=alice.device_keys(), one_time_keys=one_time_keys,
                            fallback_keys=alice.fallback_keys())
    assert uploaded.status_code == 200, uploaded.text
    claimers = []
    for name in ("bob", "carol", "dave", "erin"):
        claimer = as_device(new_user(server, name))
        share_room(alice, claimer)
        claimers.append(claimer)
    body = {"one_time_keys": {alice.user_id: {alice.device_id: "signed_curve25519"}}}

    async def claim_all() -> list[dict[str, Any]]:
        clients = [httpx.AsyncClient(base_url=server.base_url + V3, headers=c.headers, timeout=60)
                   for c in claimers]
        try:
            responses = await asyncio.gather(*(
                clients[i % len(clients)].post("/keys/claim", json=body) for i in range(CLAIMS)))
        finally:
            for client in clients:
                await client.aclose()
        assert all(r.status_code == 200 for r in responses), [r.text for r in responses if r.status_code != 200]
        return [r.json()["one_time_keys"][alice.user_id][alice.device_id] for r in responses]

    results = asyncio.run(claim_all())
    assert all(len(result) == 1 for result in results)
    claimed = [next(iter(result.items())) for result in results]
    one_time = [(key_id, key["key"]) for key_id, key in claimed if not key.get("fallback")]
    fallback = [(key_id, key["key"]) for key_id, key in claimed if key.get("fallback")]
    assert len(one_time) == KEYS, f"{len(one_time)} one-time keys handed out"
    duplicates = [k for k, count in Counter(one_time).items() if count > 1]
    assert not duplicates, f"handed out twice: {duplicates}"
    assert {key for _, key in one_time}.isdisjoint({key for _, key in fallback})
    assert len(fallback) == CLAIMS - KEYS and len(set(fallback)) == 1
    assert alice.upload().json()["one_time_key_counts"]["signed_curve25519"] == 0
    # The keys handed out are exactly the ones uploaded, under the IDs they were uploaded with.
    assert {key_id: key for key_id, key in one_time} == {key_id: key["key"] for key_id, key in one_time_keys.items()}
