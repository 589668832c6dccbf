"""Sign-in with the government directory, against a real OpenLDAP (slapd) that the test starts.

The qasid server is the real process; the directory is reached over StartTLS (or LDAPS) and its
certificate checked against the test's own CA.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from qasid.config_loading import load_settings
from qasid.gov.ldap_client import LdapClient
from tests.gov.helpers import PASSWORD, V3, Gov
from tests.gov.slapd import BIND_DN, BIND_PASSWORD, DISABLED_FILTER, SUFFIX, USERS, Slapd
from tests.ops.certs import write_self_signed
from tests.server import ServerProcess, free_port

RULES = f"ou=Finance,{SUFFIX} => MOF; departmentNumber:Health => MOH"


def ldap_env(ldap: Slapd, **more: str) -> dict[str, str]:
    env = {
        "QASID_LDAP_URI": ldap.uri, "QASID_LDAP_CA_FILE": str(ldap.ca_file),
        "QASID_LDAP_BIND_DN": BIND_DN, "QASID_LDAP_BIND_PASSWORD": BIND_PASSWORD, "QASID_LDAP_BASE_DN": SUFFIX,
        "QASID_LDAP_DISABLED_FILTER": DISABLED_FILTER, "QASID_LDAP_UNIT_RULES": RULES,
        "QASID_LDAP_DESIGNATION_ATTRIBUTE": "title", "QASID_LDAP_CREATE_ACCOUNTS": "true",
        "QASID_LDAP_SYNC_INTERVAL_MS": "1000", "QASID_LDAP_TIMEOUT_MS": "3000",
    }
    return {**env, **{f"QASID_{k.upper()}": v for k, v in more.items()}}


@pytest.fixture
def ldap(tmp_path: Path) -> Iterator[Slapd]:
    server = Slapd(tmp_path / "slapd")
    server.start()
    yield server
    server.stop()


def start_gov(tmp_path: Path, name: str, env: dict[str, str]) -> tuple[ServerProcess, Gov]:
    server = ServerProcess(tmp_path / name, env=env)
    server.start()
    gov = Gov(server)
    gov.unit("MOF", "Ministry of Finance")
    gov.unit("MOH", "Ministry of Health")
    return server, gov


@pytest.fixture
def world(tmp_path: Path, ldap: Slapd) -> Iterator[tuple[ServerProcess, Gov, Slapd]]:
    server, gov = start_gov(tmp_path, "data", ldap_env(ldap))
    yield server, gov, ldap
    gov.http.close()
    server.stop()


def login(gov: Gov, user: str, password: str) -> httpx.Response:
    return gov.http.post(V3 + "/login", json={
        "type": "m.login.password", "identifier": {"type": "m.id.user", "user": user}, "password": password})


def pw(uid: str) -> str:
    return USERS[uid][1]


def audit(gov: Gov, action: str) -> list[dict[str, Any]]:
    return list(gov.ok("GET", f"/audit?action={action}")["entries"])


def test_first_sign_in_creates_the_official_in_the_mapped_unit(world: tuple[ServerProcess, Gov, Slapd]) -> None:
    server, gov, ldap = world
    first = login(gov, "alice", pw("alice"))
    assert first.status_code == 200, first.text
    alice = first.json()["user_id"]
    assert alice == server.user_id("alice")
    described = gov.ok("GET", f"/officials/{alice}")
    units = {u["code"]: u["unit_id"] for u in gov.ok("GET", "/units")["units"]}
    assert described["unit_id"] == units["MOF"] and described["designation"] == "Deputy Secretary"
    assert described["has_password"] is False and described["displayname"] == "Alice Akhtar"
    created = audit(gov, "account.create_from_directory")
    assert [e["target"] for e in created] == [alice]
    # An attribute rule places bilal (outside the Finance OU) in Health.
    bilal = login(gov, "Bilal", pw("bilal"))
    assert bilal.status_code == 200, bilal.text
    assert gov.ok("GET", f"/officials/{bilal.json()['user_id']}")["unit_id"] == units["MOH"]
    # A second sign-in uses the same account; the local admin still signs in with the local password.
    again = login(gov, "alice", pw("alice"))
    assert again.status_code == 200 and again.json()["user_id"] == alice
    assert len(audit(gov, "account.create_from_directory")) == 2
    assert login(gov, "root", PASSWORD).status_code == 200
    # Promoted in the directory: the designation follows at the next sign-in, recorded.
    ldap.replace("alice", "title", "Secretary")
    assert login(gov, "alice", pw("alice")).status_code == 200
    assert gov.ok("GET", f"/officials/{alice}")["designation"] == "Secretary"
    assert [e["details"]["designation"] for e in audit(gov, "official.update_from_directory")] == ["Secretary"]
    # The directory's password is its own: qasid refuses to set or change one.
    token = again.json()["access_token"]
    change = gov.http.post(V3 + "/account/password", headers={"authorization": f"Bearer {token}"},
                           json={"new_password": "Another-pass-42", "auth": {
                               "type": "m.login.password", "identifier": {"type": "m.id.user", "user": alice},
                               "password": pw("alice")}})
    assert change.status_code == 403, change.text
    assert gov.call("PUT", f"/officials/{alice}/password", {"password": "Another-pass-42"}).status_code == 400
    assert login(gov, "alice", "Another-pass-42").status_code == 403


def test_user_interactive_auth_asks_the_directory(world: tuple[ServerProcess, Gov, Slapd]) -> None:
    _, gov, _ = world
    first = login(gov, "alice", pw("alice")).json()
    second = login(gov, "alice", pw("alice")).json()
    headers = {"authorization": f"Bearer {first['access_token']}"}
    capabilities = gov.http.get(V3 + "/capabilities", headers=headers).json()["capabilities"]
    assert capabilities["m.change_password"] == {"enabled": False}
    assert gov.http.get(V3 + "/capabilities", headers=gov.root.auth).json()["capabilities"][
        "m.change_password"] == {"enabled": True}
    url = V3 + f"/devices/{second['device_id']}"
    challenge = gov.http.request("DELETE", url, headers=headers, json={})
    assert challenge.status_code == 401
    auth = {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": first["user_id"]},
            "session": challenge.json()["session"]}
    wrong = gov.http.request("DELETE", url, headers=headers, json={"auth": {**auth, "password": "nope-nope-1"}})
    assert wrong.status_code == 401 and wrong.json()["errcode"] == "M_FORBIDDEN"
    done = gov.http.request("DELETE", url, headers=headers, json={"auth": {**auth, "password": pw("alice")}})
    assert done.status_code == 200, done.text


def test_refusals_give_the_matrix_errors(world: tuple[ServerProcess, Gov, Slapd]) -> None:
    server, gov, _ = world
    for user, password in [("alice", "wrong-password-1"), ("alice", ""), ("nobody", "whatever-pw-1"),
                           ("alice", pw("bilal"))]:
        refused = login(gov, user, password)
        assert (refused.status_code, refused.json()["errcode"]) == (403, "M_FORBIDDEN"), (user, refused.text)
    disabled = login(gov, "carol", pw("carol"))
    assert (disabled.status_code, disabled.json()["errcode"]) == (403, "M_USER_DEACTIVATED"), disabled.text
    assert gov.call("GET", f"/officials/{server.user_id('carol')}").status_code == 404  # no account made
    reasons = {e["details"]["reason"] for e in audit(gov, "login.failed")}
    assert {"wrong_password", "unknown_user", "directory_disabled"} <= reasons


def test_an_entry_disabled_in_the_directory_is_suspended_within_the_interval(
    world: tuple[ServerProcess, Gov, Slapd],
) -> None:
    _, gov, ldap = world
    session = login(gov, "dawood", pw("dawood")).json()
    headers = {"authorization": f"Bearer {session['access_token']}"}
    assert gov.http.get(V3 + "/account/whoami", headers=headers).status_code == 200
    # Moved to another OU first: the check finds the entry again by its name (the suspension below
    # is for "disabled", not "removed").
    ldap.move("dawood", "People")
    ldap.replace("dawood", "departmentNumber", "Health")
    ldap.set_disabled("dawood", True)
    deadline = time.monotonic() + 30  # a check every second, run by the 5-second maintenance loop
    while time.monotonic() < deadline:
        whoami = gov.http.get(V3 + "/account/whoami", headers=headers)
        if whoami.status_code != 200:
            break
        time.sleep(0.5)
    assert (whoami.status_code, whoami.json()["errcode"]) == (401, "M_USER_LOCKED"), whoami.text
    suspended = audit(gov, "account.suspend_by_directory")
    assert [(e["target"], e["details"]["reason"]) for e in suspended] == [(session["user_id"], "disabled")]
    refused = login(gov, "dawood", pw("dawood"))
    assert (refused.status_code, refused.json()["errcode"]) == (403, "M_USER_DEACTIVATED")
    # Enabled again: the next sign-in lifts the directory's suspension, and the old session works again.
    ldap.set_disabled("dawood", False)
    assert login(gov, "dawood", pw("dawood")).status_code == 200
    assert gov.http.get(V3 + "/account/whoami", headers=headers).status_code == 200
    units = {u["code"]: u["unit_id"] for u in gov.ok("GET", "/units")["units"]}
    assert gov.ok("GET", f"/officials/{session['user_id']}")["unit_id"] == units["MOH"]  # followed the move
    # Removed from the directory: suspended at the next sign-in attempt, which is refused.
    ldap.delete("dawood")
    assert login(gov, "dawood", pw("dawood")).status_code == 403
    assert gov.http.get(V3 + "/account/whoami", headers=headers).status_code == 401
    assert gov.ok("GET", f"/officials/{session['user_id']}")["locked"] is True


def test_a_directory_that_is_down_is_a_quick_503_without_fallback(world: tuple[ServerProcess, Gov, Slapd]) -> None:
    _, gov, ldap = world
    assert login(gov, "alice", pw("alice")).status_code == 200
    ldap.stop()
    started = time.monotonic()
    down = login(gov, "alice", pw("alice"))
    assert (down.status_code, down.json()["errcode"]) == (503, "M_UNKNOWN"), down.text
    assert "directory" in down.json()["error"]
    assert time.monotonic() - started < 3
    assert login(gov, "nobody", "whatever-pw-1").status_code == 503
    assert login(gov, "root", PASSWORD).status_code == 200  # local accounts don't depend on it
    ldap.start()
    assert login(gov, "alice", pw("alice")).status_code == 200


def test_filter_and_dn_characters_in_the_username_are_harmless(world: tuple[ServerProcess, Gov, Slapd]) -> None:
    server, gov, ldap = world
    for user in ["*", "al*", "alice)(uid=*", "*)(|(uid=*", "alice\\", "alice\x00", "ALICE*",
                 f"@al*:{server.server_name}", "alice,ou=Finance", "uid=alice"]:
        refused = login(gov, user, pw("alice"))
        assert (refused.status_code, refused.json()["errcode"]) == (403, "M_FORBIDDEN"), (user, refused.text)
    assert gov.ok("GET", "/audit?action=account.create_from_directory")["entries"] == []
    # Below the server's own username check, the client escapes what it sends the directory.
    client = LdapClient(load_settings(environ=ldap_env(ldap)))

    async def attempts() -> list[Any]:
        return [await client.sign_in(name, pw("alice")) for name in ["al*", "*", "alice)(uid=*", "alice\\"]]

    for result in asyncio.run(attempts()):
        assert result.entry is None and not result.password_ok
    client.close()


def test_the_directory_password_is_never_stored(world: tuple[ServerProcess, Gov, Slapd]) -> None:
    server, gov, _ = world
    assert login(gov, "alice", pw("alice")).status_code == 200
    assert login(gov, "alice", "wrong-password-1").status_code == 403
    server.stop()
    for path in Path(server.data_dir).rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert pw("alice").encode() not in data and BIND_PASSWORD.encode() not in data, path


def test_ldaps_direct_bind_and_an_untrusted_certificate(tmp_path: Path, ldap: Slapd) -> None:
    env = ldap_env(ldap, ldap_uri=ldap.ldaps_uri, ldap_bind_dn="", ldap_bind_password="", ldap_base_dn="",
                   ldap_user_dn_template=f"uid={{username}},ou=Finance,{SUFFIX}")
    server, gov = start_gov(tmp_path, "direct", env)
    try:
        ok = login(gov, "alice", pw("alice"))
        assert ok.status_code == 200, ok.text
        assert gov.ok("GET", f"/officials/{ok.json()['user_id']}")["designation"] == "Deputy Secretary"
        assert login(gov, "alice", "wrong-password-1").status_code == 403
        disabled = login(gov, "carol", pw("carol"))
        assert disabled.json()["errcode"] == "M_USER_DEACTIVATED"
    finally:
        gov.http.close()
        server.stop()
    # A CA the directory's certificate doesn't chain to: no bind is attempted, the answer is 503.
    other_ca = tmp_path / "other-ca.pem"
    write_self_signed(other_ca, tmp_path / "other-key.pem")
    server, gov = start_gov(tmp_path, "untrusted", ldap_env(ldap, ldap_ca_file=str(other_ca)))
    try:
        assert login(gov, "alice", pw("alice")).status_code == 503
    finally:
        gov.http.close()
        server.stop()


def test_a_certificate_for_another_host_is_refused(tmp_path: Path) -> None:
    """The CA is trusted, but the directory's certificate names another host than the one dialled."""
    other = Slapd(tmp_path / "slapd-other", certificate_names=["ldap.other.example"])
    other.start()
    server, gov = start_gov(tmp_path, "mismatch", ldap_env(other))
    try:
        refused = login(gov, "alice", pw("alice"))
        assert (refused.status_code, refused.json()["errcode"]) == (503, "M_UNKNOWN"), refused.text
        assert "certificate" in server.log_path.read_text()
    finally:
        gov.http.close()
        server.stop()
        other.stop()


def test_nothing_listening_is_a_503(tmp_path: Path, ldap: Slapd) -> None:
    server, gov = start_gov(tmp_path, "dead", ldap_env(ldap, ldap_uri=f"ldap://127.0.0.1:{free_port()}"))
    try:
        started = time.monotonic()
        assert login(gov, "alice", pw("alice")).status_code == 503
        assert time.monotonic() - started < 3
    finally:
        gov.http.close()
        server.stop()


def test_a_directory_that_never_answers_times_out_without_stalling_the_server(tmp_path: Path, ldap: Slapd) -> None:
    """A socket that takes connections and says nothing: the sign-in ends in 503 within the timeout,
    and the server answers other requests meanwhile (LDAP runs off the event loop)."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)  # the kernel completes the handshakes; nobody ever reads or answers
    uri = f"ldap://127.0.0.1:{silent.getsockname()[1]}"
    server, gov = start_gov(tmp_path, "silent", ldap_env(ldap, ldap_uri=uri, ldap_timeout_ms="1000"))
    try:
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            started = time.monotonic()
            pending = pool.submit(login, gov, "alice", pw("alice"))
            time.sleep(0.3)
            while not pending.done():
                assert httpx.get(server.base_url + "/_matrix/client/versions", timeout=1).status_code == 200
                time.sleep(0.2)
            answer = pending.result()
        assert (answer.status_code, answer.json()["errcode"]) == (503, "M_UNKNOWN"), answer.text
        assert time.monotonic() - started < 5
    finally:
        gov.http.close()
        server.stop()
        silent.close()
