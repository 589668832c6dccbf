"""The government layer with real matrix-nio clients: enrollment, directory scope, forced encryption, offboarding."""

from __future__ import annotations

from pathlib import Path

from nio import RoomCreateResponse, RoomSendResponse, SyncError, WhoamiError

from tests.e2e.nio_user import NioUser
from tests.gov.helpers import PASSWORD, Gov, Session
from tests.server import ServerProcess


async def test_nio_officials_enroll_chat_encrypted_and_are_offboarded(server: ServerProcess, tmp_path: Path) -> None:
    gov = Gov(server)
    ministry_a = gov.unit("MIN-A", directory_scope="ministry")
    office_a = gov.unit("MIN-A-OFF", parent=ministry_a)
    ministry_b = gov.unit("MIN-B")
    outsider = gov.official("outsider", ministry_b)
    token = gov.enrollment_token(office_a, uses_allowed=2, designation="Under Secretary")
    alice = NioUser(server.base_url, "alice", tmp_path / "alice")
    bob = NioUser(server.base_url, "bob", tmp_path / "bob")
    try:
        # Enrollment from a real client through the spec's registration-token flow.
        await alice.register(PASSWORD, token)
        await bob.register(PASSWORD, token)
        official = gov.ok("GET", f"/officials/{alice.user_id}")
        assert (official["unit_id"], official["designation"]) == (office_a, "Under Secretary")
        a_session = Session(alice.user_id, str(alice.client.device_id), str(alice.client.access_token))
        profile = gov.client("GET", f"/profile/{alice.user_id}", a_session).json()
        assert profile["io.qasid.designation"] == "Under Secretary"
        assert profile["io.qasid.unit"]["code"] == "MIN-A-OFF"

        # Directory scope: ministry A sees its own ministry only; B ("anyone") sees A.
        results = gov.client("POST", "/user_directory/search", a_session, {"search_term": "", "limit": 50})
        seen = {r["user_id"] for r in results.json()["results"]}
        assert bob.user_id in seen and outsider.user_id not in seen, seen
        from_b = gov.client("POST", "/user_directory/search", outsider, {"search_term": "alice"}).json()["results"]
        assert [r["user_id"] for r in from_b] == [alice.user_id]
        assert from_b[0]["io.qasid.designation"] == "Under Secretary"

        # createRoom without encryption comes out encrypted; nio notices and encrypts.
        created = await alice.client.room_create(invite=[bob.user_id], name="no encryption asked")
        assert isinstance(created, RoomCreateResponse), created
        room_id = created.room_id
        await alice.sync()
        await bob.join(room_id)
        await alice.sync()
        assert alice.client.rooms[room_id].encrypted
        plaintext = gov.client("PUT", f"/rooms/{room_id}/send/m.room.message/plain", a_session,
                               {"msgtype": "m.text", "body": "in the clear"})
        assert plaintext.status_code == 403 and plaintext.json()["errcode"] == "M_FORBIDDEN"
        await alice.send(room_id, "encrypted hello")
        await bob.wait_for(room_id, "encrypted hello")
        await bob.send(room_id, "encrypted reply")
        await alice.wait_for(room_id, "encrypted reply")

        # Offboarding: bob's very next request is refused; his devices vanish for alice; he is out.
        bob_device = str(bob.client.device_id)
        keys = gov.client("POST", "/keys/query", a_session, {"device_keys": {bob.user_id: []}}).json()
        assert bob_device in keys["device_keys"][bob.user_id]
        gov.ok("POST", f"/officials/{bob.user_id}/offboard")
        whoami = await bob.client.whoami()
        assert isinstance(whoami, WhoamiError) and whoami.status_code == "M_UNKNOWN_TOKEN", whoami
        sync = await bob.client.sync(timeout=0)
        assert isinstance(sync, SyncError), sync
        keys = gov.client("POST", "/keys/query", a_session, {"device_keys": {bob.user_id: []}}).json()
        assert keys["device_keys"].get(bob.user_id, {}) == {}
        await alice.sync()
        assert bob.user_id not in alice.client.rooms[room_id].users
        assert gov.http.post("/_matrix/client/v3/login", json={
            "type": "m.login.password", "identifier": {"type": "m.id.user", "user": "bob"},
            "password": PASSWORD}).status_code == 403
        # Alice goes on encrypting, now to nobody of bob's.
        sent = await alice.client.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": "after"},
                                            ignore_unverified_devices=True)
        assert isinstance(sent, RoomSendResponse), sent
    finally:
        await alice.close()
        await bob.close()
        gov.http.close()
