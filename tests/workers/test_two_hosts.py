"""Two workers on two hosts: each in a network namespace of its own, reaching PostgreSQL over a veth
link rather than loopback, with a client on each host; chat across them, and a SIGKILL mid-flood.

Runs as root with `ip` (iproute2) and QASID_TEST_DATABASE_URL, as in CI; otherwise skipped, saying why.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import ctypes
import os
import secrets
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from tests import pg
from tests.e2e.nio_user import NioUser
from tests.server import ServerProcess
from tests.workers.test_worker_crash import QUIET, _auth, _send

SENDS = 300
CLONE_NEWNET = 0x40000000
PASSWORD = "a long enough passphrase"
T = TypeVar("T")


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


class Forwarder:
    """TCP relay in the root namespace: a host's gateway address to PostgreSQL on loopback, where it listens."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.relayed: dict[str, int] = {}  # connections relayed, by the gateway address they came in on
        self.servers: list[asyncio.Server] = []
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def listen(self, host: str) -> int:
        """Relay connections to host:port (a port of the system's choosing, returned) to the target."""
        server = asyncio.run_coroutine_threadsafe(asyncio.start_server(self._relay, host, 0), self.loop).result(5)
        self.servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        gateway = writer.get_extra_info("sockname")[0]
        self.relayed[gateway] = self.relayed.get(gateway, 0) + 1
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()

    async def _shutdown(self) -> None:
        for server in self.servers:
            server.close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@dataclass
class Host:
    netns: str
    gateway: str  # the root namespace's end of the veth link
    address: str  # the host's own end
    worker: ServerProcess
    forwarder: Forwarder
    client: concurrent.futures.ThreadPoolExecutor  # a thread that lives in the host's namespace
    loop: asyncio.AbstractEventLoop  # run only on that thread: the sockets it opens are the host's

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run a client's coroutine on this host, to its end."""
        return self.client.submit(self.loop.run_until_complete, coroutine).result()

    def request(self, login: dict[str, str], method: str, path: str,
                **kwargs: Any) -> concurrent.futures.Future[httpx.Response]:
        """A request from a client on this host to its own worker, answered in the background."""
        return self.client.submit(httpx.request, method, self.worker.base_url + path, headers=_auth(login),
                                  timeout=30, **kwargs)


def _enter_netns(netns: str) -> None:
    """Move the calling thread (only it) into a network namespace: the sockets it opens are the host's."""
    fd = os.open(f"/run/netns/{netns}", os.O_RDONLY)
    try:
        if ctypes.CDLL(None, use_errno=True).setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns into {netns}")
    finally:
        os.close(fd)


def _make_host(netns: str, veth: str, subnet: int, octet: int) -> tuple[str, str]:
    """A namespace joined to the root one by a /30 veth link: returns (gateway, address)."""
    gateway, address = f"10.77.{subnet}.{octet + 1}", f"10.77.{subnet}.{octet + 2}"
    _ip("netns", "add", netns)
    _ip("link", "add", veth + "r", "type", "veth", "peer", "name", veth + "h")
    _ip("link", "set", veth + "h", "netns", netns)
    _ip("addr", "add", f"{gateway}/30", "dev", veth + "r")
    _ip("link", "set", veth + "r", "up")
    _ip("-n", netns, "addr", "add", f"{address}/30", "dev", veth + "h")
    _ip("-n", netns, "link", "set", veth + "h", "up")
    _ip("-n", netns, "link", "set", "lo", "up")
    return gateway, address


def _database_url_via(url: str, host: str, port: int) -> str:
    """The schema's URL (search_path kept) with PostgreSQL reached at host:port."""
    parts = urlsplit(url)
    userinfo = parts.netloc.rpartition("@")[0]
    return urlunsplit(parts._replace(netloc=f"{userinfo}@{host}:{port}" if userinfo else f"{host}:{port}"))


def _skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "two hosts need root to make network namespaces"
    if shutil.which("ip") is None:
        return "two hosts need `ip` (iproute2) to make network namespaces"
    if not pg.DATABASE_URL:
        return "two hosts need PostgreSQL: set QASID_TEST_DATABASE_URL"
    return None


@pytest.fixture
def hosts(tmp_path: Path) -> Iterator[list[Host]]:
    """Two hosts, each a namespace running one worker of one shared schema and one data folder."""
    if reason := _skip_reason():
        pytest.skip(reason)
    schema = pg.TestSchema()
    database = urlsplit(pg.DATABASE_URL)
    forwarder = Forwarder((database.hostname or "127.0.0.1", database.port or 5432))
    suffix, subnet = secrets.token_hex(3), secrets.randbelow(256)
    made: list[Host] = []
    try:
        for i in range(2):
            netns = f"qasid{suffix}{i}"
            gateway, address = _make_host(netns, f"qv{suffix}{i}", subnet, 4 * i)
            url = _database_url_via(schema.url, gateway, forwarder.listen(gateway))
            worker = ServerProcess(tmp_path / "data", env={"QASID_DATABASE_URL": url}, bind_host=address,
                                   command_prefix=["ip", "netns", "exec", netns])
            worker.database = schema
            client = concurrent.futures.ThreadPoolExecutor(1, initializer=_enter_netns, initargs=(netns,))
            made.append(Host(netns, gateway, address, worker, forwarder, client, asyncio.new_event_loop()))
        for host in made:
            host.worker.start()
        yield made
    finally:
        for host in made:
            host.worker.stop()
            host.client.shutdown()
            host.loop.close()
        for i in range(2):
            subprocess.run(["ip", "link", "del", f"qv{suffix}{i}r"], capture_output=True, check=False)
            subprocess.run(["ip", "netns", "del", f"qasid{suffix}{i}"], capture_output=True, check=False)
        forwarder.close()
        schema.close()
        if schema.created:
            with pg.admin_connection() as conn:
                conn.execute(f"DROP SCHEMA IF EXISTS {schema.name} CASCADE")


def test_the_workers_reach_postgresql_over_their_veth_links(hosts: list[Host]) -> None:
    for host in hosts:
        assert host.forwarder.relayed.get(host.gateway, 0) > 0, f"no connection from {host.netns} through {host.gateway}"
        # On the host itself, loopback has no PostgreSQL: the veth link is the only way to it.
        with pytest.raises(ConnectionRefusedError):
            host.client.submit(socket.create_connection, host.forwarder.target, 2).result()


def test_clients_on_two_hosts_chat_and_a_long_poll_wakes_across(hosts: list[Host]) -> None:
    a, b = hosts
    alice, bob = a.worker.register("alice"), b.worker.register("bob")
    room = a.request(alice, "POST", "/_matrix/client/v3/createRoom",
                     json={"invite": [bob["user_id"]]}).result().json()["room_id"]
    assert b.request(bob, "POST", f"/_matrix/client/v3/rooms/{room}/join", json={}).result().status_code == 200
    since = b.request(bob, "GET", "/_matrix/client/v3/sync", params=QUIET).result().json()["next_batch"]

    parked = b.request(bob, "GET", "/_matrix/client/v3/sync", params={"since": since, "timeout": "20000", **QUIET})
    time.sleep(1)  # parked on host B by now
    assert not parked.done()
    sent = a.request(alice, "PUT", f"/_matrix/client/v3/rooms/{room}/send/m.room.message/t1",
                     json={"msgtype": "m.text", "body": "from host A"}).result()
    assert sent.status_code == 200, sent.text
    started = time.monotonic()
    woken = parked.result().json()
    assert time.monotonic() - started < 10, "the long-poll on host B was not woken by host A's send"
    events = woken["rooms"]["join"][room]["timeline"]["events"]
    assert [(e["event_id"], e["content"]["body"]) for e in events] == [(sent.json()["event_id"], "from host A")]

    reply = b.request(bob, "PUT", f"/_matrix/client/v3/rooms/{room}/send/m.room.message/r1",
                      json={"msgtype": "m.text", "body": "from host B"}).result()
    assert reply.status_code == 200, reply.text
    page = a.request(alice, "GET", f"/_matrix/client/v3/rooms/{room}/messages",
                     params={"dir": "b", "limit": "2"}).result().json()
    assert [e["content"]["body"] for e in page["chunk"]] == ["from host B", "from host A"]


def test_encrypted_chat_between_clients_on_two_hosts(hosts: list[Host], tmp_path: Path) -> None:
    a, b = hosts
    token = a.worker.create_token(uses=2)
    alice = NioUser(a.worker.base_url, "alice", tmp_path / "alice")
    bob = NioUser(b.worker.base_url, "bob", tmp_path / "bob")
    try:
        a.run(alice.register(PASSWORD, token))
        b.run(bob.register(PASSWORD, token))
        room_id = a.run(alice.create_encrypted_room(invite=[bob.user_id]))
        b.run(bob.join(room_id))
        a.run(alice.sync())
        a.run(alice.send(room_id, "The minister lands at six"))
        b.run(bob.wait_for(room_id, "The minister lands at six"))
        b.run(bob.send(room_id, "A car will be at the airport"))
        a.run(alice.wait_for(room_id, "A car will be at the airport"))
        assert not alice.undecryptable and not bob.undecryptable
    finally:
        a.run(alice.close())
        b.run(bob.close())


async def _flood_killing(a: ServerProcess, b: ServerProcess, room: str, alice: dict[str, str]) -> list[list[str]]:
    """Alice's sends, SIGKILLing host A's worker mid-flood; then every one again through host B.

    Her client roams: from the root namespace it reaches both hosts, and moves to B once A is gone.
    """
    async with httpx.AsyncClient(timeout=20, limits=httpx.Limits(max_connections=100)) as client:
        flood = [asyncio.create_task(_send(client, [a.base_url, b.base_url], room, _auth(alice), i))
                 for i in range(SENDS)]
        while sum(t.done() for t in flood) < SENDS // 5:
            await asyncio.sleep(0.01)
        a.kill()  # some sends acknowledged, some in flight, some not yet sent
        acknowledged = await asyncio.gather(*flood)
        again = await asyncio.gather(*(_send(client, [b.base_url, b.base_url], room, _auth(alice), i)
                                       for i in range(SENDS)))
    return [list(acknowledged), list(again)]


def test_a_host_killed_mid_flood_loses_no_acknowledged_event(hosts: list[Host]) -> None:
    a, b = (host.worker for host in hosts)
    alice, bob = a.register("alice"), b.register("bob")
    room = hosts[0].request(alice, "POST", "/_matrix/client/v3/createRoom",
                            json={"invite": [bob["user_id"]]}).result().json()["room_id"]
    assert hosts[1].request(bob, "POST", f"/_matrix/client/v3/rooms/{room}/join", json={}).result().status_code == 200

    acknowledged, again = asyncio.run(_flood_killing(a, b, room, alice))
    assert again == acknowledged, "a retry through host B gets the event ID host A gave"

    with b.snapshot():
        rows = b.query("SELECT event_id, txn_id FROM events WHERE room_id = ? AND txn_id LIKE ?", (room, "flood%"))
    assert sorted(r[0] for r in rows) == sorted(acknowledged), "every acknowledged event is stored exactly once"
    assert len({r[1] for r in rows}) == SENDS
    messages = hosts[1].request(bob, "GET", f"/_matrix/client/v3/rooms/{room}/messages",
                                params={"dir": "b", "limit": str(SENDS + 10)}).result().json()["chunk"]
    assert set(acknowledged) <= {e["event_id"] for e in messages}
