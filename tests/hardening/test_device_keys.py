"""Items 7 and 8: device keys are the uploader's own and self-signed; to-device messages can't be forged.

tests/api/test_e2ee.py::test_upload_refusals proves the refusals for a wrong user_id or device_id,
a signature that no longer matches, a changed ed25519 key, and unsigned or foreign-signed one-time
keys; ::test_device_id_may_not_be_a_cross_signing_key the cross-signing clash; and
::test_to_device_star_and_refusals the Megolm-over-to-device refusal. This adds a missing self-
signature, a signature by another device of the same user, legacy unsigned `curve25519` one-time
and fallback keys, and — for every refusal — that nothing was stored or announced; and for
to-device, that `sender` can't be set by the client and that a refused request queues nothing.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterator
from typing import Any

import pytest

from tests.api.e2ee_helpers import Device, share_room
from tests.hardening.client import error, login, new_user
from tests.server import ServerProcess


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for the module: each test signs in users of its own."""
    server = ServerProcess(tmp_path_factory.mktemp("device-keys") / "data")
    server.start()
    try:
        yield server
    finally:
        server.stop()


_names = itertools.count()


_registered: set[tuple[str, str]] = set()


def device(server: ServerProcess, username: str) -> Device:
    """A new device of `username`, registering the account on first use."""
    if (str(server.data_dir), username) in _registered:
        return Device(server, login(server, username))
    _registered.add((str(server.data_dir), username))
    user = new_user(server, username)
    return Device(server, {"user_id": user.user_id, "device_id": user.device_id, "access_token": user.token})


def stored_device_keys(viewer: Device, owner: Device) -> dict[str, Any]:
    response = viewer.post("/keys/query", {"device_keys": {owner.user_id: []}})
    assert response.status_code == 200, response.text
    return response.json()["device_keys"].get(owner.user_id, {})  # type: ignore[no-any-return]


def unsigned(keys: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in keys.items() if k != "signatures"}


def refusals(alice: Device, other_device: Device) -> dict[str, dict[str, Any]]:
    keys = alice.device_keys()
    by_other_device = copy.deepcopy(keys)
    by_other_device["signatures"] = other_device.sign(unsigned(keys))["signatures"]
    by_other_device["signatures"][alice.user_id] = {
        f"ed25519:{other_device.device_id}": by_other_device["signatures"][alice.user_id][
            f"ed25519:{other_device.device_id}"]}
    return {
        "no-signatures-field": {"device_keys": unsigned(keys)},
        "empty-signatures": {"device_keys": unsigned(keys) | {"signatures": {}}},
        "signed-by-another-device": {"device_keys": by_other_device},
        "signature-under-wrong-key-id": {"device_keys": unsigned(keys) | {"signatures": {alice.user_id: {
            f"ed25519:{other_device.device_id}": keys["signatures"][alice.user_id][f"ed25519:{alice.device_id}"]}}}},
        "legacy-unsigned-one-time-key": {"device_keys": keys, "one_time_keys": {"curve25519:AAAAAQ": "a2V5a2V5"}},
        "unsigned-signed-key-object": {"device_keys": keys,
                                       "one_time_keys": {"signed_curve25519:AAAAAQ": {"key": "a2V5a2V5"}}},
        "unsigned-fallback-key": {"device_keys": keys,
                                  "fallback_keys": {"signed_curve25519:AAAAAg": {"key": "a2V5", "fallback": True}}},
    }


REFUSALS = ["no-signatures-field", "empty-signatures", "signed-by-another-device", "signature-under-wrong-key-id",
            "legacy-unsigned-one-time-key", "unsigned-signed-key-object", "unsigned-fallback-key"]


@pytest.mark.parametrize("case", REFUSALS)
def test_unsigned_or_wrongly_signed_keys_are_refused_and_nothing_is_stored(shared: ServerProcess, case: str) -> None:
    server, n = shared, next(_names)
    alice = device(server, f"alice{n}")
    alice_phone = device(server, f"alice{n}")
    bob = device(server, f"bob{n}")
    assert alice_phone.upload(device_keys=alice_phone.device_keys()).status_code == 200
    share_room(alice, bob)
    since = bob.sync()["next_batch"]
    response = alice.upload(**refusals(alice, alice_phone)[case])
    assert error(response) in ((400, "M_INVALID_PARAM"), (400, "M_BAD_JSON"), (400, "M_MISSING_PARAM")), response.text
    assert alice.device_id not in stored_device_keys(bob, alice)
    assert alice.upload().json()["one_time_key_counts"] == {"signed_curve25519": 0}
    assert alice.user_id not in bob.sync(since)["device_lists"]["changed"]


def test_keys_for_another_user_are_refused_even_when_validly_signed(shared: ServerProcess) -> None:
    """Signed by bob's own device key, for bob's device — but uploaded with alice's token."""
    n = next(_names)
    alice, bob = device(shared, f"alice{n}"), device(shared, f"bob{n}")
    share_room(alice, bob)
    assert error(alice.upload(device_keys=bob.device_keys())) == (400, "M_INVALID_PARAM")
    assert bob.device_id not in stored_device_keys(alice, bob)
    assert stored_device_keys(bob, alice) == {}


def test_to_device_sender_is_always_the_authenticated_user(shared: ServerProcess) -> None:
    n = next(_names)
    alice, bob = device(shared, f"alice{n}"), device(shared, f"bob{n}")
    since = alice.sync()["next_batch"]
    forged = {"messages": {alice.user_id: {alice.device_id: {"sender": "@ceo:qasid.test", "text": "pay"}}},
              "sender": "@ceo:qasid.test", "type": "m.room_key_request"}
    assert bob.put("/sendToDevice/m.test/forged", forged).status_code == 200
    events = alice.sync(since)["to_device"]["events"]
    assert events == [{"sender": bob.user_id, "type": "m.test",
                       "content": {"sender": "@ceo:qasid.test", "text": "pay"}}]


@pytest.mark.parametrize("algorithm", ["m.megolm.v1.aes-sha2"])
def test_megolm_over_to_device_refuses_the_whole_request(shared: ServerProcess, algorithm: str) -> None:
    n = next(_names)
    alice, bob = device(shared, f"alice{n}"), device(shared, f"bob{n}")
    carol = device(shared, f"carol{n}")
    tokens = {d.user_id: d.sync()["next_batch"] for d in (alice, carol)}
    body = {"messages": {
        carol.user_id: {carol.device_id: {"algorithm": "m.olm.v1.curve25519-aes-sha2", "ciphertext": {}}},
        alice.user_id: {alice.device_id: {"algorithm": algorithm, "ciphertext": "AwgAEn", "session_id": "s"}},
    }}
    assert error(bob.put("/sendToDevice/m.room.encrypted/mixed", body)) == (400, "M_INVALID_PARAM")
    assert alice.sync(tokens[alice.user_id])["to_device"]["events"] == []
    assert carol.sync(tokens[carol.user_id])["to_device"]["events"] == []
    # The same transaction ID, now valid, is not mistaken for a retry of the refused one.
    del body["messages"][alice.user_id]
    assert bob.put("/sendToDevice/m.room.encrypted/mixed", body).status_code == 200
    assert len(carol.sync(tokens[carol.user_id])["to_device"]["events"]) == 1
