"""The JSON codec: what is not JSON, what is JSON Matrix cannot carry, and what events may hold."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qasid.core import jsonutil
from qasid.core.errors import MatrixError
from qasid.core.jsonutil import MAX_SAFE_INT


def refusal(call: Any, *args: Any) -> tuple[int, str]:
    with pytest.raises(MatrixError) as caught:
        call(*args)
    return caught.value.status, caught.value.errcode


# --- loads: request bodies ------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"   \n", id="whitespace"),
        pytest.param(b"not json", id="words"),
        pytest.param(b"{", id="unterminated-object"),
        pytest.param(b'{"a": 1,}', id="trailing-comma"),
        pytest.param(b"{'a': 1}", id="single-quotes"),
        pytest.param(b'{"a": 1} {"b": 2}', id="two-documents"),
        pytest.param(b'{"a": 1}garbage', id="trailing-garbage"),
        pytest.param(b'{"a": undefined}', id="undefined"),
        pytest.param(b"\xff\xfe{}", id="not-utf8"),
        pytest.param(b'{"a": "\xc3"}', id="truncated-utf8-in-string"),
        pytest.param(b"<xml/>", id="xml"),
        pytest.param(b"a=1&b=2", id="form-encoded"),
    ],
)
def test_non_json_is_not_json(raw: bytes) -> None:
    assert refusal(jsonutil.loads, raw) == (400, "M_NOT_JSON")


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b'{"a": NaN}', id="nan"),
        pytest.param(b'{"a": Infinity}', id="infinity"),
        pytest.param(b'{"a": -Infinity}', id="minus-infinity"),
        pytest.param(b'[[{"deep": [NaN]}]]', id="nested-nan"),
        pytest.param(b'{"a": 1e400}', id="float-overflowing-to-infinity"),
        pytest.param(b'{"a": ' + b"1" + b"0" * 30 + b"}", id="integer-of-31-digits"),
        pytest.param(b'{"a": 18446744073709551616}', id="2^64"),
        pytest.param(b'{"a": -9223372036854775809}', id="below-int64"),
        pytest.param(b'{"a": [1, {"b": [18446744073709551616]}]}', id="2^64-nested"),
        pytest.param(b'[0, -18446744073709551617]', id="-2^64-1-in-list"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, id="nested-100000-deep"),
        pytest.param(b'{"a":' * 5_000 + b"1" + b"}" * 5_000, id="objects-5000-deep"),
    ],
)
def test_json_matrix_cannot_carry_is_bad_json(raw: bytes) -> None:
    """Values that would be silently changed (or crash the parser) are refused, not rounded."""
    assert refusal(jsonutil.loads, raw) == (400, "M_BAD_JSON")


def test_unterminated_deep_nesting_is_refused_as_a_client_error() -> None:
    status, errcode = refusal(jsonutil.loads, b"[" * 100_000)
    assert status == 400
    assert errcode in ("M_NOT_JSON", "M_BAD_JSON")


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        (b"{}", {}),
        (b'{"a": [1, "x", null, true, false, {"b": {}}]}', {"a": [1, "x", None, True, False, {"b": {}}]}),
        (b'{"n": 9007199254740991}', {"n": MAX_SAFE_INT}),
        (b'{"n": -9007199254740991}', {"n": -MAX_SAFE_INT}),
        (b'{"n": 18446744073709551615}', {"n": 2**64 - 1}),
        (b'{"n": -9223372036854775808}', {"n": -(2**63)}),
        (b'{"f": 1.5}', {"f": 1.5}),
        (b'{"s": "\\u00e9\xc3\xa9"}', {"s": "\u00e9\u00e9"}),
        (b'{"s": "12345678901234567890123"}', {"s": "12345678901234567890123"}),
        ("{\"s\": \"\u0661\"}", {"s": "\u0661"}),
    ],
)
def test_json_is_parsed_exactly(raw: bytes | str, value: Any) -> None:
    parsed = jsonutil.loads(raw)
    assert parsed == value
    assert type(parsed) is type(value)


@given(st.integers(min_value=-(2**63), max_value=2**64 - 1))
def test_64_bit_integers_parse_exactly(number: int) -> None:
    parsed = jsonutil.loads(jsonutil.dumps({"n": number}))["n"]
    assert type(parsed) is int and parsed == number


@given(st.integers(max_value=-(2**63) - 1) | st.integers(min_value=2**64) | st.integers(min_value=2**64, max_value=10**300))
def test_wider_integers_are_bad_json_not_rounded(number: int) -> None:
    raw = b'{"n": [' + str(number).encode() + b"]}"
    assert refusal(jsonutil.loads, raw) == (400, "M_BAD_JSON")


# --- check_canonical: event content ---------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        pytest.param({"a": 1.1}, id="float"),
        pytest.param({"a": 1.0}, id="integral-float"),
        pytest.param({"a": -0.0}, id="negative-zero"),
        pytest.param({"a": 0.0}, id="zero-float"),
        pytest.param({"a": float("nan")}, id="nan"),
        pytest.param({"a": float("inf")}, id="infinity"),
        pytest.param({"a": float("-inf")}, id="minus-infinity"),
        pytest.param({"a": 2**53}, id="2^53"),
        pytest.param({"a": -(2**53)}, id="-2^53"),
        pytest.param({"a": 2**64}, id="2^64"),
        pytest.param({"a": -(2**64)}, id="-2^64"),
        pytest.param({"a": 10**40}, id="10^40"),
        pytest.param({"a": [1, 2, [3, {"b": 2**53}]]}, id="nested-in-list"),
        pytest.param({"a": {"b": {"c": 2**70}}}, id="nested-in-dict"),
        pytest.param({"a": [{"b": 0.5}]}, id="float-nested"),
        pytest.param({"a": (1, 2)}, id="tuple"),
        pytest.param({"a": {1, 2}}, id="set"),
        pytest.param({"a": b"bytes"}, id="bytes"),
    ],
)
def test_event_content_outside_canonical_json_is_bad_json(content: dict[str, Any]) -> None:
    assert refusal(jsonutil.check_canonical, content) == (400, "M_BAD_JSON")


@pytest.mark.parametrize(
    "content",
    [
        {},
        {"a": MAX_SAFE_INT, "b": -MAX_SAFE_INT, "c": 0},
        {"a": [True, False, None, "x", {"b": [MAX_SAFE_INT]}]},
        {"body": "\u0645\u0631\u062d\u0628\u0627", "msgtype": "m.text"},
    ],
)
def test_canonical_content_is_accepted(content: dict[str, Any]) -> None:
    jsonutil.check_canonical(content)


def test_the_error_names_where_the_bad_value_is() -> None:
    with pytest.raises(MatrixError) as caught:
        jsonutil.check_canonical({"info": {"sizes": [1, 2, 0.5]}})
    assert "content.info.sizes[2]" in caught.value.message


def test_deep_event_content_is_refused_before_it_can_overflow_anything() -> None:
    content: dict[str, Any] = {}
    inner = content
    for _ in range(2_000):
        inner["a"] = {}
        inner = inner["a"]
    assert refusal(jsonutil.check_canonical, content) == (400, "M_BAD_JSON")


@given(st.recursive(
    st.none() | st.booleans() | st.text(max_size=5)
    | st.integers(min_value=-MAX_SAFE_INT, max_value=MAX_SAFE_INT),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4),
    max_leaves=30,
))
def test_canonical_values_survive_the_codec(value: Any) -> None:
    jsonutil.check_canonical({"v": value})
    assert jsonutil.loads(jsonutil.dumps({"v": value})) == {"v": value}
