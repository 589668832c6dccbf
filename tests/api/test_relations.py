"""Relations, threads and bundled aggregations over HTTP, against the real server.

A room talks in a thread, edits messages and references them; each test reads it back the way
a client does: /relations page by page, /threads, and unsigned["m.relations"] on every path
that serves events (/event, /messages, /context, /sync, sliding sync). Past members, banned
users and strangers must learn nothing they could not see.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.hardening.client import User, error, new_user, query_db
from tests.server import ServerProcess

V1 = "/_matrix/client/v1"
TEXT = "m.room.message"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path_factory.mktemp("relations") / "data")
    process.start()
    try:
        yield process
    finally:
        process.stop()


_count = 0


@dataclass
class Room:
    alice: User
    bob: User
    room_id: str
    txn: list[int] = field(default_factory=lambda: [0])

    def say(self, who: User, body: str, **extra: Any) -> str:
        self.txn[0] += 1
        return who.send(self.room_id, f"t{self.txn[0]}", {"msgtype": "m.text", "body": body, **extra})

    def reply(self, who: User, root: str, body: str) -> str:
        return self.say(who, body, **{"m.relates_to": {"rel_type": "m.thread", "event_id": root}})

    def edit(self, who: User, original: str, body: str) -> str:
        return self.say(who, f"* {body}", **{"m.new_content": {"msgtype": "m.text", "body": body},
                                             "m.relates_to": {"rel_type": "m.replace", "event_id": original}})

    def event(self, who: User, event_id: str) -> dict[str, Any]:
        response = who.get(f"/rooms/{self.room_id}/event/{event_id}")
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    def relations(self, who: User, event_id: str, *suffix: str, **params: Any) -> dict[str, Any]:
        path = "/".join([f"{V1}/rooms/{self.room_id}/relations/{event_id}", *suffix])
        response = who.get(path, **params)
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    def threads(self, who: User, **params: Any) -> dict[str, Any]:
        response = who.get(f"{V1}/rooms/{self.room_id}/threads", **params)
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]


def make_room(server: ServerProcess, visibility: str = "shared") -> Room:
    global _count
    _count += 1
    alice, bob = new_user(server, f"alice{_count}"), new_user(server, f"bob{_count}")
    room_id = alice.create_room(preset="private_chat", invite=[bob.user_id], initial_state=[
        {"type": "m.room.history_visibility", "state_key": "", "content": {"history_visibility": visibility}}])
    bob.join(room_id)
    return Room(alice, bob, room_id)


def ids(events: list[dict[str, Any]]) -> list[str]:
    return [e["event_id"] for e in events]


def test_a_thread_pages_through_relations_both_ways(server: ServerProcess) -> None:
    room = make_room(server)
    root = room.say(room.alice, "root")
    replies = [room.reply(room.bob if i % 2 else room.alice, root, f"reply {i}") for i in range(5)]
    room.say(room.alice, "main timeline, not in the thread")

    newest_first, params = [], {"limit": 2}
    for _ in range(5):
        page = room.relations(room.bob, root, "m.thread", **params)
        newest_first += ids(page["chunk"])
        assert "recursion_depth" not in page
        if "next_batch" not in page:
            break
        params["from"] = page["next_batch"]
    assert newest_first == list(reversed(replies))

    oldest_first, params = [], {"limit": 3, "dir": "f"}
    for _ in range(5):
        page = room.relations(room.bob, root, **params)
        oldest_first += ids(page["chunk"])
        if "next_batch" not in page:
            break
        assert page["next_batch"] != params.get("from")
        params["from"] = page["next_batch"]
    assert oldest_first == replies
    # The filters of the longer paths, and `to`.
    assert room.relations(room.bob, root, "m.thread", TEXT, limit=10)["chunk"] != []
    assert room.relations(room.bob, root, "m.thread", "m.room.encrypted")["chunk"] == []
    assert room.relations(room.bob, root, "m.reference")["chunk"] == []
    bounded = room.relations(room.bob, root, dir="f", limit=10, to=room.relations(room.bob, root, dir="f", limit=2)[
        "next_batch"])
    assert ids(bounded["chunk"]) == replies[:2]


def test_recurse_finds_relations_of_relations(server: ServerProcess) -> None:
    room = make_room(server)
    root = room.say(room.alice, "root")
    reply = room.reply(room.bob, root, "reply")
    reaction = room.bob.put(f"/rooms/{room.room_id}/send/m.reaction/r1", {
        "m.relates_to": {"rel_type": "m.annotation", "event_id": reply, "key": "+1"}}).json()["event_id"]
    direct = room.relations(room.alice, root)
    assert ids(direct["chunk"]) == [reply] and "recursion_depth" not in direct
    deep = room.relations(room.alice, root, recurse="true")
    assert ids(deep["chunk"]) == [reaction, reply] and deep["recursion_depth"] == 3
    assert ids(room.relations(room.alice, root, "m.annotation", recurse="true")["chunk"]) == [reaction]
    assert room.relations(room.alice, root, recurse="false")["recursion_depth"] == 0


def test_the_thread_is_bundled_the_same_on_every_path(server: ServerProcess) -> None:
    room = make_room(server)
    carol = new_user(server, f"carol{_count}")
    assert room.alice.post(f"/rooms/{room.room_id}/invite", {"user_id": carol.user_id}).status_code == 200
    carol.join(room.room_id)
    root = room.say(room.alice, "root")
    room.reply(room.bob, root, "first")
    last = room.reply(room.alice, root, "second")
    edit = room.edit(room.alice, last, "second, edited")

    bundle = room.event(room.bob, root)["unsigned"]["m.relations"]["m.thread"]
    assert bundle["count"] == 2 and bundle["current_user_participated"] is True
    latest = bundle["latest_event"]
    assert latest["event_id"] == last and latest["room_id"] == room.room_id
    assert latest["content"]["body"] == "second"  # the server never rewrites content
    # The latest reply carries its own aggregations: its edit.
    assert latest["unsigned"]["m.relations"]["m.replace"]["event_id"] == edit
    assert room.event(carol, root)["unsigned"]["m.relations"]["m.thread"]["current_user_participated"] is False

    def root_in(events: list[dict[str, Any]]) -> dict[str, Any]:
        return next(e for e in events if e["event_id"] == root)["unsigned"]["m.relations"]  # type: ignore[no-any-return]

    expected = room.event(room.bob, root)["unsigned"]["m.relations"]
    drop_age = _without_age
    messages = room.bob.get(f"/rooms/{room.room_id}/messages", dir="b", limit=50).json()["chunk"]
    context = room.bob.get(f"/rooms/{room.room_id}/context/{root}", limit=2).json()
    sync = room.bob.sync()["rooms"]["join"][room.room_id]["timeline"]["events"]
    sliding = room.bob.post("/_matrix/client/unstable/org.matrix.simplified_msc3575/sync", {
        "room_subscriptions": {room.room_id: {"timeline_limit": 20, "required_state": []}}}).json()
    for found in (root_in(messages), context["event"]["unsigned"]["m.relations"], root_in(sync),
                  root_in(sliding["rooms"][room.room_id]["timeline"])):
        assert drop_age(found) == drop_age(expected)
    assert ids(room.threads(room.bob)["chunk"]) == [root]


def _without_age(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_age(v) for k, v in value.items() if k != "age"}
    return value


def test_the_latest_valid_edit_is_bundled_whole(server: ServerProcess) -> None:
    room = make_room(server)
    original = room.say(room.alice, "before")
    room.edit(room.alice, original, "first edit")
    second = room.edit(room.alice, original, "second edit")
    room.edit(room.bob, original, "not yours to edit")  # another sender: invalid, ignored
    room.say(room.alice, "not an edit", **{"m.relates_to": {"rel_type": "m.replace", "event_id": original}})

    served = room.event(room.bob, original)
    assert served["content"]["body"] == "before"
    replace = served["unsigned"]["m.relations"]["m.replace"]
    assert replace["event_id"] == second and replace["sender"] == room.alice.user_id
    assert replace["content"]["m.new_content"]["body"] == "second edit"
    assert replace["type"] == TEXT and replace["room_id"] == room.room_id and "origin_server_ts" in replace
    # An edit is nobody's parent: it carries no bundle, and an edit of an edit is not one.
    edit_of_edit = room.edit(room.alice, second, "edit of an edit")
    assert "m.relations" not in room.event(room.bob, second)["unsigned"]
    assert room.event(room.bob, original)["unsigned"]["m.relations"]["m.replace"]["event_id"] == second
    assert edit_of_edit

    # Redacting the latest edit falls back to the one before it.
    assert room.alice.put(f"/rooms/{room.room_id}/redact/{second}/x1", {}).status_code == 200
    replace = room.event(room.bob, original)["unsigned"]["m.relations"]["m.replace"]
    assert replace["content"]["m.new_content"]["body"] == "first edit"
    # A redacted original has no edit bundled.
    assert room.alice.put(f"/rooms/{room.room_id}/redact/{original}/x2", {}).status_code == 200
    assert "m.replace" not in room.event(room.bob, original)["unsigned"].get("m.relations", {})


def test_references_are_bundled_as_a_chunk(server: ServerProcess) -> None:
    room = make_room(server)
    target = room.say(room.alice, "target")
    refs = [room.say(room.bob, f"ref {i}", **{"m.relates_to": {"rel_type": "m.reference", "event_id": target}})
            for i in range(2)]
    assert room.event(room.alice, target)["unsigned"]["m.relations"]["m.reference"] == {
        "chunk": [{"event_id": r} for r in refs]}


def test_threads_list_latest_activity_first_and_participation(server: ServerProcess) -> None:
    room = make_room(server)
    first = room.say(room.alice, "first thread")
    second = room.say(room.bob, "second thread")
    room.reply(room.alice, second, "in second")
    room.reply(room.bob, first, "in first")  # first is now the most recently active
    room.say(room.alice, "no thread here")
    assert ids(room.threads(room.alice)["chunk"]) == [first, second]
    page = room.threads(room.alice, limit=1)
    assert ids(page["chunk"]) == [first]
    rest = room.threads(room.alice, limit=1, **{"from": page["next_batch"]})
    assert ids(rest["chunk"]) == [second]
    assert "next_batch" not in room.threads(room.alice, limit=1, **{"from": rest["next_batch"]})
    for root in room.threads(room.alice)["chunk"]:
        assert root["unsigned"]["m.relations"]["m.thread"]["count"] == 1

    carol = new_user(server, f"carol{_count}x")
    assert room.alice.post(f"/rooms/{room.room_id}/invite", {"user_id": carol.user_id}).status_code == 200
    carol.join(room.room_id)
    assert room.threads(carol, include="participated")["chunk"] == []
    room.reply(carol, second, "carol was here")
    assert ids(room.threads(carol, include="participated")["chunk"]) == [second]
    assert ids(room.threads(room.bob, include="participated")["chunk"]) == [second, first]


def test_a_thread_cannot_start_from_a_relation(server: ServerProcess) -> None:
    room = make_room(server)
    root = room.say(room.alice, "root")
    reply = room.reply(room.bob, root, "reply")
    refused = room.alice.put(f"/rooms/{room.room_id}/send/{TEXT}/nested", {
        "msgtype": "m.text", "body": "x", "m.relates_to": {"rel_type": "m.thread", "event_id": reply}})
    assert error(refused) == (400, "M_UNKNOWN")
    assert ids(room.relations(room.alice, reply)["chunk"]) == []


@pytest.mark.parametrize("departure", ["leave", "ban"])
def test_a_past_member_sees_no_relation_made_after_leaving(server: ServerProcess, departure: str) -> None:
    room = make_room(server, visibility="joined")
    root = room.say(room.alice, "root")
    seen = room.reply(room.alice, root, "while bob was here")
    original = room.say(room.alice, "typo")
    if departure == "leave":
        assert room.bob.post(f"/rooms/{room.room_id}/leave").status_code == 200
    else:
        assert room.alice.post(f"/rooms/{room.room_id}/ban", {"user_id": room.bob.user_id}).status_code == 200
    later = room.reply(room.alice, root, "after bob left")
    other = room.say(room.alice, "another root")
    room.reply(room.alice, other, "a thread bob never saw")
    room.edit(room.alice, original, "fixed after bob left")
    room.say(room.alice, "ref", **{"m.relates_to": {"rel_type": "m.reference", "event_id": root}})

    thread = room.event(room.bob, root)["unsigned"]["m.relations"]
    assert thread == {"m.thread": {"count": 1, "current_user_participated": False,
                                   "latest_event": thread["m.thread"]["latest_event"]}}
    assert thread["m.thread"]["latest_event"]["event_id"] == seen
    assert ids(room.relations(room.bob, root)["chunk"]) == [seen]
    assert ids(room.relations(room.bob, root, recurse="true")["chunk"]) == [seen]
    assert "m.relations" not in room.event(room.bob, original)["unsigned"]
    assert ids(room.threads(room.bob)["chunk"]) == [root]
    # The events after the departure are not parents either.
    assert error(room.bob.get(f"{V1}/rooms/{room.room_id}/relations/{other}")) == (404, "M_NOT_FOUND")
    # Alice, still in the room, sees it all.
    assert room.event(room.alice, root)["unsigned"]["m.relations"]["m.thread"]["latest_event"]["event_id"] == later
    assert ids(room.threads(room.alice)["chunk"]) == [other, root]


def test_a_stranger_learns_nothing_not_even_that_the_room_exists(server: ServerProcess) -> None:
    room = make_room(server)
    root = room.say(room.alice, "root")
    room.reply(room.alice, root, "reply")
    stranger = new_user(server, f"stranger{_count}")
    ghost = "!nosuchroom:qasid.test"
    for path in (f"/relations/{root}", f"/relations/{root}/m.thread", f"/relations/{root}/m.thread/{TEXT}"):
        assert error(stranger.get(f"{V1}/rooms/{room.room_id}{path}")) == (404, "M_NOT_FOUND")
        assert error(stranger.get(f"{V1}/rooms/{ghost}{path}")) == (404, "M_NOT_FOUND")
    # The spec gives /threads 403 for a room one cannot view, existing or not: the same answer.
    assert error(stranger.get(f"{V1}/rooms/{room.room_id}/threads")) == (403, "M_FORBIDDEN")
    assert error(stranger.get(f"{V1}/rooms/{ghost}/threads")) == (403, "M_FORBIDDEN")
    # An event of another room is no parent here.
    elsewhere = make_room(server)
    assert error(room.alice.get(f"{V1}/rooms/{elsewhere.room_id}/relations/{root}")) == (404, "M_NOT_FOUND")


def test_relations_are_indexed_at_append(server: ServerProcess) -> None:
    room = make_room(server)
    root = room.say(room.alice, "root")
    reply = room.reply(room.bob, root, "reply")
    rows = query_db(server, "SELECT event_id, relates_to_id, rel_type, room_id, sender, type FROM event_relations"
                            " WHERE relates_to_id = ?", (root,))
    assert rows == [(reply, root, "m.thread", room.room_id, room.bob.user_id, TEXT)]
    plan = server.query_plan("SELECT event_id FROM event_relations WHERE relates_to_id = ?"
                             " AND rel_type = ? ORDER BY stream_ordering DESC LIMIT 5", (root, "m.thread"))
    assert "event_relations_parent" in plan, plan
    threads = server.query_plan("SELECT root_id FROM threads WHERE room_id = ?"
                                " AND latest_stream_ordering < ? ORDER BY latest_stream_ordering DESC LIMIT 5",
                                (room.room_id, 2**62))
    assert "threads_latest" in threads, threads


def test_threaded_receipts_must_name_the_events_thread(server: ServerProcess) -> None:
    room = make_room(server)
    root = room.say(room.alice, "root")
    reply = room.reply(room.alice, root, "reply")
    plain = room.say(room.alice, "plain")

    def receipt(event_id: str, thread_id: str) -> tuple[int, str]:
        response = room.bob.post(f"/rooms/{room.room_id}/receipt/m.read/{event_id}", {"thread_id": thread_id})
        return (200, "") if response.status_code == 200 else error(response)

    assert receipt(reply, root) == (200, "")
    assert receipt(root, root) == (200, "")
    assert receipt(root, "main") == (200, "")
    assert receipt(plain, "main") == (200, "")
    assert receipt(reply, "main") == (400, "M_INVALID_PARAM")  # a reply is in its thread, not the main timeline
    assert receipt(plain, root) == (400, "M_INVALID_PARAM")
    assert receipt(plain, plain) == (400, "M_INVALID_PARAM")  # no thread hangs off it
    assert receipt(reply, "$nosuchroot") == (400, "M_INVALID_PARAM")
    receipts = room.bob.sync()["rooms"]["join"][room.room_id]["ephemeral"]["events"]
    # One receipt per thread: the last accepted of each, the refused ones changed nothing.
    held = {(event_id, by_user[room.bob.user_id].get("thread_id")) for e in receipts
            for event_id, kinds in e["content"].items() for by_user in [kinds.get("m.read", {})]
            if room.bob.user_id in by_user}
    assert held == {(root, root), (plain, "main")}


def test_ignored_users_are_left_out_of_aggregations_and_relations(server: ServerProcess) -> None:
    room = make_room(server)
    carol = new_user(server, f"carol{_count}i")
    assert room.alice.post(f"/rooms/{room.room_id}/invite", {"user_id": carol.user_id}).status_code == 200
    carol.join(room.room_id)
    root = room.say(room.alice, "root")
    mine = room.reply(room.alice, root, "from alice")
    room.reply(carol, root, "from carol")
    carols_root = room.say(carol, "carol's own thread")
    room.reply(room.alice, carols_root, "answer")
    ignore = {"ignored_users": {carol.user_id: {}}}
    assert room.bob.put(f"/user/{room.bob.user_id}/account_data/m.ignored_user_list", ignore).status_code == 200

    thread = room.event(room.bob, root)["unsigned"]["m.relations"]["m.thread"]
    assert thread["count"] == 1 and thread["latest_event"]["event_id"] == mine
    assert ids(room.relations(room.bob, root)["chunk"]) == [mine]
    # The spec: a root by an ignored user comes redacted in the thread list.
    listed = {e["event_id"]: e for e in room.threads(room.bob)["chunk"]}
    assert listed[carols_root]["content"] == {} and listed[root]["content"]["body"] == "root"
    # Alice ignores nobody: she sees both replies.
    assert room.event(room.alice, root)["unsigned"]["m.relations"]["m.thread"]["count"] == 2


def test_encrypted_edits_and_replies_aggregate_by_their_cleartext_relation(server: ServerProcess) -> None:
    room = make_room(server)

    def encrypted(who: User, txn: str, relates_to: dict[str, Any] | None = None) -> str:
        content: dict[str, Any] = {"algorithm": "m.megolm.v1.aes-sha2", "ciphertext": "AwgAEpAB", "device_id": "D",
                                   "sender_key": "k", "session_id": "s"}
        if relates_to is not None:
            content["m.relates_to"] = relates_to
        sent = who.put(f"/rooms/{room.room_id}/send/m.room.encrypted/{txn}", content)
        assert sent.status_code == 200, sent.text
        return str(sent.json()["event_id"])

    original = encrypted(room.alice, "e1")
    edit = encrypted(room.alice, "e2", {"rel_type": "m.replace", "event_id": original})
    encrypted(room.bob, "e3", {"rel_type": "m.replace", "event_id": original})  # bob may not edit alice's
    reply = encrypted(room.bob, "e4", {"rel_type": "m.thread", "event_id": original})
    bundle = room.event(room.bob, original)["unsigned"]["m.relations"]
    assert bundle["m.replace"]["event_id"] == edit and bundle["m.replace"]["type"] == "m.room.encrypted"
    assert bundle["m.thread"]["latest_event"]["event_id"] == reply and bundle["m.thread"]["count"] == 1
    assert ids(room.relations(room.alice, original, "m.thread", "m.room.encrypted")["chunk"]) == [reply]
