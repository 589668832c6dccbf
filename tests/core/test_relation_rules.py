"""The pure rules of event relationships, one row per case."""

from __future__ import annotations

from typing import Any

import pytest

from qasid.core.relation_rules import (
    Relation,
    latest_edit,
    parse_threads_token,
    receipt_fits_thread,
    relation_of,
    thread_start_problem,
    valid_edit,
)

ROOM = "!room:qasid.test"


@pytest.mark.parametrize(("content", "expected"), [
    ({"m.relates_to": {"rel_type": "m.thread", "event_id": "$root"}}, Relation("m.thread", "$root")),
    ({"m.relates_to": {"rel_type": "org.example.custom", "event_id": "$p"}}, Relation("org.example.custom", "$p")),
    ({"m.relates_to": {"m.in_reply_to": {"event_id": "$p"}}}, None),  # a rich reply is no relation
    ({"m.relates_to": {"rel_type": "m.thread"}}, None),
    ({"m.relates_to": {"rel_type": 1, "event_id": "$p"}}, None),
    ({"m.relates_to": {"rel_type": "m.thread", "event_id": "not-an-event-id"}}, None),
    ({"m.relates_to": {"rel_type": "", "event_id": "$p"}}, None),
    ({"m.relates_to": {"rel_type": "m.thread", "event_id": "$" + "a" * 300}}, None),
    ({"m.relates_to": "m.thread"}, None),
    ({}, None),
    ("not content", None),
])
def test_relation_of(content: Any, expected: Relation | None) -> None:
    assert relation_of(content) == expected


def _message(sender: str = "@a:x", content: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {"type": "m.room.message", "room_id": ROOM, "sender": sender, "content": content or {"body": "b"}, **extra}


EDIT = {"body": "* x", "m.new_content": {"body": "x"}, "m.relates_to": {"rel_type": "m.replace", "event_id": "$o"}}


@pytest.mark.parametrize(("original", "edit", "valid"), [
    (_message(), _message(content=EDIT), True),
    (_message(), _message(sender="@b:x", content=EDIT), False),  # another sender
    (_message(), {**_message(content=EDIT), "type": "m.sticker"}, False),  # another type
    (_message(), {**_message(content=EDIT), "room_id": "!other:x"}, False),
    (_message(state_key=""), _message(content=EDIT), False),  # state is never edited
    (_message(), _message(content=EDIT, state_key=""), False),
    (_message(content=EDIT), _message(content=EDIT), False),  # an edit of an edit
    (_message(), _message(content={"body": "* x", "m.relates_to": EDIT["m.relates_to"]}), False),  # no m.new_content
    (_message(), _message(content={**EDIT, "m.new_content": "x"}), False),
    ({**_message(), "type": "m.room.encrypted"}, {**_message(content={"ciphertext": "..."}), "type": "m.room.encrypted"},
     True),  # its m.new_content is in the ciphertext: the client checks it
])
def test_valid_edit(original: dict[str, Any], edit: dict[str, Any], valid: bool) -> None:
    assert valid_edit(original, edit) is valid


@pytest.mark.parametrize(("edits", "expected"), [
    ([], None),
    ([(1, "$a")], 0),
    ([(2, "$a"), (1, "$z")], 0),  # the newest timestamp wins
    ([(5, "$a"), (5, "$b")], 1),  # a tie goes to the larger event ID
    ([(5, "$b"), (5, "$a"), (4, "$z")], 0),
])
def test_latest_edit(edits: list[tuple[int, str]], expected: int | None) -> None:
    assert latest_edit(edits) == expected


@pytest.mark.parametrize(("root", "problem"), [
    (_message(), None),
    ({**_message(), "room_id": "!other:x"}, "Relations must be to an event in the same room"),
    (_message(content={"m.relates_to": {"rel_type": "m.thread", "event_id": "$r"}}),
     "Cannot start a thread from an event with a relation"),
    (_message(content={"m.relates_to": {"m.in_reply_to": {"event_id": "$r"}}}), None),  # a reply may be a root
])
def test_thread_start_problem(root: dict[str, Any], problem: str | None) -> None:
    assert thread_start_problem(root, ROOM) == problem


@pytest.mark.parametrize(("token", "position"), [("t0", 0), ("t42", 42), (f"t{2**63 - 1}", 2**63 - 1)])
def test_threads_token(token: str, position: int) -> None:
    assert parse_threads_token(token) == position


@pytest.mark.parametrize("token", ["", "t", "42", "t-1", "t+1", "t1.5", f"t{2**63}", "t" + "9" * 20, "t١٢"])
def test_threads_token_refused(token: str) -> None:
    with pytest.raises(ValueError):
        parse_threads_token(token)


THREAD_STEP = Relation("m.thread", "$A")


@pytest.mark.parametrize(("event_id", "chain", "thread_id", "exists", "fits"), [
    # A <-thread- B <-annotation- C ; A <-reference- D <-annotation- E (Synapse's own example)
    ("$A", [], "$A", True, True),
    ("$B", [THREAD_STEP], "$A", True, True),
    ("$C", [Relation("m.annotation", "$B"), THREAD_STEP], "$A", True, True),
    ("$D", [Relation("m.reference", "$A")], "$A", True, True),
    ("$E", [Relation("m.annotation", "$D"), Relation("m.reference", "$A")], "$A", True, True),
    ("$A", [], "main", False, True),
    ("$D", [Relation("m.reference", "$A")], "main", False, True),
    ("$B", [THREAD_STEP], "main", False, False),
    ("$C", [Relation("m.annotation", "$B"), THREAD_STEP], "main", False, False),
    ("$A", [], "$A", False, False),  # no thread hangs off it
    ("$X", [], "$A", True, False),  # unrelated to the thread
    ("$B", [THREAD_STEP], "$Z", True, False),
])
def test_receipt_fits_thread(event_id: str, chain: list[Relation], thread_id: str, exists: bool, fits: bool) -> None:
    assert receipt_fits_thread(event_id, chain, thread_id, exists) is fits
