"""The README's nginx deployment, run: Debian's nginx with deploy/nginx/qasid.conf in front of qasid.

nginx runs as a child process with its own prefix in a temporary folder (`daemon off`, no system
service), the repository's site file changed only in its ports and paths; a matrix-nio client
talks to qasid through it: registration, a long-poll /sync woken by a message, a 50 MiB upload.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import ssl
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from nio import AsyncClient, RegisterResponse, RoomCreateResponse, SyncResponse, UploadResponse

from tests.ops.certs import write_self_signed
from tests.server import ServerProcess, free_port

SITE_FILE = Path(__file__).resolve().parents[2] / "deploy" / "nginx" / "qasid.conf"
UPLOAD_BYTES = 50 * 1024 * 1024


@dataclass
class Proxy:
    """nginx in front of a qasid server: its HTTPS and HTTP URLs, and the CA clients trust."""

    base_url: str
    http_url: str
    tls: ssl.SSLContext
    server: ServerProcess


def site_config(qasid_port: int, https_port: int, http_port: int, certificate: Path, private_key: Path) -> str:
    """The repository's site file with its ports and certificate paths swapped for the test's."""
    text = SITE_FILE.read_text()
    replacements = {
        "server 127.0.0.1:8008;": f"server 127.0.0.1:{qasid_port};",
        "listen 443 ssl http2;": f"listen 127.0.0.1:{https_port} ssl http2;",
        "listen 80;": f"listen 127.0.0.1:{http_port};",
        "/etc/letsencrypt/live/matrix.example.gov/fullchain.pem": str(certificate),
        "/etc/letsencrypt/live/matrix.example.gov/privkey.pem": str(private_key),
    }
    for old, new in replacements.items():
        assert text.count(old) == 1, f"{SITE_FILE} no longer has exactly one {old!r}"
        text = text.replace(old, new)
    return text


def main_config(prefix: Path, site: Path) -> str:
    """The nginx.conf around the site file: everything nginx writes stays under `prefix`."""
    temp = "\n".join(f"    {kind}_temp_path {prefix / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    # As root, nginx's workers would drop to `nobody`, who can't enter pytest's private tmp folder.
    user = "user root;\n" if os.geteuid() == 0 else ""
    return (f"{user}daemon off;\nworker_processes 1;\npid {prefix / 'nginx.pid'};\nerror_log {prefix / 'error.log'} info;\n"
            f"events {{ worker_connections 256; }}\n"
            f"http {{\n    access_log {prefix / 'access.log'};\n{temp}\n    include {site};\n}}\n")


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[Proxy]:
    nginx = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None)
    if nginx is None:
        pytest.skip("needs nginx: apt-get install nginx")
    https_port, http_port = free_port(), free_port()
    server = ServerProcess(tmp_path / "data", env={
        "QASID_PUBLIC_BASEURL": f"https://127.0.0.1:{https_port}",
        "QASID_MAX_UPLOAD_BYTES": str(60 * 1024 * 1024)})
    prefix = tmp_path / "nginx"
    prefix.mkdir()
    certificate, private_key = prefix / "fullchain.pem", prefix / "privkey.pem"
    write_self_signed(certificate, private_key)
    site = prefix / "qasid.conf"
    site.write_text(site_config(server.port, https_port, http_port, certificate, private_key))
    (prefix / "nginx.conf").write_text(main_config(prefix, site))
    server.start()
    command = [nginx, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-e", str(prefix / "error.log")]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    tls = ssl.create_default_context(cafile=certificate)
    base_url = f"https://127.0.0.1:{https_port}"
    try:
        deadline = time.monotonic() + 15
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"nginx exited: {process.stderr.read().decode() if process.stderr else ''}"
                                   f"{(prefix / 'error.log').read_text() if (prefix / 'error.log').exists() else ''}")
            try:
                if httpx.get(base_url + "/_matrix/client/versions", verify=tls, timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.05)
        yield Proxy(base_url, f"http://127.0.0.1:{http_port}", tls, server)
    finally:
        process.terminate()
        process.wait(10)
        server.stop()


@pytest.fixture
async def clients(proxy: Proxy, tmp_path: Path) -> AsyncIterator[tuple[AsyncClient, AsyncClient]]:
    alice = AsyncClient(proxy.base_url, "alice", ssl=proxy.tls)  # type: ignore[arg-type]
    bob = AsyncClient(proxy.base_url, "bob", ssl=proxy.tls)  # type: ignore[arg-type]
    try:
        for client in (alice, bob):
            token = proxy.server.create_token()
            registered = await client.register_with_token(client.user, "correct horse battery", token)
            assert isinstance(registered, RegisterResponse), registered
        yield alice, bob
    finally:
        await alice.close()
        await bob.close()


def test_nginx_redirects_http_and_passes_its_request_id(proxy: Proxy) -> None:
    redirect = httpx.get(proxy.http_url + "/_matrix/client/versions")
    assert redirect.status_code == 301
    assert redirect.headers["location"] == "https://127.0.0.1/_matrix/client/versions"
    versions = httpx.get(proxy.base_url + "/_matrix/client/versions", verify=proxy.tls)
    assert versions.status_code == 200 and versions.http_version == "HTTP/1.1"
    assert len(versions.headers["x-request-id"]) == 32  # nginx's $request_id, kept by qasid
    assert versions.headers["strict-transport-security"].startswith("max-age=")
    # Probes are for the host itself, not the public address.
    assert httpx.get(proxy.base_url + "/_qasid/ready", verify=proxy.tls).status_code == 404


async def test_long_poll_sync_through_nginx_is_woken_by_a_message(clients: tuple[AsyncClient, AsyncClient]) -> None:
    alice, bob = clients
    created = await alice.room_create(invite=[bob.user_id])
    assert isinstance(created, RoomCreateResponse), created
    await bob.join(created.room_id)
    first = await bob.sync(timeout=0)
    assert isinstance(first, SyncResponse), first

    started = time.monotonic()
    waiting = asyncio.create_task(bob.sync(timeout=20_000, since=first.next_batch))
    await asyncio.sleep(1.5)
    assert not waiting.done()  # parked in qasid, through nginx
    await alice.room_send(created.room_id, "m.room.message", {"msgtype": "m.text", "body": "through the proxy"})
    woken = await asyncio.wait_for(waiting, 10)
    assert isinstance(woken, SyncResponse), woken
    bodies = [e.body for e in woken.rooms.join[created.room_id].timeline.events if hasattr(e, "body")]
    assert bodies == ["through the proxy"]
    assert 1.5 <= time.monotonic() - started < 10


async def test_fifty_mebibyte_upload_through_nginx(clients: tuple[AsyncClient, AsyncClient], tmp_path: Path) -> None:
    alice, bob = clients
    blob = os.urandom(UPLOAD_BYTES)
    path = tmp_path / "big.bin"
    path.write_bytes(blob)
    uploaded, _ = await alice.upload(lambda *_: path, "application/octet-stream", "big.bin", filesize=UPLOAD_BYTES)
    assert isinstance(uploaded, UploadResponse), uploaded
    downloaded = await bob.download(uploaded.content_uri)
    assert hashlib.sha256(downloaded.body).digest() == hashlib.sha256(blob).digest()  # type: ignore[union-attr]
