"""A 1:1 call between two officials through the government's own TURN relay (coturn), signalled E2EE through qasid.

coturn runs as a child process with the configuration `qasid turn-config` prints; two aiortc peers,
restricted to relay candidates, exchange the VoIP module's events (version 1) as Megolm-encrypted
events through qasid, and audio sent by one arrives at the other.
"""

from __future__ import annotations

import array
import asyncio
import fractions
import math
import random
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import av
import httpx
import pytest
from aioice.stun import TransactionFailed
from aioice.turn import create_turn_endpoint
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcconfiguration import RTCIceTransportPolicy
from aiortc.sdp import candidate_from_sdp

from qasid.core.voip import turn_password
from tests.e2e.nio_user import NioUser
from tests.server import ServerProcess

PASSWORD = "a long enough passphrase"
V3 = "/_matrix/client/v3"
SAMPLE_RATE = 48_000
FRAME_SAMPLES = 960  # 20 ms


class Tone(MediaStreamTrack):
    """A 440 Hz tone, so the receiver can tell real audio from decoded silence."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._pts = 0
        self._started = time.monotonic()

    async def recv(self) -> Any:
        due = self._started + self._pts / SAMPLE_RATE
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        samples = array.array("h", (int(12_000 * math.sin(2 * math.pi * 440 * (self._pts + i) / SAMPLE_RATE))
                                    for i in range(FRAME_SAMPLES)))
        frame = av.AudioFrame(format="s16", layout="mono", samples=FRAME_SAMPLES)
        frame.planes[0].update(samples.tobytes())
        frame.sample_rate = SAMPLE_RATE
        frame.pts = self._pts
        frame.time_base = fractions.Fraction(1, SAMPLE_RATE)
        self._pts += FRAME_SAMPLES
        return frame


class Coturn:
    """coturn as a child process, configured by `qasid turn-config`."""

    def __init__(self, server: ServerProcess, folder: Path, port: int) -> None:
        self.port = port
        self.min_port = random.randrange(40_000, 60_000, 100)
        self.log_path = folder / "turn.log"
        self.config_path = folder / "turnserver.conf"
        printed = subprocess.run(
            [sys.executable, "-m", "qasid.cli", "turn-config", "--port", str(self.port),
             "--listening-ip", "127.0.0.1", "--relay-ip", "127.0.0.1", "--allow-loopback-peers",
             "--min-port", str(self.min_port), "--max-port", str(self.min_port + 99),
             "--log-file", str(self.log_path), "--pidfile", str(folder / "turn.pid")],
            env=server._env(), capture_output=True, text=True, timeout=60, check=True)
        self.config_path.write_text(printed.stdout)
        self.proc = subprocess.Popen(
            ["turnserver", "-c", str(self.config_path), "--userdb", str(folder / "turndb")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while "Relay ports initialization done" not in self.log():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"coturn did not start:\n{self.log()}")
            time.sleep(0.05)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def relay_secret() -> str:
    return secrets.token_hex(32)


@pytest.fixture
def turn_server(tmp_path: Path, relay_secret: str) -> Iterator[tuple[ServerProcess, Coturn]]:
    if shutil.which("turnserver") is None:
        pytest.skip("needs turnserver: Debian's coturn package (apt-get install coturn)")
    coturn_port = random.randrange(20_000, 30_000)
    server = ServerProcess(tmp_path / "data", env={
        "QASID_TURN_URIS": f"turn:127.0.0.1:{coturn_port}?transport=udp",
        "QASID_TURN_SHARED_SECRET": relay_secret,
        "QASID_TURN_USER_LIFETIME_MS": "600000",
    })
    coturn = Coturn(server, tmp_path, coturn_port)
    server.start()
    try:
        yield server, coturn
    finally:
        server.stop()
        coturn.stop()


@pytest.fixture
async def officials(turn_server: tuple[ServerProcess, Coturn], tmp_path: Path) -> AsyncIterator[tuple[NioUser, NioUser]]:
    server, _ = turn_server
    token = server.create_token(uses=2)
    alice = NioUser(server.base_url, "alice", tmp_path / "alice")
    bob = NioUser(server.base_url, "bob", tmp_path / "bob")
    try:
        await alice.register(PASSWORD, token)
        await bob.register(PASSWORD, token)
        yield alice, bob
    finally:
        await alice.close()
        await bob.close()


async def turn_credentials(server: ServerProcess, user: NioUser) -> dict[str, Any]:
    async with httpx.AsyncClient() as http:
        response = await http.get(server.base_url + V3 + "/voip/turnServer",
                                  headers={"authorization": f"Bearer {user.client.access_token}"})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def relay_only_peer(credentials: dict[str, Any]) -> RTCPeerConnection:
    ice = RTCIceServer(urls=credentials["uris"], username=credentials["username"],
                       credential=credentials["password"])
    return RTCPeerConnection(RTCConfiguration(iceServers=[ice], iceTransportPolicy=RTCIceTransportPolicy.RELAY))


def split_sdp(sdp: str) -> tuple[str, list[dict[str, Any]]]:
    """The SDP without its candidate lines, and its relay candidates in m.call.candidates form."""
    lines, candidates, mid, index = [], [], None, -1
    for line in sdp.splitlines():
        if line.startswith("m="):
            index += 1
        if line.startswith("a=mid:"):
            mid = line[len("a=mid:"):]
        if line.startswith("a=candidate:"):
            if " typ relay" in line:
                candidates.append({"candidate": line[2:], "sdpMid": mid, "sdpMLineIndex": index})
            continue
        if line.startswith("a=end-of-candidates"):
            continue
        lines.append(line)
    return "\r\n".join(lines) + "\r\n", candidates


async def add_candidates(peer: RTCPeerConnection, candidates: list[dict[str, Any]]) -> None:
    for item in candidates:
        if not item["candidate"]:
            continue  # the spec's end-of-candidates marker
        candidate = candidate_from_sdp(item["candidate"].removeprefix("candidate:"))
        candidate.sdpMid, candidate.sdpMLineIndex = item["sdpMid"], item["sdpMLineIndex"]
        await peer.addIceCandidate(candidate)
    await peer.addIceCandidate(None)


async def send_call_event(user: NioUser, room_id: str, event_type: str, content: dict[str, Any]) -> None:
    response = await user.client.room_send(room_id, event_type, content, ignore_unverified_devices=True)
    assert type(response).__name__ == "RoomSendResponse", response


async def receive_call_events(user: NioUser, room_id: str, wanted: set[str], inbox: dict[str, dict[str, Any]],
                              timeout_s: float = 20) -> None:
    """Sync until every type in `wanted` has arrived decrypted (m.call.* from the other party)."""
    deadline = time.monotonic() + timeout_s
    while not wanted <= set(inbox):
        assert time.monotonic() < deadline, f"{user.user_id} never received {wanted - set(inbox)}; got {set(inbox)}"
        response = await user.sync(timeout_ms=500)
        room = response.rooms.join.get(room_id)
        for event in room.timeline.events if room else []:
            source = getattr(event, "source", {})
            if source.get("type", "").startswith("m.call.") and source.get("sender") != user.user_id:
                assert getattr(event, "decrypted", False), f"{source['type']} arrived unencrypted"
                inbox[source["type"]] = source["content"]


async def test_call_media_flows_only_through_the_relay(
    turn_server: tuple[ServerProcess, Coturn], officials: tuple[NioUser, NioUser],
) -> None:
    server, coturn = turn_server
    alice, bob = officials
    room_id = await alice.create_encrypted_room(invite=[bob.user_id])
    await bob.join(room_id)
    await alice.sync()
    await bob.sync()

    alice_credentials, bob_credentials = await turn_credentials(server, alice), await turn_credentials(server, bob)
    assert alice_credentials["username"].endswith(":" + alice.user_id)
    assert alice_credentials["ttl"] == 600

    call_id = "call" + secrets.token_hex(8)
    caller = relay_only_peer(alice_credentials)
    callee = relay_only_peer(bob_credentials)
    heard: list[int] = []

    @callee.on("track")
    def on_track(track: Any) -> None:
        async def listen() -> None:
            while True:
                try:
                    frame = await track.recv()
                except MediaStreamError:
                    return  # the call ended
                samples = array.array("h", bytes(frame.planes[0]))
                heard.append(max((abs(s) for s in samples), default=0))
        asyncio.ensure_future(listen())

    try:
        caller.addTrack(Tone())
        await caller.setLocalDescription(await caller.createOffer())
        offer_sdp, offer_candidates = split_sdp(caller.localDescription.sdp)
        assert offer_candidates, "the caller got no relay candidate from coturn"
        common = {"call_id": call_id, "version": "1"}
        await send_call_event(alice, room_id, "m.call.invite", {
            **common, "party_id": "alicephone", "lifetime": 60_000, "offer": {"type": "offer", "sdp": offer_sdp}})
        await send_call_event(alice, room_id, "m.call.candidates", {
            **common, "party_id": "alicephone",
            "candidates": [*offer_candidates, {"candidate": "", "sdpMid": "0", "sdpMLineIndex": 0}]})

        bob_inbox: dict[str, dict[str, Any]] = {}
        await receive_call_events(bob, room_id, {"m.call.invite", "m.call.candidates"}, bob_inbox)
        invite = bob_inbox["m.call.invite"]
        assert invite["call_id"] == call_id and invite["party_id"] == "alicephone"
        await callee.setRemoteDescription(RTCSessionDescription(invite["offer"]["sdp"], "offer"))
        await add_candidates(callee, bob_inbox["m.call.candidates"]["candidates"])
        callee.addTrack(Tone())
        await callee.setLocalDescription(await callee.createAnswer())
        answer_sdp, answer_candidates = split_sdp(callee.localDescription.sdp)
        assert answer_candidates, "the callee got no relay candidate from coturn"
        await send_call_event(bob, room_id, "m.call.answer", {
            **common, "party_id": "bobdesk", "answer": {"type": "answer", "sdp": answer_sdp}})
        await send_call_event(bob, room_id, "m.call.candidates", {
            **common, "party_id": "bobdesk", "candidates": answer_candidates})

        alice_inbox: dict[str, dict[str, Any]] = {}
        await receive_call_events(alice, room_id, {"m.call.answer", "m.call.candidates"}, alice_inbox)
        assert alice_inbox["m.call.answer"]["party_id"] == "bobdesk"
        await send_call_event(alice, room_id, "m.call.select_answer", {
            **common, "party_id": "alicephone", "selected_party_id": "bobdesk"})
        await caller.setRemoteDescription(RTCSessionDescription(alice_inbox["m.call.answer"]["answer"]["sdp"], "answer"))
        await add_candidates(caller, alice_inbox["m.call.candidates"]["candidates"])

        deadline = time.monotonic() + 30
        while sum(1 for peak in heard if peak > 1000) < 25:
            assert time.monotonic() < deadline, (
                f"audio never arrived: {len(heard)} frames, ICE {caller.iceConnectionState}/{callee.iceConnectionState}")
            await asyncio.sleep(0.1)

        # Every candidate pair in use runs through the relay: both ends only ever had relay candidates.
        for peer in (caller, callee):
            for transceiver in peer.getTransceivers():
                pair = transceiver.receiver.transport.transport.iceGatherer.getLocalCandidates()
                assert pair and all(candidate.type == "relay" for candidate in pair)

        await send_call_event(alice, room_id, "m.call.hangup", {**common, "party_id": "alicephone",
                                                                "reason": "user_hangup"})
        await receive_call_events(bob, room_id, {"m.call.select_answer", "m.call.hangup"}, bob_inbox)
        assert bob_inbox["m.call.select_answer"]["selected_party_id"] == "bobdesk"
        assert bob_inbox["m.call.hangup"]["call_id"] == call_id
    finally:
        await caller.close()
        await callee.close()

    # The relay allocated for each official, under the user the credentials name.
    log = coturn.log()
    for credentials in (alice_credentials, bob_credentials):
        assert f"user <{credentials['username']}>" in log
    assert "ALLOCATE processed, success" in log
    # The server never saw the signalling in the clear.
    async with httpx.AsyncClient() as http:
        history = (await http.get(f"{server.base_url}{V3}/rooms/{room_id}/messages", params={"dir": "b", "limit": 100},
                                  headers={"authorization": f"Bearer {alice.client.access_token}"})).json()["chunk"]
    assert not [event for event in history if event["type"].startswith("m.call.")]
    # invite, candidates, answer, candidates, select_answer, hangup
    assert sum(1 for event in history if event["type"] == "m.room.encrypted") == 6


async def allocate(coturn: Coturn, username: str, password: str) -> None:
    transport, _ = await create_turn_endpoint(
        asyncio.DatagramProtocol, ("127.0.0.1", coturn.port), username=username, password=password)
    transport.close()


async def test_relay_refuses_expired_and_forged_credentials(
    turn_server: tuple[ServerProcess, Coturn], relay_secret: str,
) -> None:
    server, coturn = turn_server
    future = int(time.time()) + 600
    good = f"{future}:@alice:{server.server_name}"
    await allocate(coturn, good, turn_password(relay_secret, good))

    expired = f"{int(time.time()) - 60}:@alice:{server.server_name}"
    with pytest.raises(TransactionFailed, match="401"):
        await allocate(coturn, expired, turn_password(relay_secret, expired))
    forged = f"{future}:@mallory:{server.server_name}"
    with pytest.raises(TransactionFailed, match="401"):
        await allocate(coturn, forged, turn_password("not-the-relay-secret" * 3, forged))
