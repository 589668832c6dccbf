"""The one ID generator: registration and enrollment tokens are safe to pass on a command line."""

from __future__ import annotations

from qasid.core.clock import new_registration_token


def test_registration_tokens_never_begin_with_a_dash() -> None:
    # One URL-safe character in 64 is "-": 20 000 draws would show about 300 of them.
    tokens = [new_registration_token() for _ in range(20_000)]
    assert not [t for t in tokens if t.startswith("-")]
    assert len(set(tokens)) == len(tokens)
    assert {len(t) for t in tokens} == {24}
