"""Metrics on their own loopback listener and JSON request logs, read from a real server after real traffic."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.server import ServerProcess, free_port

METRIC_NAMES = [
    "qasid_http_requests_total",
    "qasid_http_request_duration_seconds_bucket",
    "qasid_events_persisted_total",
    "qasid_parked_long_polls",
    "qasid_db_commit_batch_size_bucket",
    "qasid_db_commit_duration_seconds_bucket",
    "qasid_db_read_seconds_total",
]


@pytest.fixture
def observed(tmp_path: Path) -> Iterator[tuple[ServerProcess, str]]:
    """A server with metrics on a port of their own and JSON request logs; yields it and the metrics URL."""
    metrics_port = free_port()
    server = ServerProcess(tmp_path / "data", env={
        "QASID_METRICS_BIND": f"127.0.0.1:{metrics_port}", "QASID_LOG_FORMAT": "json", "QASID_LOG_REQUESTS": "true"})
    server.start()
    yield server, f"http://127.0.0.1:{metrics_port}/metrics"
    server.stop()


def _traffic(server: ServerProcess) -> dict[str, Any]:
    """Two users, a room, messages: returns the names that must never show up in metrics or logs."""
    alice, bob = server.register("alice"), server.register("bob")
    auth = {"Authorization": f"Bearer {alice['access_token']}"}
    room_id = httpx.post(server.base_url + "/_matrix/client/v3/createRoom", headers=auth,
                         json={"invite": [bob["user_id"]]}).json()["room_id"]
    for n in range(3):
        sent = httpx.put(f"{server.base_url}/_matrix/client/v3/rooms/{room_id}/send/m.room.message/t{n}",
                         headers=auth, json={"msgtype": "m.text", "body": f"secret words {n}"})
        assert sent.status_code == 200, sent.text
    return {"user_ids": [alice["user_id"], bob["user_id"]], "room_id": room_id,
            "tokens": [alice["access_token"], bob["access_token"]], "alice": alice}


def test_metrics_listener_exposes_counts_without_user_or_room_ids(observed: tuple[ServerProcess, str]) -> None:
    server, metrics_url = observed
    seen = _traffic(server)
    bob_token = seen["tokens"][1]
    first = httpx.get(server.base_url + "/_matrix/client/v3/sync", params={"timeout": 0},
                      headers={"Authorization": f"Bearer {bob_token}"}).json()

    def long_poll() -> None:
        httpx.get(server.base_url + "/_matrix/client/v3/sync", timeout=30,
                  params={"timeout": 3000, "since": first["next_batch"]},
                  headers={"Authorization": f"Bearer {bob_token}"})

    poller = threading.Thread(target=long_poll)
    poller.start()
    try:
        deadline = time.monotonic() + 2.5
        parked = ""
        while time.monotonic() < deadline and 'qasid_parked_long_polls{kind="sync"} 1.0' not in parked:
            parked = httpx.get(metrics_url).text
            time.sleep(0.05)
        assert 'qasid_parked_long_polls{kind="sync"} 1.0' in parked
    finally:
        poller.join()

    text = httpx.get(metrics_url).text
    for name in METRIC_NAMES:
        assert name in text, name
    send_route = "/_matrix/client/v3/rooms/{roomId}/send/{eventType}/{txnId}"
    assert f'qasid_http_requests_total{{method="PUT",route="{send_route}",status="200"}} 3.0' in text
    events = next(line for line in text.splitlines() if line.startswith("qasid_events_persisted_total"))
    assert float(events.split()[1]) >= 3 + 6  # the messages, and the room's creation events
    for secret in [*seen["user_ids"], seen["room_id"], *seen["tokens"], server.server_name]:
        assert secret not in text
    # The metrics are on their listener only, never on the client API's port.
    assert httpx.get(server.base_url + "/metrics").status_code == 404


def test_json_request_logs_carry_request_ids_and_no_tokens(observed: tuple[ServerProcess, str]) -> None:
    server, _ = observed
    seen = _traffic(server)
    token = seen["tokens"][0]
    # qasid refuses tokens in the query string; the request is logged all the same, without it.
    whoami = httpx.get(server.base_url + "/_matrix/client/v3/account/whoami", params={"access_token": token})
    assert whoami.status_code == 401
    given = httpx.get(server.base_url + "/_matrix/client/versions", headers={"X-Request-ID": "from-the-proxy-42"})
    assert given.headers["x-request-id"] == "from-the-proxy-42"
    bad = httpx.get(server.base_url + "/_matrix/client/versions", headers={"X-Request-ID": "no spaces\tor tabs"})
    assert bad.headers["x-request-id"] != "no spaces\tor tabs"
    time.sleep(0.2)  # the last lines reach the file

    log = server.log_path.read_text()
    for secret in [*seen["tokens"], "secret words", seen["room_id"], "correct horse"]:
        assert secret not in log
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    requests = [line for line in lines if line["logger"] == "qasid.request"]
    by_id = {line["request_id"]: line for line in requests}
    line = by_id[whoami.headers["x-request-id"]]
    assert line["method"] == "GET" and line["route"] == "/_matrix/client/v3/account/whoami"
    assert line["status"] == 401 and line["duration_ms"] >= 0 and line["level"] == "info"
    assert "from-the-proxy-42" in by_id
    assert any(r["route"] == "/_matrix/client/v3/rooms/{roomId}/send/{eventType}/{txnId}" for r in requests)
    # Not a request line only: the server's other records are JSON too.
    assert any(line["logger"] == "qasid.http" for line in lines)


def test_a_metrics_port_in_use_is_a_clear_error_at_start(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        bind = f"127.0.0.1:{taken.getsockname()[1]}"
        server = ServerProcess(tmp_path / "data", env={"QASID_METRICS_BIND": bind})
        with pytest.raises(RuntimeError) as failed:
            server.start()
    assert f"error: metrics_bind {bind}: can't listen there" in str(failed.value)
