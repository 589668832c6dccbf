"""Item 17: with federation off, the federation and key APIs are absent and the server opens no outbound connection.

Two independent witnesses watch the server process while it is asked to do everything that would
reach another server in a federating homeserver (join a remote room, invite and look up remote
users, fetch remote media and keys, send to remote devices):

- a Python audit hook installed through `sitecustomize` in the server's interpreter records every
  `socket.connect`, `socket.sendto` and `socket.getaddrinfo` (a DNS lookup is the first step of any
  outbound connection), before it happens;
- the process's own socket table: every socket file descriptor of the server is looked up in
  /proc/net/tcp{,6} and udp{,6} after each request; none may have a non-loopback remote address,
  and the server holds no UDP socket at all. This also covers sockets opened by C code (uvloop)
  that the audit hook can't see.
"""

from __future__ import annotations

import ipaddress
import os
import re
import textwrap
from pathlib import Path

import httpx
import pytest

from tests.hardening.client import new_user
from tests.server import ServerProcess

SITECUSTOMIZE = '''
import os, sys

_log_path = os.environ["QASID_TEST_NETWORK_LOG"]

def _record(event, args):
    if event in ("socket.connect", "socket.sendto", "socket.sendmsg", "socket.getaddrinfo",
                 "socket.gethostbyname", "socket.gethostbyaddr"):
        with open(_log_path, "a", encoding="utf-8") as log:
            log.write(f"{event} {args[1:] if event != 'socket.getaddrinfo' else args[:2]!r}\\n")

sys.addaudithook(_record)
with open(_log_path, "a", encoding="utf-8") as log:
    log.write(f"installed in {os.getpid()}\\n")
'''

FEDERATION_PATHS = [
    ("GET", "/_matrix/federation/v1/version"),
    ("GET", "/_matrix/federation/v1/publicRooms"),
    ("PUT", "/_matrix/federation/v1/send/txn1"),
    ("GET", "/_matrix/federation/v1/make_join/!r:qasid.test/@u:elsewhere.example"),
    ("PUT", "/_matrix/federation/v2/send_join/!r:qasid.test/$e"),
    ("GET", "/_matrix/federation/v1/query/profile"),
    ("POST", "/_matrix/federation/v1/user/keys/query"),
    ("GET", "/_matrix/federation/v1/media/download/abc"),
    ("GET", "/_matrix/federation/unstable/anything"),
    ("GET", "/_matrix/key/v2/server"),
    ("GET", "/_matrix/key/v2/server/ed25519:a"),
    ("POST", "/_matrix/key/v2/query"),
    ("GET", "/_matrix/key/v2/query/elsewhere.example"),
    ("GET", "/.well-known/matrix/server"),
]


def server_sockets(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if match := re.fullmatch(r"socket:\[(\d+)\]", target):
            inodes.add(match.group(1))
    return inodes


def remote_addresses(pid: int) -> list[tuple[str, str]]:
    """(protocol, remote address) of every TCP/UDP socket the process holds."""
    mine = server_sockets(pid)
    found = []
    for protocol in ("tcp", "tcp6", "udp", "udp6"):
        for line in Path(f"/proc/{pid}/net/{protocol}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[9] not in mine:
                continue
            remote_hex = fields[2].split(":")[0]
            raw = bytes.fromhex(remote_hex)
            # /proc prints addresses as host-order 32-bit words.
            words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
            found.append((protocol, str(ipaddress.ip_address(words))))
    return found


def assert_no_outside_sockets(server: ServerProcess) -> None:
    assert server.proc is not None
    for protocol, address in remote_addresses(server.proc.pid):
        assert not protocol.startswith("udp"), f"the server holds a UDP socket ({address})"
        ip = ipaddress.ip_address(address)
        assert ip.is_loopback or ip.is_unspecified or (
            isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None and ip.ipv4_mapped.is_loopback
        ), f"{protocol} socket to {address}"


@pytest.fixture
def watched(tmp_path: Path) -> ServerProcess:
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(textwrap.dedent(SITECUSTOMIZE))
    log = tmp_path / "network.log"
    log.touch()
    python_path = os.pathsep.join(p for p in (str(hooks), os.environ.get("PYTHONPATH", "")) if p)
    return ServerProcess(tmp_path / "data", env={"PYTHONPATH": python_path, "QASID_TEST_NETWORK_LOG": str(log)})


def outbound(log: Path) -> list[str]:
    """Recorded network calls whose address is not loopback."""
    suspicious = []
    for line in log.read_text().splitlines():
        if line.startswith("installed in "):
            continue
        if not re.search(r"'(127\.\d+\.\d+\.\d+|::1|localhost|::ffff:127\.0\.0\.1)'", line) \
                and "AF_UNIX" not in line and "'/" not in line:
            suspicious.append(line)
    return suspicious


def test_federation_is_absent_and_nothing_goes_out(watched: ServerProcess, tmp_path: Path) -> None:
    server = watched
    server.start()
    try:
        log = tmp_path / "network.log"
        # Both witnesses are live: the hook runs in the server's interpreter, and the socket table
        # shows at least the server's listening socket.
        assert server.proc is not None
        assert f"installed in {server.proc.pid}" in log.read_text().splitlines()
        assert remote_addresses(server.proc.pid)
        alice = new_user(server, "alice")
        for method, path in FEDERATION_PATHS:
            response = httpx.request(method, server.base_url + path, json={}, timeout=30)
            assert response.status_code == 404, f"{method} {path}: {response.status_code}"
            assert_no_outside_sockets(server)
            signed_in = alice.request(method, path, json={})
            assert signed_in.status_code == 404, f"{method} {path} (signed in): {signed_in.status_code}"

        room = alice.create_room()
        remote_user, remote_room = "@bob:elsewhere.example", "#lobby:elsewhere.example"
        attempts = [
            alice.post(f"/join/{remote_room}"),
            alice.post("/join/!remote:elsewhere.example", params={"server_name": "elsewhere.example"}),
            alice.post(f"/rooms/{room}/invite", {"user_id": remote_user}),
            alice.post("/createRoom", {"invite": [remote_user]}),
            alice.get(f"/profile/{remote_user}"),
            alice.get(f"/profile/{remote_user}/displayname"),
            alice.post("/keys/query", {"device_keys": {remote_user: []}}),
            alice.post("/keys/claim", {"one_time_keys": {remote_user: {"DEV": "signed_curve25519"}}}),
            alice.put("/sendToDevice/m.test/remote", {"messages": {remote_user: {"*": {"x": 1}}}}),
            alice.get(f"/directory/room/{remote_room}"),
            alice.get("/publicRooms", server="elsewhere.example"),
            alice.get("/_matrix/client/v1/media/download/elsewhere.example/abcdef"),
            alice.get("/_matrix/client/v1/media/thumbnail/elsewhere.example/abcdef", width=32, height=32),
            alice.get("/_matrix/client/v1/media/preview_url", url="http://example.org/"),
            alice.get("/_matrix/media/v3/preview_url", url="http://example.org/"),
            alice.post("/user_directory/search", {"search_term": "bob"}),
            alice.get("/thirdparty/protocols"),
        ]
        for response in attempts:
            assert response.status_code < 500, f"{response.request.url}: {response.text[:200]}"
            assert_no_outside_sockets(server)
        assert outbound(log) == [], outbound(log)
    finally:
        server.stop()
