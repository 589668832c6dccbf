"""Reports and searches are rate-limited per user, with 429 M_LIMIT_EXCEEDED and a retry time."""

from __future__ import annotations

from pathlib import Path

from tests.hardening.client import error, new_user
from tests.server import ServerProcess


def test_reports_and_searches_are_rate_limited(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", env={
        "QASID_RATE_LIMITS_ENABLED": "true", "QASID_RATE_REPORT": "0.01/2", "QASID_RATE_SEARCH": "0.01/1"})
    server.start()
    try:
        reporter, reported = new_user(server, "reporter"), new_user(server, "reported")
        for _ in range(2):
            assert reporter.post(f"/users/{reported.user_id}/report", {"reason": "x"}).status_code == 200
        limited = reporter.post(f"/users/{reported.user_id}/report", {"reason": "x"})
        assert error(limited) == (429, "M_LIMIT_EXCEEDED") and limited.json()["retry_after_ms"] > 0
        # Probing for accounts counts too: the limit comes before the lookup.
        assert error(reporter.post("/users/@nobody:qasid.test/report", {"reason": "x"})) == (429, "M_LIMIT_EXCEEDED")
        assert reported.post(f"/users/{reporter.user_id}/report", {"reason": "x"}).status_code == 200  # per user

        criteria = {"search_categories": {"room_events": {"search_term": "anything"}}}
        assert reporter.post("/search", criteria).status_code == 200
        assert error(reporter.post("/search", criteria)) == (429, "M_LIMIT_EXCEEDED")
    finally:
        server.stop()
