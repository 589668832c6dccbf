"""Server-side search's pure parts: the index's choice of text, the FTS query, tokens and criteria."""

from __future__ import annotations

from typing import Any

import pytest

from qasid.core.errors import MatrixError
from qasid.core.search import (
    KEYS,
    MAX_CONTEXT,
    MAX_TERMS,
    parse_next_batch,
    parse_room_events,
)
from qasid.store.sqlite.search import match_expression, searchable_text


@pytest.mark.parametrize(("pdu", "expected"), [
    ({"type": "m.room.message", "content": {"body": "hello"}}, ("content.body", "hello")),
    ({"type": "m.room.message", "content": {"body": ""}}, None),
    ({"type": "m.room.message", "content": {"body": 5}}, None),
    ({"type": "m.room.message", "state_key": "", "content": {"body": "state?"}}, None),
    ({"type": "m.room.name", "state_key": "", "content": {"name": "Budget"}}, ("content.name", "Budget")),
    ({"type": "m.room.name", "state_key": "x", "content": {"name": "Budget"}}, None),
    ({"type": "m.room.name", "content": {"name": "not state"}}, None),
    ({"type": "m.room.topic", "state_key": "", "content": {"topic": "plans"}}, ("content.topic", "plans")),
    ({"type": "m.room.encrypted", "content": {"ciphertext": "abc", "body": "never"}}, None),
    ({"type": "m.reaction", "content": {"body": "x"}}, None),
])
def test_what_is_indexed(pdu: dict[str, Any], expected: tuple[str, str] | None) -> None:
    assert searchable_text(pdu) == expected


@pytest.mark.parametrize(("terms", "expected"), [
    (("budget",), '"budget"*'),
    (("a", "b"), '"a"* "b"*'),
    (('x"y',), '"x""y"*'),
])
def test_match_expression_quotes_every_term(terms: tuple[str, ...], expected: str) -> None:
    assert match_expression(terms) == expected


@pytest.mark.parametrize(("token", "by_rank", "expected"), [
    (None, True, None), ("r0", True, 0), ("r30", True, 30), ("b99", False, 99),
])
def test_next_batch_accepted(token: str | None, by_rank: bool, expected: int | None) -> None:
    assert parse_next_batch(token, by_rank) == expected


@pytest.mark.parametrize(("token", "by_rank"), [
    ("b5", True), ("r5", False), ("r", True), ("r-1", True), ("r1e3", True), ("r" + "9" * 19, True), ("r٣", True),
])
def test_next_batch_refused(token: str, by_rank: bool) -> None:
    with pytest.raises(MatrixError) as refused:
        parse_next_batch(token, by_rank)
    assert refused.value.errcode == "M_INVALID_PARAM"


def test_criteria_defaults_and_bounds() -> None:
    query = parse_room_events({"search_term": "Budget budget, PLAN " + " ".join(f"w{i}" for i in range(40))})
    assert query.terms[:2] == ("budget", "plan") and len(query.terms) == MAX_TERMS
    assert query.keys == KEYS and query.by_rank and query.before_limit is None and query.group_by == ()
    bounded = parse_room_events({"search_term": "x", "event_context": {"before_limit": 10_000}, "order_by": "recent"})
    assert bounded.before_limit == MAX_CONTEXT and bounded.after_limit == 5 and not bounded.by_rank
