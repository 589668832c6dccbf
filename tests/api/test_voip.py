"""GET /voip/turnServer: coturn REST-API credentials from the shared secret, or {} without a relay."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from pathlib import Path

import httpx

from tests.server import ServerProcess

V3 = "/_matrix/client/v3"
SECRET = "s3cret-shared-with-coturn-0123456789abcdef"
URIS = ["turns:turn.gov.example:5349?transport=tcp", "turn:turn.gov.example:3478?transport=udp"]


def test_without_a_relay_the_answer_is_empty_and_the_log_says_why(server: ServerProcess) -> None:
    session = server.register("caller")
    response = httpx.get(server.base_url + V3 + "/voip/turnServer",
                         headers={"authorization": f"Bearer {session['access_token']}"})
    assert (response.status_code, response.json()) == (200, {})
    assert "calls between officials behind NAT will fail" in server.log_path.read_text()


def test_credentials_are_coturn_rest_api_hmacs_that_expire(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", env={
        "QASID_TURN_URIS": ",".join(URIS), "QASID_TURN_SHARED_SECRET": SECRET,
        "QASID_TURN_USER_LIFETIME_MS": "3600000"})
    server.start()
    try:
        session = server.register("caller")
        before = int(time.time())
        response = httpx.get(server.base_url + V3 + "/voip/turnServer",
                             headers={"authorization": f"Bearer {session['access_token']}"})
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {"username", "password", "uris", "ttl"}
        assert body["uris"] == URIS and body["ttl"] == 3600
        expiry, _, user_id = body["username"].partition(":")
        assert user_id == session["user_id"]
        assert before + 3600 <= int(expiry) <= int(time.time()) + 3600
        expected = base64.b64encode(hmac.new(SECRET.encode(), body["username"].encode(), hashlib.sha1).digest())
        assert body["password"] == expected.decode()
        log = server.log_path.read_text()
        assert SECRET not in log and "behind NAT will fail" not in log
    finally:
        server.stop()


def test_a_short_secret_or_a_lone_uri_is_refused_without_echoing_the_secret(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", env={"QASID_TURN_URIS": URIS[0], "QASID_TURN_SHARED_SECRET": "hunter2"})
    out = server.run_cli("token", "list", "--init")
    assert out.returncode == 2 and "at least 32 characters" in out.stderr and "hunter2" not in out.stderr
    server.extra_env["QASID_TURN_SHARED_SECRET"] = ""
    out = server.run_cli("token", "list", "--init")
    assert out.returncode == 2 and "turn_uris and turn_shared_secret go together" in out.stderr
    server.extra_env.update({"QASID_TURN_SHARED_SECRET": SECRET, "QASID_TURN_URIS": "stun:stun.example.org"})
    out = server.run_cli("token", "list", "--init")
    assert out.returncode == 2 and "is not a turn: or turns: URI" in out.stderr
