"""Item 9: access tokens carry ≥128 bits from a CSPRNG, are new per login, stored only as a hash, never logged.

Query-string tokens are refused on every authenticated route by
tests/api/test_bad_input.py::test_token_in_query_string_is_refused; here one more check that a
refused query-string token is not then echoed into the log.
"""

from __future__ import annotations

import base64
import hashlib
import math
from pathlib import Path

import httpx

from tests.hardening.client import V3, login, new_user
from tests.server import ServerProcess

LOGINS = 40


def random_part(tokens: list[str]) -> list[str]:
    """Each token without the prefix all of them share (a constant marker carries no entropy)."""
    prefix_length = len(next(iter(tokens)))
    for token in tokens:
        while not token.startswith(tokens[0][:prefix_length]):
            prefix_length -= 1
    return [token[prefix_length:] for token in tokens]


def test_tokens_are_long_random_and_new_per_login(server: ServerProcess) -> None:
    new_user(server, "alice")
    tokens = [login(server, "alice")["access_token"] for _ in range(LOGINS)]
    assert len(set(tokens)) == LOGINS
    randoms = random_part(tokens)
    alphabet = set("".join(randoms))
    # Bits the format can hold: shortest random part × log2(its alphabet, at most base64's 64).
    capacity = min(len(r) for r in randoms) * math.log2(min(len(alphabet), 64))
    assert capacity >= 128, (tokens[0], capacity)
    # And the random part really varies: every position takes many values across 40 logins
    # (a counter or a clock would leave most positions constant).
    width = min(len(r) for r in randoms)
    varying = sum(len({r[i] for r in randoms}) >= 10 for i in range(width))
    assert varying == width, f"only {varying}/{width} positions vary"
    # No two tokens share a long common substring beyond the prefix (not a shared seed + counter).
    assert len({r[:8] for r in randoms}) == LOGINS


def test_tokens_are_stored_only_as_hashes(server: ServerProcess) -> None:
    alice = new_user(server, "alice")
    tokens = [alice.token] + [login(server, "alice")["access_token"] for _ in range(3)]
    for token in tokens:
        assert httpx.get(server.base_url + V3 + "/account/whoami",
                         headers={"authorization": f"Bearer {token}"}).status_code == 200
    server.stop()  # a clean stop checkpoints the WAL: both the WAL and the database are read
    blob = server.dump_database()
    server.start()
    for token in tokens:
        assert token.encode() not in blob
        assert hashlib.sha256(token.encode()).digest() in blob  # what is stored instead
        raw = token.split("_", 1)[-1]
        decoded = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
        assert decoded not in blob


def test_a_canary_token_never_reaches_the_log(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", env={"QASID_LOG_LEVEL": "debug"})
    server.start()
    try:
        alice = new_user(server, "alice")
        canary = alice.token
        unknown_canary = "qat_CanaryNeverIssued0123456789abcdefghijklm"
        base = server.base_url
        with httpx.Client(timeout=60) as http:
            for token in (canary, unknown_canary):
                bearer = {"authorization": f"Bearer {token}"}
                http.get(base + V3 + "/account/whoami", headers=bearer)
                http.get(base + V3 + "/sync", params={"timeout": "0"}, headers=bearer)
                http.get(base + V3 + "/account/whoami", params={"access_token": token})
                http.get(base + V3 + "/no/such/endpoint", params={"access_token": token}, headers=bearer)
                http.put(base + V3 + "/rooms/!nope:qasid.test/send/m.room.message/1",
                         content=b"{not json " + token.encode(), headers=bearer)
                http.get(base + V3 + "/account/whoami", headers={"authorization": f"Basic {token}"})
                http.post(base + V3 + "/logout", headers=bearer)
    finally:
        server.stop()
    log = server.log_path.read_bytes()
    assert log, "the server wrote no log at all: the check would prove nothing"
    for token in (canary, unknown_canary):
        assert token.encode() not in log
        assert token[-20:].encode() not in log
