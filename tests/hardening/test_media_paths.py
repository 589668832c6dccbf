"""Item 15: media IDs can't traverse, oversize uploads are 413, downloads can't run in the browser.

Proved exactly by tests/api/test_media.py: ::test_traversal_ids_are_refused (`..`, `%2e%2e`,
`..%2F..%2Fqasid.db`, NUL, …), ::test_upload_limit (413 M_TOO_LARGE declared and streamed, no
partial file left), ::test_upload_and_download_with_safe_headers (`attachment` for script-capable
types, `inline` only for safe ones, the `sandbox` CSP and `nosniff`). This adds the other path
segments a traversal could hide in: the server name, the thumbnail route, the file name, and the
media ID of an asynchronous upload.
"""

from __future__ import annotations

from tests.hardening.client import User, new_user
from tests.server import ServerProcess

TRAVERSALS = ["..", "%2e%2e", "%2E%2E%2F%2E%2E%2Fqasid.db", "..%2Fsigning.key", "%00", "a%2Fb"]


def test_traversal_in_any_media_path_segment_is_refused(server: ServerProcess) -> None:
    alice = new_user(server, "alice")
    uploaded = alice.request("POST", "/_matrix/media/v3/upload", content=b"minutes",
                             headers={"content-type": "text/plain"})
    media_id = uploaded.json()["content_uri"].rsplit("/", 1)[1]
    for segment in TRAVERSALS:
        check_segment(alice, media_id, segment)


def check_segment(alice: User, media_id: str, segment: str) -> None:
    paths = [
        f"/_matrix/client/v1/media/download/{segment}/{media_id}",
        f"/_matrix/client/v1/media/thumbnail/qasid.test/{segment}?width=8&height=8",
        f"/_matrix/client/v1/media/thumbnail/{segment}/{media_id}?width=8&height=8",
    ]
    for path in paths:
        response = alice.request("GET", path)
        assert response.status_code in (400, 404), f"{path}: {response.status_code}"
        assert b"SQLite" not in response.content and b"ed25519" not in response.content
    named = alice.request("GET", f"/_matrix/client/v1/media/download/qasid.test/{media_id}/{segment}")
    assert named.status_code in (200, 400, 404)
    if named.status_code == 200:
        assert named.content == b"minutes"
    # (The HTTP client folds a literal `..` away, leaving the POST-only upload path: 405.)
    put = alice.request("PUT", f"/_matrix/media/v3/upload/qasid.test/{segment}", content=b"x")
    assert put.status_code in (400, 403, 404, 405), put.text
