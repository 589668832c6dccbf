"""The content repository over real HTTP: uploads, authenticated downloads, limits, safe headers."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.server import ServerProcess

MEDIA = "/_matrix/media/v3"
CLIENT_MEDIA = "/_matrix/client/v1/media"
PNG = bytes.fromhex("89504e470d0a1a0a") + b"\x00" * 64
CSP = ("sandbox; default-src 'none'; script-src 'none'; plugin-types application/pdf; "
       "style-src 'unsafe-inline'; media-src 'self'; object-src 'self';")


def client(server: ServerProcess, username: str) -> httpx.Client:
    token = server.register(username)["access_token"]
    return httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def upload(http: httpx.Client, data: bytes, content_type: str, filename: str | None = None) -> str:
    params = {"filename": filename} if filename else {}
    response = http.post(f"{MEDIA}/upload", content=data, headers={"Content-Type": content_type}, params=params)
    assert response.status_code == 200, response.text
    uri: str = response.json()["content_uri"]
    assert uri.startswith("mxc://qasid.test/")
    return uri.removeprefix("mxc://qasid.test/")


def test_upload_and_download_with_safe_headers(server: ServerProcess) -> None:
    alice, bob = client(server, "alice"), client(server, "bob")
    assert alice.get(f"{CLIENT_MEDIA}/config").json() == {"m.upload.size": 50 * 1024 * 1024}
    media_id = upload(alice, PNG, "image/png", "chart.png")
    stored = server.data_dir / "media" / media_id[:2] / media_id
    assert stored.read_bytes() == PNG

    got = bob.get(f"{CLIENT_MEDIA}/download/qasid.test/{media_id}")
    assert got.status_code == 200 and got.content == PNG
    assert got.headers["content-type"] == "image/png"
    assert got.headers["content-disposition"] == "inline; filename*=utf-8''chart.png"
    assert got.headers["content-security-policy"] == CSP
    assert got.headers["x-content-type-options"] == "nosniff"
    assert got.headers["cross-origin-resource-policy"] == "cross-origin"

    # Anything that could run script in a browser is an attachment; the path's file name wins.
    html_id = upload(alice, b"<script>alert(1)</script>", "text/html")
    html = bob.get(f"{CLIENT_MEDIA}/download/qasid.test/{html_id}/report%20v2.html")
    assert html.status_code == 200
    assert html.headers["content-disposition"] == "attachment; filename*=utf-8''report%20v2.html"
    assert html.headers["content-security-policy"] == CSP

    # Thumbnails (tests/api/test_thumbnails.py): nothing for what is not an image, or not a readable one.
    for unreadable in (html_id, media_id):
        thumb = bob.get(f"{CLIENT_MEDIA}/thumbnail/qasid.test/{unreadable}", params={"width": 32, "height": 32})
        assert thumb.status_code == 400 and thumb.json()["errcode"] == "M_UNKNOWN"

    assert bob.get(f"{CLIENT_MEDIA}/download/qasid.test/NoSuchMedia").json()["errcode"] == "M_NOT_FOUND"
    assert bob.get(f"{CLIENT_MEDIA}/download/elsewhere.example/{media_id}").status_code == 404


def test_downloads_need_a_token(server: ServerProcess) -> None:
    alice = client(server, "alice")
    media_id = upload(alice, b"secret minutes", "text/plain")
    anonymous = httpx.get(f"{server.base_url}{CLIENT_MEDIA}/download/qasid.test/{media_id}")
    assert anonymous.status_code == 401 and anonymous.json()["errcode"] == "M_MISSING_TOKEN"
    assert httpx.get(f"{server.base_url}{CLIENT_MEDIA}/thumbnail/qasid.test/{media_id}").status_code == 401
    # The legacy unauthenticated endpoints never serve content.
    for path in (f"{MEDIA}/download/qasid.test/{media_id}", f"/_matrix/media/r0/download/qasid.test/{media_id}",
                 f"{MEDIA}/thumbnail/qasid.test/{media_id}"):
        legacy = httpx.get(server.base_url + path)
        assert legacy.status_code == 404 and legacy.json()["errcode"] == "M_NOT_FOUND"
    assert httpx.post(f"{server.base_url}{MEDIA}/upload", content=b"x").status_code == 401


@pytest.mark.parametrize("media_id", [
    "..", "a.b", "..%2F..%2Fqasid.db", "%2e%2e", "%2e%2e%2fqasid.db", "abc%00", "a%20b", "~root",
])
def test_traversal_ids_are_refused(server: ServerProcess, media_id: str) -> None:
    alice = client(server, "alice")
    response = alice.get(f"{CLIENT_MEDIA}/download/qasid.test/{media_id}")
    assert response.status_code in (400, 404), response.text
    assert response.json()["errcode"] in ("M_INVALID_PARAM", "M_NOT_FOUND", "M_UNRECOGNIZED")
    assert b"SQLite" not in response.content


def test_upload_limit(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", env={"QASID_MAX_UPLOAD_BYTES": "1000"})
    server.start()
    try:
        alice = client(server, "alice")
        assert alice.get(f"{CLIENT_MEDIA}/config").json() == {"m.upload.size": 1000}
        upload(alice, b"x" * 1000, "application/octet-stream")
        declared = alice.post(f"{MEDIA}/upload", content=b"x" * 1001)
        assert declared.status_code == 413 and declared.json()["errcode"] == "M_TOO_LARGE"

        def stream() -> Iterator[bytes]:  # no Content-Length: the limit is enforced while reading
            for _ in range(100):
                yield b"y" * 100

        streamed = alice.post(f"{MEDIA}/upload", content=stream())
        assert streamed.status_code == 413 and streamed.json()["errcode"] == "M_TOO_LARGE"
        leftovers = [p for p in (server.data_dir / "media").rglob("*") if p.is_file()]
        assert len(leftovers) == 1  # only the accepted upload; no partial or temporary files
    finally:
        server.stop()


def test_create_then_upload(server: ServerProcess) -> None:
    alice, bob = client(server, "alice"), client(server, "bob")
    created = alice.post("/_matrix/media/v1/create")
    assert created.status_code == 200
    body = created.json()
    media_id = body["content_uri"].removeprefix("mxc://qasid.test/")
    assert body["unused_expires_at"] > 0
    pending = alice.get(f"{CLIENT_MEDIA}/download/qasid.test/{media_id}")
    assert pending.status_code == 504 and pending.json()["errcode"] == "M_NOT_YET_UPLOADED"
    put_url = f"{MEDIA}/upload/qasid.test/{media_id}"
    assert bob.put(put_url, content=b"hi", headers={"Content-Type": "text/plain"}).status_code == 403
    done = alice.put(put_url, content=b"hi", headers={"Content-Type": "text/plain"})
    assert done.status_code == 200 and done.json() == {}
    again = alice.put(put_url, content=b"other", headers={"Content-Type": "text/plain"})
    assert again.status_code == 409 and again.json()["errcode"] == "M_CANNOT_OVERWRITE_MEDIA"
    assert bob.get(f"{CLIENT_MEDIA}/download/qasid.test/{media_id}").content == b"hi"
    assert alice.put(f"{MEDIA}/upload/qasid.test/NeverCreated", content=b"x").status_code == 404


def test_a_file_of_several_chunks_downloads_whole_and_head_sends_only_headers(server: ServerProcess) -> None:
    alice = client(server, "alice")
    data = os.urandom(200 * 1024 + 7)  # three full 64 KiB chunks and a partial one
    media_id = upload(alice, data, "application/octet-stream")
    got = alice.get(f"{CLIENT_MEDIA}/download/qasid.test/{media_id}")
    assert got.status_code == 200 and got.content == data
    assert got.headers["content-length"] == str(len(data))
    head = alice.head(f"{CLIENT_MEDIA}/download/qasid.test/{media_id}")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(data))
    assert head.headers["content-disposition"] == got.headers["content-disposition"]
