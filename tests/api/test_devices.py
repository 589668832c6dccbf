"""Device management against the real server: list, rename, delete with user-interactive auth."""

from __future__ import annotations

from typing import Any

import httpx

from tests.api.e2ee_helpers import V3, Device, login, share_room
from tests.server import ServerProcess

PASSWORD = "correct horse battery"


def password_auth(user_id: str, session: str, password: str = PASSWORD) -> dict[str, Any]:
    return {"type": "m.login.password", "session": session, "password": password,
            "identifier": {"type": "m.id.user", "user": user_id}}


def delete_with_body(device: Device, path: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.request("DELETE", device.server.base_url + V3 + path, json=body, headers=device.headers)


def test_list_get_and_rename(server: ServerProcess) -> None:
    alice = Device(server, server.register("alice"))
    second = Device(server, login(server, "alice"))
    listed = alice.get("/devices")
    assert listed.status_code == 200
    devices = {d["device_id"]: d for d in listed.json()["devices"]}
    assert set(devices) == {alice.device_id, second.device_id}
    for device in devices.values():
        # No display name was set: the spec says the field is absent then, not null.
        assert set(device) == {"device_id", "last_seen_ip", "last_seen_ts"}

    assert alice.put(f"/devices/{second.device_id}", {"display_name": "Phone"}).json() == {}
    one = alice.get(f"/devices/{second.device_id}").json()
    assert one["device_id"] == second.device_id and one["display_name"] == "Phone"
    assert alice.put(f"/devices/{second.device_id}", {}).json() == {}  # nothing to change
    assert alice.get(f"/devices/{second.device_id}").json()["display_name"] == "Phone"


def test_unknown_device_and_bad_bodies(server: ServerProcess) -> None:
    alice = Device(server, server.register("alice"))
    bob = Device(server, server.register("bob"))
    for response in (alice.get("/devices/NOPE"), alice.put("/devices/NOPE", {"display_name": "x"}),
                     alice.get(f"/devices/{bob.device_id}"), alice.delete("/devices/NOPE")):
        assert response.status_code == 404 and response.json()["errcode"] == "M_NOT_FOUND"
    bad = alice.put(f"/devices/{alice.device_id}", {"display_name": 5})
    assert bad.status_code == 400 and bad.json()["errcode"] == "M_BAD_JSON"
    missing = alice.post("/delete_devices", {})
    assert missing.status_code == 400 and missing.json()["errcode"] == "M_MISSING_PARAM"
    assert alice.get("/devices", ).status_code == 200
    assert httpx.get(server.base_url + V3 + "/devices").json()["errcode"] == "M_MISSING_TOKEN"


def test_delete_device_requires_password(server: ServerProcess) -> None:
    alice = Device(server, server.register("alice"))
    second = Device(server, login(server, "alice"))
    challenge = delete_with_body(alice, f"/devices/{second.device_id}", {})
    assert challenge.status_code == 401
    assert challenge.json()["flows"] == [{"stages": ["m.login.password"]}]
    session = challenge.json()["session"]

    wrong = delete_with_body(alice, f"/devices/{second.device_id}",
                             {"auth": password_auth(alice.user_id, session, "wrong password")})
    assert wrong.status_code == 401 and wrong.json()["errcode"] == "M_FORBIDDEN"
    done = delete_with_body(alice, f"/devices/{second.device_id}",
                            {"auth": password_auth(alice.user_id, session)})
    assert done.status_code == 200 and done.json() == {}

    assert [d["device_id"] for d in alice.get("/devices").json()["devices"]] == [alice.device_id]
    gone = second.get("/devices")
    assert gone.status_code == 401 and gone.json()["errcode"] == "M_UNKNOWN_TOKEN"


def test_delete_devices_removes_keys_and_announces_it(server: ServerProcess) -> None:
    alice = Device(server, server.register("alice"))
    bob = Device(server, server.register("bob"))
    others = [Device(server, login(server, "alice")) for _ in range(2)]
    for device in others:
        assert device.upload(device_keys=device.device_keys()).status_code == 200
    share_room(alice, bob)
    since = bob.sync()["next_batch"]

    ids = [d.device_id for d in others] + ["NEVER-EXISTED"]
    challenge = alice.post("/delete_devices", {"devices": ids})
    assert challenge.status_code == 401
    done = alice.post("/delete_devices", {"devices": ids,
                                          "auth": password_auth(alice.user_id, challenge.json()["session"])})
    assert done.status_code == 200 and done.json() == {}

    assert [d["device_id"] for d in alice.get("/devices").json()["devices"]] == [alice.device_id]
    keys = bob.post("/keys/query", {"device_keys": {alice.user_id: []}}).json()["device_keys"][alice.user_id]
    assert keys == {}
    assert alice.user_id in bob.sync(since)["device_lists"]["changed"]


def test_rename_shows_in_key_query(server: ServerProcess) -> None:
    alice = Device(server, server.register("alice"))
    alice.upload(device_keys=alice.device_keys())
    alice.put(f"/devices/{alice.device_id}", {"display_name": "Desk"})
    info = alice.post("/keys/query", {"device_keys": {alice.user_id: []}}).json()
    assert info["device_keys"][alice.user_id][alice.device_id]["unsigned"] == {"device_display_name": "Desk"}


def test_uia_session_completes_only_the_request_that_began_it(server: ServerProcess) -> None:
    alice = Device(server, server.register("alice"))
    first, second = (Device(server, login(server, "alice")) for _ in range(2))
    session = delete_with_body(alice, f"/devices/{first.device_id}", {}).json()["session"]

    other_device = delete_with_body(alice, f"/devices/{second.device_id}",
                                    {"auth": password_auth(alice.user_id, session)})
    assert other_device.status_code == 403 and other_device.json()["errcode"] == "M_FORBIDDEN"
    other_route = alice.post("/delete_devices", {"devices": [second.device_id],
                                                 "auth": password_auth(alice.user_id, session)})
    assert other_route.status_code == 403 and other_route.json()["errcode"] == "M_FORBIDDEN"
    listed = {d["device_id"] for d in alice.get("/devices").json()["devices"]}
    assert listed == {alice.device_id, first.device_id, second.device_id}

    bulk = alice.post("/delete_devices", {"devices": [first.device_id]}).json()["session"]
    other_body = alice.post("/delete_devices", {"devices": [second.device_id],
                                                "auth": password_auth(alice.user_id, bulk)})
    assert other_body.status_code == 403 and other_body.json()["errcode"] == "M_FORBIDDEN"
    assert second.get("/devices").status_code == 200

    # The session still completes the request it was begun for.
    done = delete_with_body(alice, f"/devices/{first.device_id}", {"auth": password_auth(alice.user_id, session)})
    assert done.status_code == 200


def test_uia_session_of_another_user_and_password_of_another_user(server: ServerProcess) -> None:
    alice = Device(server, server.register("alice"))
    bob = Device(server, server.register("bob"))
    spare = Device(server, login(server, "alice"))
    body = {"devices": [bob.device_id]}
    bobs_session = bob.post("/delete_devices", body).json()["session"]
    # Bob's session is bound to Bob: Alice cannot complete it, even with the same path and body.
    stolen = alice.post("/delete_devices", body | {"auth": password_auth(alice.user_id, bobs_session)})
    assert stolen.status_code == 403 and stolen.json()["errcode"] == "M_FORBIDDEN"
    assert bob.get("/devices").status_code == 200

    session = delete_with_body(alice, f"/devices/{spare.device_id}", {}).json()["session"]
    as_bob = delete_with_body(alice, f"/devices/{spare.device_id}", {"auth": password_auth(bob.user_id, session)})
    assert as_bob.status_code == 403 and as_bob.json()["errcode"] == "M_FORBIDDEN"
    assert "flows" not in as_bob.json()
    assert spare.get("/devices").status_code == 200
