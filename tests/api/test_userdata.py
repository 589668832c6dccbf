"""Account data, filters, push rules, profiles, presence, directory, receipts, typing — over real HTTP."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.server import ServerProcess

V3 = "/_matrix/client/v3"


class Client:
    """One registered user talking to the real server."""

    def __init__(self, server: ServerProcess, username: str) -> None:
        login = server.register(username)
        self.user_id: str = login["user_id"]
        self.http = httpx.Client(
            base_url=server.base_url + V3, headers={"Authorization": f"Bearer {login['access_token']}"},
            timeout=30)

    def sync(self, since: str | None = None, timeout: int = 0) -> dict[str, Any]:
        params: dict[str, Any] = {"timeout": timeout}
        if since:
            params["since"] = since
        response = self.http.get("/sync", params=params)
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    def create_room(self, **body: Any) -> str:
        response = self.http.post("/createRoom", json=body)
        assert response.status_code == 200, response.text
        return response.json()["room_id"]  # type: ignore[no-any-return]

    def send(self, room_id: str, body: str, txn: str) -> str:
        response = self.http.put(f"/rooms/{room_id}/send/m.room.message/{txn}",
                                 json={"msgtype": "m.text", "body": body})
        assert response.status_code == 200, response.text
        return response.json()["event_id"]  # type: ignore[no-any-return]


def test_account_data_round_trip_and_sync(server: ServerProcess) -> None:
    alice, bob = Client(server, "alice"), Client(server, "bob")
    url = f"/user/{alice.user_id}/account_data/org.example.settings"
    assert alice.http.get(url).json()["errcode"] == "M_NOT_FOUND"
    first = alice.sync()
    assert alice.http.put(url, json={"theme": "dark"}).json() == {}
    assert alice.http.get(url).json() == {"theme": "dark"}
    # It echoes in the next sync's top-level account_data.
    events = alice.sync(first["next_batch"])["account_data"]["events"]
    assert {"type": "org.example.settings", "content": {"theme": "dark"}} in events
    # Someone else can neither read nor write it.
    assert bob.http.get(url).status_code == 403
    assert bob.http.put(url, json={"theme": "light"}).status_code == 403
    # Server-managed types are refused.
    refused = alice.http.put(f"/user/{alice.user_id}/account_data/m.push_rules", json={})
    assert refused.status_code == 405 and refused.json()["errcode"] == "M_BAD_JSON"
    assert alice.http.put(url, content=b"[1]").json()["errcode"] == "M_BAD_JSON"


def test_room_account_data_and_tags(server: ServerProcess) -> None:
    alice = Client(server, "alice")
    room_id = alice.create_room()
    base = f"/user/{alice.user_id}/rooms/{room_id}"
    assert alice.http.put(f"{base}/account_data/org.example.note", json={"n": 1}).json() == {}
    assert alice.http.get(f"{base}/account_data/org.example.note").json() == {"n": 1}
    assert alice.http.put(f"{base}/account_data/m.fully_read", json={"event_id": "$x"}).status_code == 405
    assert alice.http.get(f"{base}/tags").json() == {"tags": {}}
    assert alice.http.put(f"{base}/tags/m.favourite", json={"order": 0.5}).json() == {}
    assert alice.http.get(f"{base}/tags").json() == {"tags": {"m.favourite": {"order": 0.5}}}
    room = alice.sync()["rooms"]["join"][room_id]
    assert {"type": "m.tag", "content": {"tags": {"m.favourite": {"order": 0.5}}}} in room["account_data"]["events"]
    assert alice.http.delete(f"{base}/tags/m.favourite").json() == {}
    assert alice.http.get(f"{base}/tags").json() == {"tags": {}}


def test_filters(server: ServerProcess) -> None:
    alice, bob = Client(server, "alice"), Client(server, "bob")
    definition = {"room": {"timeline": {"limit": 5}}, "presence": {"types": []}}
    created = alice.http.post(f"/user/{alice.user_id}/filter", json=definition)
    assert created.status_code == 200
    filter_id = created.json()["filter_id"]
    assert isinstance(filter_id, str)
    assert alice.http.get(f"/user/{alice.user_id}/filter/{filter_id}").json() == definition
    assert alice.http.get(f"/user/{alice.user_id}/filter/999").json()["errcode"] == "M_NOT_FOUND"
    assert alice.http.get(f"/user/{alice.user_id}/filter/abc").status_code == 404
    assert bob.http.get(f"/user/{alice.user_id}/filter/{filter_id}").status_code == 403
    assert bob.http.post(f"/user/{alice.user_id}/filter", json={}).status_code == 403
    assert alice.http.post(f"/user/{alice.user_id}/filter", content=b'"x"').status_code == 400


def test_push_rules_defaults_and_changes(server: ServerProcess) -> None:
    alice = Client(server, "alice")
    with_slash = alice.http.get("/pushrules/")
    assert with_slash.status_code == 200
    ruleset = with_slash.json()["global"]
    assert alice.http.get("/pushrules").json()["global"] == ruleset
    assert set(ruleset) == {"override", "content", "room", "sender", "underride"}
    override_ids = [r["rule_id"] for r in ruleset["override"]]
    assert override_ids[0] == ".m.rule.master"
    for rule_id in (".m.rule.suppress_notices", ".m.rule.invite_for_me", ".m.rule.member_event",
                    ".m.rule.is_user_mention", ".m.rule.is_room_mention", ".m.rule.tombstone",
                    ".m.rule.reaction", ".m.rule.room.server_acl", ".m.rule.suppress_edits"):
        assert rule_id in override_ids
    assert [r["rule_id"] for r in ruleset["underride"]] == [
        ".m.rule.call", ".m.rule.encrypted_room_one_to_one", ".m.rule.room_one_to_one",
        ".m.rule.message", ".m.rule.encrypted"]
    master = ruleset["override"][0]
    assert master == {"rule_id": ".m.rule.master", "default": True, "enabled": False,
                      "conditions": [], "actions": []}
    mention = next(r for r in ruleset["override"] if r["rule_id"] == ".m.rule.is_user_mention")
    assert mention["conditions"][0]["value"] == alice.user_id
    initial = alice.sync()
    assert any(e["type"] == "m.push_rules" for e in initial["account_data"]["events"])

    # Mute everything, then a user rule, placed and read back.
    assert alice.http.put("/pushrules/global/override/.m.rule.master/enabled",
                          json={"enabled": True}).json() == {}
    assert alice.http.get("/pushrules/global/override/.m.rule.master/enabled").json() == {"enabled": True}
    rule = {"actions": ["notify"], "pattern": "budget"}
    assert alice.http.put("/pushrules/global/content/budget", json=rule).json() == {}
    assert alice.http.put("/pushrules/global/content/audit?after=budget",
                          json={"actions": [], "pattern": "audit"}).json() == {}
    content = alice.http.get("/pushrules/").json()["global"]["content"]
    assert [r["rule_id"] for r in content] == ["budget", "audit"]
    assert content[0] == {"rule_id": "budget", "default": False, "enabled": True,
                          "actions": ["notify"], "pattern": "budget"}
    assert alice.http.put("/pushrules/global/content/budget/actions",
                          json={"actions": ["notify", {"set_tweak": "highlight"}]}).json() == {}
    assert alice.http.get("/pushrules/global/content/budget/actions").json()["actions"][1] == {
        "set_tweak": "highlight"}
    # The change reaches sync as the merged ruleset.
    later = alice.sync(initial["next_batch"])
    pushed = next(e for e in later["account_data"]["events"] if e["type"] == "m.push_rules")
    assert pushed["content"]["global"]["override"][0]["enabled"] is True
    assert alice.http.delete("/pushrules/global/content/budget").json() == {}
    assert alice.http.get("/pushrules/global/content/budget").json()["errcode"] == "M_NOT_FOUND"
    assert alice.http.delete("/pushrules/global/content/budget").status_code == 404
    # Refusals.
    assert alice.http.put("/pushrules/global/override/.mine", json={"actions": []}).status_code == 400
    assert alice.http.put("/pushrules/global/content/x", json={"actions": []}).status_code == 400
    assert alice.http.put("/pushrules/global/nonsense/x", json={"actions": []}).status_code == 400
    assert alice.http.delete("/pushrules/global/override/.m.rule.master").status_code == 400
    assert alice.http.get("/pushrules/global/override/missing/enabled").status_code == 404


def test_profile(server: ServerProcess) -> None:
    alice, bob = Client(server, "alice"), Client(server, "bob")
    # A new account is named by its localpart until the user chooses a name.
    assert alice.http.get(f"/profile/{alice.user_id}").json() == {"displayname": "alice"}
    assert alice.http.put(f"/profile/{alice.user_id}/displayname",
                          json={"displayname": "Alice A."}).json() == {}
    assert alice.http.put(f"/profile/{alice.user_id}/avatar_url",
                          json={"avatar_url": "mxc://qasid.test/abc"}).json() == {}
    assert bob.http.get(f"/profile/{alice.user_id}").json() == {
        "displayname": "Alice A.", "avatar_url": "mxc://qasid.test/abc"}
    assert bob.http.get(f"/profile/{alice.user_id}/displayname").json() == {"displayname": "Alice A."}
    assert bob.http.put(f"/profile/{alice.user_id}/displayname", json={"displayname": "x"}).status_code == 403
    assert alice.http.put(f"/profile/{alice.user_id}/avatar_url",
                          json={"avatar_url": "https://evil"}).status_code == 400
    assert alice.http.get("/profile/@nobody:qasid.test").json()["errcode"] == "M_NOT_FOUND"
    assert alice.http.get(f"/profile/{bob.user_id}/avatar_url").status_code == 404  # a field never set
    assert alice.http.delete(f"/profile/{alice.user_id}/avatar_url").json() == {}
    assert alice.http.get(f"/profile/{alice.user_id}").json() == {"displayname": "Alice A."}
    # Directory search finds her by display name.
    found = bob.http.post("/user_directory/search", json={"search_term": "alice a", "limit": 5}).json()
    assert found == {"results": [{"user_id": alice.user_id, "display_name": "Alice A."}], "limited": False}
    assert bob.http.post("/user_directory/search", json={}).status_code == 400


def test_presence(server: ServerProcess) -> None:
    alice, bob = Client(server, "alice"), Client(server, "bob")
    assert bob.http.get(f"/presence/{alice.user_id}/status").json() == {"presence": "offline"}
    assert alice.http.put(f"/presence/{alice.user_id}/status",
                          json={"presence": "online", "status_msg": "in a meeting"}).json() == {}
    status = bob.http.get(f"/presence/{alice.user_id}/status").json()
    assert status["presence"] == "online" and status["status_msg"] == "in a meeting"
    assert bob.http.put(f"/presence/{alice.user_id}/status", json={"presence": "offline"}).status_code == 403
    assert alice.http.put(f"/presence/{alice.user_id}/status", json={"presence": "away"}).status_code == 400
    assert alice.http.get("/presence/@nobody:qasid.test/status").status_code == 404


def test_capabilities_and_startup_calls(server: ServerProcess) -> None:
    alice = Client(server, "alice")
    caps = alice.http.get("/capabilities").json()["capabilities"]
    assert caps["m.change_password"] == {"enabled": True}
    assert caps["m.room_versions"]["default"] == "11"
    assert caps["m.room_versions"]["available"]["11"] == "stable"
    assert caps["m.set_displayname"] == {"enabled": True} and caps["m.3pid_changes"] == {"enabled": False}
    assert alice.http.get("/thirdparty/protocols").json() == {}
    assert alice.http.get("/notifications").json() == {"notifications": []}
    assert alice.http.get("/account/3pid").json() == {"threepids": []}
    assert alice.http.get("/voip/turnServer").json() == {}  # no relay configured
    assert alice.http.get("/pushers").json() == {"pushers": []}
    assert httpx.get(server.base_url + V3 + "/capabilities").status_code == 401


def test_receipts_read_markers_and_typing(server: ServerProcess) -> None:
    alice, bob, carol = Client(server, "alice"), Client(server, "bob"), Client(server, "carol")
    room_id = alice.create_room(invite=[bob.user_id])
    assert bob.http.post(f"/join/{room_id}", json={}).status_code == 200
    event_id = alice.send(room_id, "hello", "t1")
    since = bob.sync()["next_batch"]

    receipt = alice.http.post(f"/rooms/{room_id}/receipt/m.read/{event_id}", json={})
    assert receipt.status_code == 200 and receipt.json() == {}
    ephemeral = bob.sync(since, timeout=5000)["rooms"]["join"][room_id]["ephemeral"]["events"]
    receipts = next(e for e in ephemeral if e["type"] == "m.receipt")
    assert alice.user_id in receipts["content"][event_id]["m.read"]

    # Private receipts and the read marker reach only their owner.
    since = bob.sync()["next_batch"]
    alice_since = alice.sync()["next_batch"]
    markers = {"m.fully_read": event_id, "m.read.private": event_id}
    assert alice.http.post(f"/rooms/{room_id}/read_markers", json=markers).json() == {}
    mine = alice.sync(alice_since)["rooms"]["join"][room_id]
    assert {"type": "m.fully_read", "content": {"event_id": event_id}} in mine["account_data"]["events"]
    private = next(e for e in mine["ephemeral"]["events"] if e["type"] == "m.receipt")
    assert alice.user_id in private["content"][event_id]["m.read.private"]
    theirs = bob.sync(since)["rooms"]["join"].get(room_id, {}).get("ephemeral", {}).get("events", [])
    assert not any("m.read.private" in str(e) for e in theirs)

    # Threaded receipt; refusals.
    threaded = alice.http.post(f"/rooms/{room_id}/receipt/m.read/{event_id}", json={"thread_id": "main"})
    assert threaded.json() == {}
    assert carol.http.post(f"/rooms/{room_id}/receipt/m.read/{event_id}", json={}).status_code == 403
    assert alice.http.post(f"/rooms/{room_id}/receipt/m.bogus/{event_id}", json={}).status_code == 400
    assert alice.http.post(f"/rooms/{room_id}/receipt/m.read/$missing", json={}).status_code == 404

    # Typing: set, seen by the other member, cleared.
    since = bob.sync()["next_batch"]
    typing_url = f"/rooms/{room_id}/typing/{alice.user_id}"
    assert alice.http.put(typing_url, json={"typing": True, "timeout": 10000}).json() == {}
    typing = bob.sync(since, timeout=5000)
    events = typing["rooms"]["join"][room_id]["ephemeral"]["events"]
    assert {"type": "m.typing", "content": {"user_ids": [alice.user_id]}} in events
    assert alice.http.put(typing_url, json={"typing": False}).json() == {}
    stopped = bob.sync(typing["next_batch"], timeout=5000)["rooms"]["join"][room_id]["ephemeral"]["events"]
    assert {"type": "m.typing", "content": {"user_ids": []}} in stopped
    assert bob.http.put(typing_url, json={"typing": True}).status_code == 403
    assert carol.http.put(f"/rooms/{room_id}/typing/{carol.user_id}", json={"typing": True}).status_code == 403


def test_room_directory(server: ServerProcess) -> None:
    alice, bob = Client(server, "alice"), Client(server, "bob")
    room_id = alice.create_room(name="Cabinet office", topic="Weekly")
    alias = "%23cabinet:qasid.test"  # '#' must be escaped in a URL path
    assert alice.http.put(f"/directory/room/{alias}", json={"room_id": room_id}).json() == {}
    assert alice.http.put(f"/directory/room/{alias}", json={"room_id": room_id}).status_code == 409
    assert bob.http.get(f"/directory/room/{alias}").json() == {"room_id": room_id, "servers": ["qasid.test"]}
    assert bob.http.get("/directory/room/%23missing:qasid.test").json()["errcode"] == "M_NOT_FOUND"
    assert bob.http.get("/directory/room/not-an-alias").status_code == 400
    assert bob.http.put("/directory/room/%23other:qasid.test", json={"room_id": room_id}).status_code == 403
    assert alice.http.put("/directory/room/%23x:elsewhere", json={"room_id": room_id}).status_code == 400
    assert bob.http.delete(f"/directory/room/{alias}").status_code == 403

    assert alice.http.get(f"/directory/list/room/{room_id}").json() == {"visibility": "private"}
    assert bob.http.put(f"/directory/list/room/{room_id}", json={"visibility": "public"}).status_code == 403
    assert alice.http.put(f"/directory/list/room/{room_id}", json={"visibility": "public"}).json() == {}
    listed = bob.http.get("/publicRooms").json()
    entry = next(r for r in listed["chunk"] if r["room_id"] == room_id)
    assert entry["name"] == "Cabinet office" and entry["num_joined_members"] == 1
    assert entry["world_readable"] is False and entry["join_rule"] == "invite"
    searched = bob.http.post("/publicRooms", json={"filter": {"generic_search_term": "cabinet"}}).json()
    assert [r["room_id"] for r in searched["chunk"]] == [room_id]
    assert bob.http.post("/publicRooms", json={"filter": {"generic_search_term": "zzz"}}).json()["chunk"] == []
    assert alice.http.get("/directory/list/room/!nope:qasid.test").status_code == 404

    assert alice.http.delete(f"/directory/room/{alias}").json() == {}
    assert bob.http.get(f"/directory/room/{alias}").status_code == 404


def test_unread_counts_follow_messages_and_the_read_receipt(server: ServerProcess) -> None:
    alice, bob = Client(server, "alice"), Client(server, "bob")
    room = alice.create_room(invite=[bob.user_id])
    assert bob.http.post(f"/join/{room}").status_code == 200

    def unread(since: str | None = None, limit: int | None = None) -> tuple[int | None, str]:
        params: dict[str, Any] = {"timeout": 0}
        if since:
            params["since"] = since
        if limit:
            params["filter"] = json.dumps({"room": {"timeline": {"limit": limit}}})
        body = alice.http.get("/sync", params=params).json()
        section = body["rooms"]["join"].get(room)
        return (section["unread_notifications"]["notification_count"] if section else None), body["next_batch"]

    count, since = unread()
    assert count == 0
    sent = [bob.send(room, f"m{n}", f"t{n}") for n in range(3)]
    alice.send(room, "mine", "a0")  # your own messages are never unread
    count, since = unread(since)
    assert count == 3
    assert unread()[0] == 3  # an initial sync counts the same
    # Counted past a gap: a timeline of one event after five new ones.
    sent += [bob.send(room, f"m{n}", f"t{n}") for n in range(3, 8)]
    count, since = unread(since, limit=1)
    assert count == 8
    # A read receipt on the sixth message leaves the two after it.
    assert alice.http.post(f"/rooms/{room}/receipt/m.read/{sent[5]}", json={}).status_code == 200
    count, since = unread(since)
    assert count == 2
    bob.send(room, "m8", "t8")
    assert unread(since)[0] == 3
    assert unread(since)[0] == 3  # the same token asked twice counts the same
    assert unread()[0] == 3
