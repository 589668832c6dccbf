"""Sync tokens: `SyncToken.encode` and `parse_sync_token` are exact inverses, and nothing else parses."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qasid.core.errors import MatrixError
from qasid.core.sync import SyncToken, parse_sync_token

# Positions are SQLite integers: a token naming anything larger can only be forged.
MAX_POSITION = 2**63 - 1

positions = st.integers(min_value=0, max_value=MAX_POSITION)
tokens = st.builds(SyncToken, positions, positions, positions, positions, positions, positions, positions)


def test_fresh_token_encoding() -> None:
    assert SyncToken().encode() == "s0_0_0_0_0_0_0"


def test_fields_keep_their_order() -> None:
    token = SyncToken(events=1, receipts=2, account_data=3, to_device=4, device_lists=5, typing=6, presence=7)
    assert token.encode() == "s1_2_3_4_5_6_7"
    assert parse_sync_token("s1_2_3_4_5_6_7") == token


def test_a_token_from_before_the_presence_stream_still_parses() -> None:
    assert parse_sync_token("s1_2_3_4_5_6") == SyncToken(1, 2, 3, 4, 5, 6, 0)


@pytest.mark.parametrize("field", SyncToken._fields)
def test_each_field_round_trips_at_the_largest_position(field: str) -> None:
    token = SyncToken(**{field: MAX_POSITION})
    assert parse_sync_token(token.encode()) == token


@given(tokens)
def test_parse_inverts_encode(token: SyncToken) -> None:
    assert parse_sync_token(token.encode()) == token


@given(st.text(alphabet="s0123456789_-+ t\u0661", max_size=40))
def test_only_encodings_parse(text: str) -> None:
    """Anything the parser accepts is exactly what `encode` would have produced for it."""
    try:
        token = parse_sync_token(text)
    except MatrixError as e:
        assert (e.status, e.errcode) == (400, "M_INVALID_PARAM")
        return
    assert token.encode() in (text, text + "_0")  # six positions: a token from before presence


@given(st.text(max_size=60))
def test_arbitrary_text_parses_or_is_refused_cleanly(text: str) -> None:
    try:
        token = parse_sync_token(text)
    except MatrixError as e:
        assert (e.status, e.errcode) == (400, "M_INVALID_PARAM")
        return
    assert token.encode() in (text, text + "_0")  # six positions: a token from before presence


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("s", id="prefix-only"),
        pytest.param("0_0_0_0_0_0", id="no-prefix"),
        pytest.param("S0_0_0_0_0_0", id="capital-prefix"),
        pytest.param("t5", id="pagination-token"),
        pytest.param("s1_2_3_4_5", id="five-positions"),
        pytest.param("s1_2_3_4_5_6_7_8", id="eight-positions"),
        pytest.param("s1__2_3_4_5_6", id="empty-position"),
        pytest.param("s1_2_3_4_5_", id="trailing-separator"),
        pytest.param("s-1_0_0_0_0_0", id="negative"),
        pytest.param("s0_0_0_0_0_-0", id="negative-zero"),
        pytest.param("s+1_0_0_0_0_0", id="plus-sign"),
        pytest.param("s 1_0_0_0_0_0", id="inner-space"),
        pytest.param("s1_0_0_0_0_0 ", id="trailing-space"),
        pytest.param("s1_0_0_0_0_0\n", id="trailing-newline"),
        pytest.param("s01_0_0_0_0_0", id="leading-zero"),
        pytest.param("s1.5_0_0_0_0_0", id="fraction"),
        pytest.param("s1e3_0_0_0_0_0", id="exponent"),
        pytest.param("s0x10_0_0_0_0_0", id="hex"),
        pytest.param("s\u0661_0_0_0_0_0", id="arabic-indic-digit"),
        pytest.param("s\uff11_0_0_0_0_0", id="fullwidth-digit"),
        pytest.param("sx_0_0_0_0_0", id="letters"),
        pytest.param(f"s{2**63}_0_0_0_0_0", id="beyond-sqlite-integers"),
        pytest.param(f"s0_0_0_0_0_{10**40}", id="huge-last-position"),
        pytest.param("s" + "9" * 5000 + "_0_0_0_0_0", id="thousands-of-digits"),
    ],
)
def test_malformed_tokens_are_invalid_param(text: str) -> None:
    with pytest.raises(MatrixError) as caught:
        parse_sync_token(text)
    assert (caught.value.status, caught.value.errcode) == (400, "M_INVALID_PARAM")
