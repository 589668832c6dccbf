"""E2EE endpoints against the real server: keys, claims, cross-signing, to-device, key backup."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import vodozemac

from tests.api.e2ee_helpers import V3, CrossSigningKey, Device, login, share_room
from tests.server import ServerProcess

PASSWORD = "correct horse battery"


def new_device(server: ServerProcess, username: str) -> Device:
    return Device(server, server.register(username))


def error(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json().get("errcode", "")


# --- upload / query / claim -------------------------------------------------------------------


def test_upload_query_claim_round_trip(server: ServerProcess) -> None:
    alice, bob = new_device(server, "alice"), new_device(server, "bob")
    assert alice.put(f"/devices/{alice.device_id}", {"display_name": "Alice's laptop"}).status_code == 200
    uploaded = alice.upload(device_keys=alice.device_keys(), one_time_keys=alice.one_time_keys(5),
                            fallback_keys=alice.fallback_keys())
    assert uploaded.status_code == 200, uploaded.text
    assert uploaded.json() == {"one_time_key_counts": {"signed_curve25519": 5}}
    share_room(alice, bob)

    queried = bob.post("/keys/query", {"device_keys": {alice.user_id: []}})
    assert queried.status_code == 200, queried.text
    info = queried.json()["device_keys"][alice.user_id][alice.device_id]
    assert info["keys"][f"ed25519:{alice.device_id}"] == alice.ed25519
    assert info["unsigned"] == {"device_display_name": "Alice's laptop"}
    assert set(info) == {"user_id", "device_id", "algorithms", "keys", "signatures", "unsigned"}
    assert queried.json()["failures"] == {}

    claimed = bob.post("/keys/claim", {"one_time_keys": {alice.user_id: {alice.device_id: "signed_curve25519"}}})
    assert claimed.status_code == 200, claimed.text
    keys = claimed.json()["one_time_keys"][alice.user_id][alice.device_id]
    ((name, key),) = keys.items()
    assert name.startswith("signed_curve25519:") and "fallback" not in key
    assert claimed.json()["failures"] == {}
    # The claimed key is a real one: bob's Olm account can start a session with it.
    bob.account.create_outbound_session(
        vodozemac.Curve25519PublicKey.from_base64(info["keys"][f"curve25519:{alice.device_id}"]),
        vodozemac.Curve25519PublicKey.from_base64(key["key"]))
    assert alice.upload().json() == {"one_time_key_counts": {"signed_curve25519": 4}}


def test_claim_hands_out_each_key_once_under_concurrency(server: ServerProcess) -> None:
    alice = new_device(server, "alice")
    second = Device(server, login(server, "alice"))
    assert alice.upload(device_keys=alice.device_keys(), one_time_keys=alice.one_time_keys(20),
                        fallback_keys=alice.fallback_keys()).status_code == 200
    body = {"one_time_keys": {alice.user_id: {alice.device_id: "signed_curve25519"}}}

    async def claim_all() -> list[dict[str, Any]]:
        async with httpx.AsyncClient(base_url=server.base_url + V3, headers=second.headers, timeout=30) as client:
            responses = await asyncio.gather(*(client.post("/keys/claim", json=body) for _ in range(30)))
        assert all(r.status_code == 200 for r in responses)
        return [r.json()["one_time_keys"][alice.user_id][alice.device_id] for r in responses]

    results = asyncio.run(claim_all())
    claimed = [(name, key) for result in results for name, key in result.items()]
    assert len(claimed) == 30
    one_time = [key["key"] for _, key in claimed if not key.get("fallback")]
    fallback = [key["key"] for _, key in claimed if key.get("fallback")]
    assert len(one_time) == 20 and len(set(one_time)) == 20
    assert len(fallback) == 10 and len(set(fallback)) == 1
    assert alice.upload().json()["one_time_key_counts"]["signed_curve25519"] == 0


def test_fallback_key_is_reported_used_in_sync(server: ServerProcess) -> None:
    alice = new_device(server, "alice")
    second = Device(server, login(server, "alice"))
    alice.upload(device_keys=alice.device_keys(), fallback_keys=alice.fallback_keys())
    first = alice.sync()
    assert first["device_unused_fallback_key_types"] == ["signed_curve25519"]
    assert first["device_one_time_keys_count"]["signed_curve25519"] == 0
    second.post("/keys/claim", {"one_time_keys": {alice.user_id: {alice.device_id: "signed_curve25519"}}})
    assert alice.sync(first["next_batch"])["device_unused_fallback_key_types"] == []


def test_upload_refusals(server: ServerProcess) -> None:
    alice, bob = new_device(server, "alice"), new_device(server, "bob")
    keys = alice.device_keys()
    assert error(alice.upload(device_keys=keys | {"user_id": bob.user_id})) == (400, "M_INVALID_PARAM")
    assert error(alice.upload(device_keys=keys | {"device_id": "OTHER"})) == (400, "M_INVALID_PARAM")
    forged = keys | {"algorithms": ["m.olm.v1.curve25519-aes-sha2"]}  # changed after signing
    assert error(alice.upload(device_keys=forged)) == (400, "M_INVALID_PARAM")
    assert error(alice.upload(device_keys={k: v for k, v in keys.items() if k != "keys"})) == (400, "M_MISSING_PARAM")
    assert error(alice.upload(device_keys=keys | {"algorithms": "all"})) == (400, "M_BAD_JSON")
    assert error(alice.upload(device_keys="keys")) == (400, "M_BAD_JSON")

    # Signed one-time keys need a device key to check them against, and a valid signature.
    assert error(alice.upload(one_time_keys=alice.one_time_keys(1))) == (400, "M_INVALID_PARAM")
    assert alice.upload(device_keys=keys).status_code == 200
    unsigned = {"signed_curve25519:AAAA": {"key": "a2V5", "signatures": {}}}
    assert error(alice.upload(one_time_keys=unsigned)) == (400, "M_INVALID_PARAM")
    by_bob = {f"signed_curve25519:{k.split(':')[1]}": v for k, v in bob.one_time_keys(1).items()}
    assert error(alice.upload(one_time_keys=by_bob)) == (400, "M_INVALID_PARAM")
    assert error(alice.upload(one_time_keys={"signed_curve25519:B": "plain"})) == (400, "M_INVALID_PARAM")

    # A device's ed25519 key never changes.
    impostor = Device(server, {"user_id": alice.user_id, "device_id": alice.device_id,
                               "access_token": alice.token})
    assert error(impostor.upload(device_keys=impostor.device_keys())) == (400, "M_INVALID_PARAM")
    assert alice.upload(device_keys=keys).status_code == 200  # the same keys again are fine


def test_device_id_may_not_be_a_cross_signing_key(server: ServerProcess) -> None:
    alice = new_device(server, "alice")
    master = CrossSigningKey(alice.user_id, "master")
    assert alice.post("/keys/device_signing/upload", {"master_key": master.json()}).status_code == 200
    clash = Device(server, login(server, "alice", device_id=master.public))
    assert error(clash.upload(device_keys=clash.device_keys())) == (400, "M_INVALID_PARAM")


def test_query_only_shows_users_sharing_a_room(server: ServerProcess) -> None:
    alice, bob = new_device(server, "alice"), new_device(server, "bob")
    alice.upload(device_keys=alice.device_keys(), one_time_keys=alice.one_time_keys(2))
    master = CrossSigningKey(alice.user_id, "master")
    alice.post("/keys/device_signing/upload", {"master_key": master.json()})
    stranger = bob.post("/keys/query", {"device_keys": {alice.user_id: []}}).json()
    assert stranger["device_keys"] == {alice.user_id: {}}
    assert stranger["master_keys"] == {}
    claim = bob.post("/keys/claim", {"one_time_keys": {alice.user_id: {alice.device_id: "signed_curve25519"}}})
    assert claim.json()["one_time_keys"] == {}

    share_room(alice, bob)
    shared = bob.post("/keys/query", {"device_keys": {alice.user_id: [alice.device_id]}}).json()
    assert list(shared["device_keys"][alice.user_id]) == [alice.device_id]
    assert shared["master_keys"][alice.user_id]["keys"] == {f"ed25519:{master.public}": master.public}


def test_query_validation(server: ServerProcess) -> None:
    alice = new_device(server, "alice")
    assert error(alice.post("/keys/query", {})) == (400, "M_MISSING_PARAM")
    assert error(alice.post("/keys/query", {"device_keys": {alice.user_id: "all"}})) == (400, "M_BAD_JSON")
    assert error(alice.post("/keys/claim", {})) == (400, "M_MISSING_PARAM")
    assert error(alice.post("/keys/claim", {"one_time_keys": []})) == (400, "M_BAD_JSON")


# --- cross-signing ----------------------------------------------------------------------------


def test_cross_signing_upload_and_replace_with_auth(server: ServerProcess) -> None:
    alice, bob = new_device(server, "alice"), new_device(server, "bob")
    master = CrossSigningKey(alice.user_id, "master")
    self_signing = CrossSigningKey(alice.user_id, "self_signing")
    user_signing = CrossSigningKey(alice.user_id, "user_signing")
    keys = {"master_key": master.json(), "self_signing_key": self_signing.json(master),
            "user_signing_key": user_signing.json(master)}
    assert alice.post("/keys/device_signing/upload", keys).status_code == 200
    assert alice.post("/keys/device_signing/upload", keys).json() == {}  # identical again: no auth

    own = alice.post("/keys/query", {"device_keys": {alice.user_id: []}}).json()
    assert own["master_keys"][alice.user_id]["keys"] == {f"ed25519:{master.public}": master.public}
    assert alice.user_id in own["self_signing_keys"] and alice.user_id in own["user_signing_keys"]
    share_room(alice, bob)
    seen_by_bob = bob.post("/keys/query", {"device_keys": {alice.user_id: []}}).json()
    assert alice.user_id in seen_by_bob["self_signing_keys"]
    assert seen_by_bob["user_signing_keys"] == {}

    new_master = CrossSigningKey(alice.user_id, "master")
    challenge = alice.post("/keys/device_signing/upload", {"master_key": new_master.json()})
    assert challenge.status_code == 401 and challenge.json()["flows"] == [{"stages": ["m.login.password"]}]
    auth = {"type": "m.login.password", "session": challenge.json()["session"], "password": PASSWORD,
            "identifier": {"type": "m.id.user", "user": alice.user_id}}
    done = alice.post("/keys/device_signing/upload", {"master_key": new_master.json(), "auth": auth})
    assert done.status_code == 200 and done.json() == {}
    again = alice.post("/keys/query", {"device_keys": {alice.user_id: []}}).json()
    assert again["master_keys"][alice.user_id]["keys"] == {f"ed25519:{new_master.public}": new_master.public}


def test_cross_signing_refusals(server: ServerProcess) -> None:
    alice = new_device(server, "alice")
    master = CrossSigningKey(alice.user_id, "master")
    self_signing = CrossSigningKey(alice.user_id, "self_signing")
    no_master = alice.post("/keys/device_signing/upload", {"self_signing_key": self_signing.json(master)})
    assert error(no_master) == (400, "M_MISSING_PARAM")
    wrong_signer = alice.post("/keys/device_signing/upload",
                              {"master_key": master.json(), "self_signing_key": self_signing.json(self_signing)})
    assert error(wrong_signer) == (400, "M_INVALID_SIGNATURE")
    bad_usage = master.json() | {"usage": ["self_signing"]}
    assert error(alice.post("/keys/device_signing/upload", {"master_key": bad_usage})) == (400, "M_INVALID_PARAM")
    clash = Device(server, login(server, "alice", device_id=master.public))
    assert error(clash.post("/keys/device_signing/upload", {"master_key": master.json()})) == (403, "M_FORBIDDEN")


def test_signatures_upload(server: ServerProcess) -> None:
    alice = new_device(server, "alice")
    keys = alice.device_keys()
    alice.upload(device_keys=keys)
    master = CrossSigningKey(alice.user_id, "master")
    self_signing = CrossSigningKey(alice.user_id, "self_signing")
    alice.post("/keys/device_signing/upload",
               {"master_key": master.json(), "self_signing_key": self_signing.json(master)})

    signed_device = self_signing.sign(keys)
    signed_master = alice.sign(master.json())
    forged = keys | {"signatures": {alice.user_id: {f"ed25519:{self_signing.public}": "AAAA"}}}
    result = alice.post("/keys/signatures/upload", {alice.user_id: {
        alice.device_id: signed_device, master.public: signed_master}})
    assert result.status_code == 200 and result.json() == {"failures": {}}
    bad = alice.post("/keys/signatures/upload", {alice.user_id: {alice.device_id: forged, "NOPE": keys}})
    assert bad.json()["failures"][alice.user_id][alice.device_id]["errcode"] == "M_INVALID_SIGNATURE"
    assert bad.json()["failures"][alice.user_id]["NOPE"]["errcode"] == "M_NOT_FOUND"

    own = alice.post("/keys/query", {"device_keys": {alice.user_id: []}}).json()
    device_sigs = own["device_keys"][alice.user_id][alice.device_id]["signatures"][alice.user_id]
    assert f"ed25519:{self_signing.public}" in device_sigs and f"ed25519:{alice.device_id}" in device_sigs
    assert f"ed25519:{alice.device_id}" in own["master_keys"][alice.user_id]["signatures"][alice.user_id]


def test_key_changes_between_sync_tokens(server: ServerProcess) -> None:
    alice, bob = new_device(server, "alice"), new_device(server, "bob")
    share_room(alice, bob)
    before = bob.sync()["next_batch"]
    alice.upload(device_keys=alice.device_keys())
    after = bob.sync(before)["next_batch"]
    changes = bob.get("/keys/changes", **{"from": before, "to": after})
    assert changes.status_code == 200, changes.text
    assert alice.user_id in changes.json()["changed"]
    assert error(bob.get("/keys/changes", **{"from": before})) == (400, "M_MISSING_PARAM")
    assert error(bob.get("/keys/changes", **{"from": "garbage", "to": after})) == (400, "M_INVALID_PARAM")



def test_a_new_login_is_a_device_list_change_before_any_key_upload(server: ServerProcess) -> None:
    alice, bob = new_device(server, "alice"), new_device(server, "bob")
    share_room(alice, bob)
    before = bob.sync()["next_batch"]
    own_before = alice.sync()["next_batch"]
    login(server, "alice")  # no keys uploaded by the new device
    synced = bob.sync(before)
    assert alice.user_id in synced["device_lists"]["changed"]
    changes = bob.get("/keys/changes", **{"from": before, "to": synced["next_batch"]})
    assert alice.user_id in changes.json()["changed"]
    # Alice's own other devices learn of it too.
    assert alice.user_id in alice.sync(own_before)["device_lists"]["changed"]

# --- to-device --------------------------------------------------------------------------------


def test_to_device_order_idempotency_and_deletion_on_ack(server: ServerProcess) -> None:
    alice, bob = new_device(server, "alice"), new_device(server, "bob")
    first = alice.sync()
    for n in range(3):
        body = {"messages": {alice.user_id: {alice.device_id: {"n": n}}}}
        assert bob.put(f"/sendToDevice/m.test/txn{n}", body).json() == {}
    assert bob.put("/sendToDevice/m.test/txn0", {"messages": {alice.user_id: {"*": {"n": 99}}}}).json() == {}

    got = alice.sync(first["next_batch"])
    events = got["to_device"]["events"]
    assert events == [{"sender": bob.user_id, "type": "m.test", "content": {"n": n}} for n in range(3)]
    # Syncing again from the same token re-delivers (not yet acknowledged) ...
    assert alice.sync(first["next_batch"])["to_device"]["events"] == events
    # ... and a sync with the newer token acknowledges, so the messages are gone.
    later = alice.sync(got["next_batch"])
    assert later.get("to_device", {}).get("events", []) == []
    assert alice.sync(first["next_batch"]).get("to_device", {}).get("events", []) == []


def test_to_device_star_and_refusals(server: ServerProcess) -> None:
    alice, bob = new_device(server, "alice"), new_device(server, "bob")
    alice2 = Device(server, login(server, "alice"))
    tokens = [alice.sync()["next_batch"], alice2.sync()["next_batch"]]
    assert bob.put("/sendToDevice/m.test/t1", {"messages": {alice.user_id: {"*": {"hi": 1}}}}).status_code == 200
    for device, token in zip((alice, alice2), tokens, strict=True):
        assert device.sync(token)["to_device"]["events"][0]["content"] == {"hi": 1}
    megolm = {"messages": {alice.user_id: {"*": {"algorithm": "m.megolm.v1.aes-sha2", "ciphertext": "x"}}}}
    assert error(bob.put("/sendToDevice/m.room.encrypted/t2", megolm)) == (400, "M_INVALID_PARAM")
    assert error(bob.put("/sendToDevice/m.test/t3", {})) == (400, "M_MISSING_PARAM")
    assert error(bob.put("/sendToDevice/m.test/t4", {"messages": {alice.user_id: []}})) == (400, "M_BAD_JSON")


# --- key backup -------------------------------------------------------------------------------


def session(index: int, forwarded: int = 0, verified: bool = False, data: str = "x") -> dict[str, Any]:
    return {"first_message_index": index, "forwarded_count": forwarded, "is_verified": verified,
            "session_data": {"ciphertext": data}}


def test_key_backup_lifecycle(server: ServerProcess) -> None:
    alice = new_device(server, "alice")
    assert error(alice.get("/room_keys/version")) == (404, "M_NOT_FOUND")
    algorithm = "m.megolm_backup.v1.curve25519-aes-sha2"
    created = alice.post("/room_keys/version", {"algorithm": algorithm, "auth_data": {"public_key": "abc"}})
    assert created.status_code == 200 and set(created.json()) == {"version"}
    version = created.json()["version"]
    info = alice.get("/room_keys/version").json()
    assert info == {"algorithm": algorithm, "auth_data": {"public_key": "abc"}, "count": 0,
                    "etag": info["etag"], "version": version}
    assert alice.put(f"/room_keys/version/{version}",
                     {"algorithm": algorithm, "auth_data": {"public_key": "def"}}).json() == {}
    assert alice.get(f"/room_keys/version/{version}").json()["auth_data"] == {"public_key": "def"}

    path = "/room_keys/keys/!room:qasid.test/sess1"
    stored = httpx.put(server.base_url + V3 + path, params={"version": version}, json=session(5),
                       headers=alice.headers)
    assert stored.status_code == 200 and stored.json()["count"] == 1
    worse = httpx.put(server.base_url + V3 + path, params={"version": version}, json=session(9, data="worse"),
                      headers=alice.headers)
    assert worse.json()["etag"] == stored.json()["etag"]
    assert alice.get(path, version=version).json() == session(5)
    for better in (session(2, data="lower index"), session(7, verified=True, data="verified")):
        httpx.put(server.base_url + V3 + path, params={"version": version}, json=better, headers=alice.headers)
        assert alice.get(path, version=version).json() == better

    bulk = {"rooms": {"!other:qasid.test": {"sessions": {"s2": session(0), "s3": session(0)}}}}
    put_all = httpx.put(server.base_url + V3 + "/room_keys/keys", params={"version": version}, json=bulk,
                        headers=alice.headers)
    assert put_all.json()["count"] == 3
    everything = alice.get("/room_keys/keys", version=version).json()
    assert set(everything["rooms"]) == {"!room:qasid.test", "!other:qasid.test"}
    assert alice.get("/room_keys/keys/!none:qasid.test", version=version).json() == {"sessions": {}}
    assert error(alice.get("/room_keys/keys/!none:qasid.test/s", version=version)) == (404, "M_NOT_FOUND")
    assert alice.delete("/room_keys/keys/!other:qasid.test", version=version).json()["count"] == 1

    newer = alice.post("/room_keys/version", {"algorithm": algorithm, "auth_data": {}}).json()["version"]
    stale = httpx.put(server.base_url + V3 + path, params={"version": version}, json=session(0),
                      headers=alice.headers)
    assert error(stale) == (403, "M_WRONG_ROOM_KEYS_VERSION") and stale.json()["current_version"] == newer
    assert alice.delete(f"/room_keys/version/{newer}").json() == {}
    assert alice.delete(f"/room_keys/version/{newer}").json() == {}  # deleted before: still fine
    assert alice.delete(f"/room_keys/version/{version}").status_code == 200
    assert error(alice.get("/room_keys/version")) == (404, "M_NOT_FOUND")
    assert error(alice.delete("/room_keys/version/99")) == (404, "M_NOT_FOUND")
    assert error(alice.get("/room_keys/keys", version=version)) == (404, "M_NOT_FOUND")
    assert error(alice.get("/room_keys/keys")) == (400, "M_MISSING_PARAM")


def test_key_backup_validation(server: ServerProcess) -> None:
    alice = new_device(server, "alice")
    assert error(alice.post("/room_keys/version", {"algorithm": "m.nope", "auth_data": {}})) == (400, "M_INVALID_PARAM")
    assert error(alice.post("/room_keys/version", {"auth_data": {}})) == (400, "M_MISSING_PARAM")
    version = alice.post("/room_keys/version", {"algorithm": "m.megolm_backup.v1.curve25519-aes-sha2",
                                                "auth_data": {}}).json()["version"]
    bad = httpx.put(server.base_url + V3 + "/room_keys/keys/!r:qasid.test/s", params={"version": version},
                    json=session(0) | {"is_verified": "yes"}, headers=alice.headers)
    assert error(bad) == (400, "M_BAD_JSON")


def test_to_device_positions_survive_restart_after_ack(server: ServerProcess) -> None:
    alice, bob = new_device(server, "alice"), new_device(server, "bob")
    start = alice.sync()["next_batch"]
    bob.put("/sendToDevice/m.test/a", {"messages": {alice.user_id: {alice.device_id: {"n": 1}}}})
    got = alice.sync(start)
    assert [e["content"] for e in got["to_device"]["events"]] == [{"n": 1}]
    alice.sync(got["next_batch"])  # acknowledges: the inbox is now empty
    server.restart()
    bob.put("/sendToDevice/m.test/b", {"messages": {alice.user_id: {alice.device_id: {"n": 2}}}})
    assert [e["content"] for e in alice.sync(got["next_batch"])["to_device"]["events"]] == [{"n": 2}]


def test_to_device_wakes_a_waiting_sync(server: ServerProcess) -> None:
    alice, bob = new_device(server, "alice"), new_device(server, "bob")
    since = alice.sync()["next_batch"]

    async def wait_and_send() -> float:
        async with httpx.AsyncClient(base_url=server.base_url + V3, timeout=30) as client:
            loop = asyncio.get_running_loop()
            began = loop.time()

            async def long_poll() -> list[dict[str, Any]]:
                token = since
                while loop.time() - began < 15:
                    response = (await client.get("/sync", params={"since": token, "timeout": "20000"},
                                                 headers=alice.headers)).json()
                    if response["to_device"]["events"]:
                        return response["to_device"]["events"]  # type: ignore[no-any-return]
                    token = response["next_batch"]
                return []

            waiting = asyncio.create_task(long_poll())
            await asyncio.sleep(0.5)
            await client.put("/sendToDevice/m.test/w", headers=bob.headers,
                             json={"messages": {alice.user_id: {alice.device_id: {"wake": True}}}})
            assert [e["content"] for e in await waiting] == [{"wake": True}]
            return loop.time() - began

    assert asyncio.run(wait_and_send()) < 10

