"""A unit's max_upload_bytes: officials' uploads over it are refused, and /media/config tells them."""

from __future__ import annotations

from tests.gov.helpers import Gov

MEDIA = "/_matrix/media/v3"
CONFIG = "/_matrix/client/v1/media/config"
SERVER_LIMIT = 50 * 1024 * 1024


def test_a_units_upload_limit_binds_its_officials_only(gov: Gov) -> None:
    ministry = gov.unit("MOF", max_upload_bytes=5000)
    section = gov.unit("MOF-SEC", parent=ministry, max_upload_bytes=1000)
    alice = gov.official("alice", section)
    bob = gov.official("bob", ministry)
    assert gov.http.get(CONFIG, headers=alice.auth).json() == {"m.upload.size": 1000}
    assert gov.http.get(CONFIG, headers=bob.auth).json() == {"m.upload.size": 5000}
    # The operator's own account is outside the tree: the server's limit.
    assert gov.http.get(CONFIG, headers=gov.root.auth).json() == {"m.upload.size": SERVER_LIMIT}

    def upload(session_auth: dict[str, str], size: int, chunked: bool = False) -> tuple[int, dict[str, str]]:
        body = b"x" * size
        content = iter([body[:size // 2], body[size // 2:]]) if chunked else body
        response = gov.http.post(f"{MEDIA}/upload", content=content,
                                 headers={**session_auth, "Content-Type": "application/octet-stream"})
        return response.status_code, response.json()

    assert upload(alice.auth, 1000)[0] == 200
    for chunked in (False, True):  # refused from Content-Length, and while streaming without one
        status, body = upload(alice.auth, 1001, chunked)
        assert status == 413 and body == {"errcode": "M_TOO_LARGE",
                                          "error": "Your unit's policy limits uploads to 1000 bytes"}, body
    assert upload(bob.auth, 1001)[0] == 200
    assert upload(bob.auth, 5001)[0] == 413
    assert upload(gov.root.auth, 5001)[0] == 200

    # A reserved ID's upload obeys the same limit.
    reserved = gov.http.post("/_matrix/media/v1/create", headers=alice.auth).json()["content_uri"]
    server_name, media_id = reserved.removeprefix("mxc://").split("/")
    refused = gov.http.put(f"{MEDIA}/upload/{server_name}/{media_id}", content=b"y" * 2000,
                           headers={**alice.auth, "Content-Type": "application/octet-stream"})
    assert refused.status_code == 413 and "1000 bytes" in refused.json()["error"]


def test_the_limit_only_tightens_down_the_tree_and_is_validated(gov: Gov) -> None:
    ministry = gov.unit("MOJ", max_upload_bytes=1000)
    division = gov.unit("MOJ-DIV", parent=ministry)
    looser = gov.call("PUT", f"/units/{division}/policy", {"max_upload_bytes": 2000})
    assert looser.status_code == 403, looser.text
    for bad in (0, -1, "big", True, 1.5, 1 << 41):
        refused = gov.call("PUT", f"/units/{division}/policy", {"max_upload_bytes": bad})
        assert refused.status_code == 400 and refused.json()["errcode"] == "M_INVALID_PARAM", (bad, refused.text)
    assert gov.call("PUT", f"/units/{division}/policy", {"max_upload_bytes": 10}).status_code == 200
    # Larger than the server's own limit is allowed in policy, but the server's limit still holds.
    top = gov.unit("MOD", max_upload_bytes=1 << 40)
    carol = gov.official("carol", top)
    assert gov.http.get(CONFIG, headers=carol.auth).json() == {"m.upload.size": SERVER_LIMIT}
