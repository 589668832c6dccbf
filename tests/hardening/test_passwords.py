"""Item 10: passwords are argon2id at OWASP's parameters, never stored or logged, any sane length, huge ones refused early."""

from __future__ import annotations

import re

import httpx

from tests.hardening.client import V3, error, login, new_user, query_db
from tests.server import ServerProcess

CANARY = "Canary-Password-7f3a9c1e-never-stored"


def test_stored_hash_is_argon2id_at_owasp_parameters(server: ServerProcess) -> None:
    alice = new_user(server, "alice", password=CANARY)
    ((stored,),) = query_db(server, "SELECT password_hash FROM users WHERE user_id = ?", (alice.user_id,))
    match = re.fullmatch(r"\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+", stored)
    assert match, stored
    memory_kib, time_cost, _ = map(int, match.groups())
    assert memory_kib >= 19 * 1024 and time_cost >= 2


def test_canary_password_is_never_in_the_database_its_wal_or_the_log(server: ServerProcess) -> None:
    alice = new_user(server, "alice", password=CANARY)
    login(server, "alice", password=CANARY)
    wrong = httpx.post(server.base_url + V3 + "/login", json={
        "type": "m.login.password", "identifier": {"type": "m.id.user", "user": "alice"},
        "password": CANARY + "-wrong"})
    assert error(wrong) == (403, "M_FORBIDDEN")
    changed = alice.post("/account/password", {"new_password": CANARY + "-new", "logout_devices": False, "auth": {
        "type": "m.login.password", "identifier": {"type": "m.id.user", "user": "alice"}, "password": CANARY}})
    # (A first call may ask for a UIA session; either way the password travels only in the request.)
    assert changed.status_code in (200, 401), changed.text
    blob = server.dump_database()  # main file, WAL and shared memory while the server runs
    if server.database is None:  # SQLite: the WAL is read too
        assert any(p.name.endswith("-wal") for p in server.data_dir.glob("qasid.db*"))
    for secret in (CANARY, CANARY + "-wrong", CANARY + "-new"):
        assert secret.encode() not in blob
        assert secret.encode("utf-16-le") not in blob
        assert secret.encode() not in server.log_path.read_bytes()


def test_64_character_password_works(server: ServerProcess) -> None:
    password = "Ab1!" * 16
    assert len(password) == 64
    new_user(server, "alice", password=password)
    assert login(server, "alice", password=password)["user_id"] == "@alice:qasid.test"
    wrong = httpx.post(server.base_url + V3 + "/login", json={
        "type": "m.login.password", "identifier": {"type": "m.id.user", "user": "alice"},
        "password": password[:-1]})
    assert error(wrong) == (403, "M_FORBIDDEN")


def test_huge_passwords_are_refused_before_hashing(server: ServerProcess) -> None:
    """1 MB is over the JSON body limit: refused while reading, never parsed, so never hashed.
    100 kB fits in a body but not in the password limit: refused by its length, not by argon2."""
    new_user(server, "alice")
    url = server.base_url + V3
    one_mb = "x" * 1_000_000
    for path, body in (("/login", {"type": "m.login.password", "password": one_mb,
                                   "identifier": {"type": "m.id.user", "user": "alice"}}),
                       ("/register", {"username": "bob", "password": one_mb})):
        assert error(httpx.post(url + path, json=body, timeout=60)) == (413, "M_TOO_LARGE")
    big = "x" * 100_000
    assert error(httpx.post(url + "/register", json={"username": "bob", "password": big})) == (400, "M_INVALID_PARAM")
    refused = httpx.post(url + "/login", json={"type": "m.login.password", "password": big,
                                               "identifier": {"type": "m.id.user", "user": "alice"}})
    assert error(refused) == (403, "M_FORBIDDEN")
    assert query_db(server, "SELECT count(*) FROM users WHERE user_id = '@bob:qasid.test'") == [(0,)]
