"""Server-side search over HTTP: what is indexed, what each user may find, and the response's shape."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.hardening.client import User, error, new_user, query_db
from tests.server import ServerProcess


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path_factory.mktemp("search") / "data")
    process.start()
    try:
        yield process
    finally:
        process.stop()


_count = 0


def _users(server: ServerProcess, *names: str) -> list[User]:
    global _count
    _count += 1
    return [new_user(server, f"{name}{_count}") for name in names]


def _search(user: User, term: str, **criteria: Any) -> dict[str, Any]:
    response = user.post("/search", {"search_categories": {"room_events": {"search_term": term, **criteria}}})
    assert response.status_code == 200, response.text
    return response.json()["search_categories"]["room_events"]  # type: ignore[no-any-return]


def _ids(found: dict[str, Any]) -> list[str]:
    return [r["result"]["event_id"] for r in found["results"]]


def test_messages_names_and_topics_are_found_and_ciphertext_never_indexed(server: ServerProcess) -> None:
    owner, = _users(server, "owner")
    room = owner.create_room(name="Budget committee", topic="quarterly planning")
    first = owner.send(room, "t1", {"msgtype": "m.text", "body": "The budget is approved"})
    second = owner.send(room, "t2", {"msgtype": "m.text", "body": "budget budget budget draft"})
    owner.put(f"/rooms/{room}/send/m.room.encrypted/t3", {"algorithm": "m.megolm.v1.aes-sha2", "ciphertext": "budget"})

    found = _search(owner, "BUDGET")
    assert found["count"] == 3 and found["highlights"] == ["budget"]
    kinds = {r["result"]["type"] for r in found["results"]}
    assert kinds == {"m.room.message", "m.room.name"}
    assert set(_ids(_search(owner, "budget", keys=["content.body"]))) == {first, second}
    assert _ids(_search(owner, "budget", keys=["content.body"], order_by="recent")) == [second, first]
    assert [r["result"]["type"] for r in _search(owner, "quarter")["results"]] == ["m.room.topic"]  # a prefix
    assert _search(owner, "approved draft")["results"] == []  # every term must match
    rows = query_db(server, "SELECT count(*) FROM event_search WHERE value LIKE '%budget%' AND key = 'content.body'"
                    " AND room_id = ?", (room,))
    assert rows[0][0] == 2  # the encrypted event is not in the index


def test_paging_context_state_and_groups(server: ServerProcess) -> None:
    owner, = _users(server, "pager")
    room = owner.create_room()
    sent = [owner.send(room, f"p{i}", {"msgtype": "m.text", "body": f"minutes item {i}"}) for i in range(5)]
    page = _search(owner, "minutes", order_by="recent", filter={"limit": 2},
                   event_context={"before_limit": 1, "after_limit": 1, "include_profile": True},
                   include_state=True, groupings={"group_by": [{"key": "room_id"}]})
    assert _ids(page) == [sent[4], sent[3]] and page["count"] == 5
    context = page["results"][1]["context"]
    assert [e["event_id"] for e in context["events_before"]] == [sent[2]]
    assert [e["event_id"] for e in context["events_after"]] == [sent[4]]
    assert owner.user_id in context["profile_info"]
    assert any(e["type"] == "m.room.create" for e in page["state"][room])
    assert page["groups"]["room_id"][room]["results"] == [sent[4], sent[3]]
    rest: list[str] = []
    token = page["next_batch"]
    while token:
        response = owner.post(f"/search?next_batch={token}", {"search_categories": {"room_events": {
            "search_term": "minutes", "order_by": "recent", "filter": {"limit": 2}}}})
        assert response.status_code == 200, response.text
        more = response.json()["search_categories"]["room_events"]
        rest += _ids(more)
        token = more.get("next_batch")
    assert rest == [sent[2], sent[1], sent[0]]
    ranked = _search(owner, "minutes", filter={"limit": 3})
    assert len(ranked["results"]) == 3 and ranked["next_batch"] == "r3"
    assert all(isinstance(r["rank"], float) for r in ranked["results"])


def test_a_redacted_message_leaves_the_index(server: ServerProcess) -> None:
    owner, = _users(server, "redactor")
    room = owner.create_room()
    event_id = owner.send(room, "r1", {"msgtype": "m.text", "body": "withdrawn proposal"})
    assert _ids(_search(owner, "withdrawn")) == [event_id]
    assert owner.put(f"/rooms/{room}/redact/{event_id}/x1", {}).status_code == 200
    assert _search(owner, "withdrawn")["results"] == []


def test_nobody_finds_what_they_may_not_see(server: ServerProcess) -> None:
    owner, member, leaver, banned, outsider = _users(server, "sowner", "smember", "sleaver", "sbanned", "soutsider")
    room = owner.create_room(preset="private_chat", initial_state=[
        {"type": "m.room.history_visibility", "state_key": "", "content": {"history_visibility": "joined"}}])
    early = owner.send(room, "e0", {"msgtype": "m.text", "body": "classified early remark"})
    for user in (member, leaver, banned):
        assert owner.post(f"/rooms/{room}/invite", {"user_id": user.user_id}).status_code == 200
        user.join(room)
    during = owner.send(room, "e1", {"msgtype": "m.text", "body": "classified while present"})
    assert leaver.post(f"/rooms/{room}/leave").status_code == 200
    assert owner.post(f"/rooms/{room}/ban", {"user_id": banned.user_id}).status_code == 200
    late = owner.send(room, "e2", {"msgtype": "m.text", "body": "classified after they went"})
    assert owner.put(f"/profile/{owner.user_id}/displayname", {"displayname": "Renamed later"}).status_code == 200
    assert owner.put(f"/rooms/{room}/state/m.room.topic", {"topic": "classified topic"}).status_code == 200

    assert set(_ids(_search(owner, "classified"))) >= {early, during, late}
    member_found = _search(member, "classified", keys=["content.body"])
    assert set(_ids(member_found)) == {during, late} and member_found["count"] == 2
    for user in (leaver, banned):
        found = _search(user, "classified", order_by="recent",
                        event_context={"before_limit": 5, "after_limit": 5, "include_profile": True},
                        include_state=True)
        assert _ids(found) == [during] and found["count"] == 1
        context = found["results"][0]["context"]
        around = {e["event_id"] for e in context["events_before"] + context["events_after"]}
        assert late not in around and early not in around
        assert "Renamed later" not in str(context["profile_info"])
        assert not any(e["content"].get("topic") == "classified topic" for e in found["state"].get(room, []))
    nothing = _search(outsider, "classified", include_state=True)
    assert nothing == {"count": 0, "highlights": ["classified"], "results": [], "state": {}}
    assert _search(outsider, "classified", filter={"rooms": [room]})["count"] == 0


@pytest.mark.parametrize(("body", "expected"), [
    ({}, (400, "M_MISSING_PARAM")),
    ({"search_categories": []}, (400, "M_BAD_JSON")),
    ({"search_categories": {"room_events": {}}}, (400, "M_MISSING_PARAM")),
    ({"search_categories": {"room_events": {"search_term": 5}}}, (400, "M_BAD_JSON")),
    ({"search_categories": {"room_events": {"search_term": "x" * 501}}}, (400, "M_INVALID_PARAM")),
    ({"search_categories": {"room_events": {"search_term": "x", "keys": ["content.msgtype"]}}},
     (400, "M_INVALID_PARAM")),
    ({"search_categories": {"room_events": {"search_term": "x", "keys": "content.body"}}}, (400, "M_BAD_JSON")),
    ({"search_categories": {"room_events": {"search_term": "x", "order_by": "size"}}}, (400, "M_INVALID_PARAM")),
    ({"search_categories": {"room_events": {"search_term": "x", "filter": []}}}, (400, "M_BAD_JSON")),
    ({"search_categories": {"room_events": {"search_term": "x", "event_context": {"before_limit": "3"}}}},
     (400, "M_BAD_JSON")),
    ({"search_categories": {"room_events": {"search_term": "x", "event_context": {"after_limit": -1}}}},
     (400, "M_INVALID_PARAM")),
    ({"search_categories": {"room_events": {"search_term": "x", "groupings": {"group_by": [{"key": "type"}]}}}},
     (400, "M_INVALID_PARAM")),
    ({"search_categories": {"room_events": {"search_term": "x", "include_state": "yes"}}}, (400, "M_BAD_JSON")),
])
def test_bad_criteria_are_refused(server: ServerProcess, body: dict[str, Any], expected: tuple[int, str]) -> None:
    user, = _users(server, "badsearch")
    assert error(user.post("/search", body)) == expected


def test_bad_next_batch_and_other_categories(server: ServerProcess) -> None:
    user, = _users(server, "tokens")
    criteria = {"search_categories": {"room_events": {"search_term": "x"}}}
    for token in ("b5", "rx", "r" + "9" * 30, ""):
        assert error(user.post(f"/search?next_batch={token}", criteria)) == (400, "M_INVALID_PARAM"), token
    assert user.post("/search", {"search_categories": {}}).json() == {"search_categories": {}}
    assert _search(user, "   ")["results"] == []
    assert _search(user, '" OR * NEAR(')["results"] == []  # FTS syntax is never passed through
