"""The audit log's escaping: table-driven cases, and a round trip over arbitrary strings."""

from __future__ import annotations

import random
import unicodedata

import pytest

from qasid.gov.audit_text import MAX_VALUE_CHARS, escape, escape_json, neutralise, unescape


@pytest.mark.parametrize(("raw", "stored"), [
    ("alice", "alice"),
    ("a\nb", "a\\nb"),
    ("tab\there", "tab\\there"),
    ("\r", "\\r"),
    ("nul\x00", "nul\\x00"),
    ("\x1b[31mred", "\\x1b[31mred"),
    ("del\x7f", "del\\x7f"),
    ("c1\x9b", "c1\\x9b"),
    ("bidi\u202eevil", "bidi\\u202eevil"),
    ("line\u2028sep", "line\\u2028sep"),
    ("lone\ud800", "lone\\ud800"),
    ("back\\slash", "back\\\\slash"),
    ("looks\\nescaped", "looks\\\\nescaped"),  # typed text is never confused with an escape
    ("ministère", "ministère"),
    ("وزارة", "وزارة"),
])
def test_escape_table(raw: str, stored: str) -> None:
    assert escape(raw) == stored
    assert unescape(stored) == raw


def test_round_trip_and_no_control_characters_survive() -> None:
    rng = random.Random(7)
    alphabet = ["\\", "n", "x", "u", "0", "a", "\n", "\x00", "\x1b", "\u202e", "\ud800", "\U0001f600", "é"]
    for _ in range(2000):
        raw = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        stored = escape(raw)
        assert unescape(stored) == raw
        assert not any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Zl", "Zp") for c in stored)
        assert neutralise(stored) == stored  # what is stored is already safe to show
        stored.encode("utf-8")  # and always encodable


def test_long_values_are_cut_and_marked() -> None:
    stored = escape("x" * (MAX_VALUE_CHARS + 5))
    assert stored.startswith("x" * MAX_VALUE_CHARS) and stored.endswith("[5 more characters]")


def test_details_escape_keys_and_values_only() -> None:
    assert escape_json({"k\n": ["v\x1b", 3, None, True, {"n": "\x00"}]}) == {
        "k\\n": ["v\\x1b", 3, None, True, {"n": "\\x00"}]}


def test_neutralise_defuses_a_row_edited_in_the_database() -> None:
    assert neutralise("edited\x1b[2J\nrow") == "edited\\x1b[2J\\nrow"
