"""Real device and cross-signing keys for E2EE tests: vodozemac accounts and ed25519 signing keys."""

from __future__ import annotations

import copy
from typing import Any

import httpx
import vodozemac
from canonicaljson import encode_canonical_json
from signedjson.key import encode_verify_key_base64, generate_signing_key, get_verify_key
from signedjson.sign import sign_json
from signedjson.types import SigningKey

from tests.server import ServerProcess

V3 = "/_matrix/client/v3"


def signed_part(obj: dict[str, Any]) -> bytes:
    return encode_canonical_json({k: v for k, v in obj.items() if k not in ("signatures", "unsigned")})


class Device:
    """One logged-in device with a real Olm account."""

    def __init__(self, server: ServerProcess, login: dict[str, Any]) -> None:
        self.server = server
        self.user_id: str = login["user_id"]
        self.device_id: str = login["device_id"]
        self.token: str = login["access_token"]
        self.account = vodozemac.Account()

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def ed25519(self) -> str:
        return str(self.account.ed25519_key.to_base64())

    def sign(self, obj: dict[str, Any]) -> dict[str, Any]:
        signed = copy.deepcopy(obj)
        signature = self.account.sign(signed_part(obj)).to_base64()
        signed.setdefault("signatures", {}).setdefault(self.user_id, {})[f"ed25519:{self.device_id}"] = signature
        return signed

    def device_keys(self) -> dict[str, Any]:
        return self.sign({
            "user_id": self.user_id,
            "device_id": self.device_id,
            "algorithms": ["m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"],
            "keys": {f"ed25519:{self.device_id}": self.ed25519,
                     f"curve25519:{self.device_id}": self.account.curve25519_key.to_base64()},
        })

    def one_time_keys(self, count: int) -> dict[str, Any]:
        self.account.generate_one_time_keys(count)
        keys = {f"signed_curve25519:{key_id}": self.sign({"key": key.to_base64()})
                for key_id, key in self.account.one_time_keys.items()}
        self.account.mark_keys_as_published()
        return keys

    def fallback_keys(self) -> dict[str, Any]:
        self.account.generate_fallback_key()  # type: ignore[attr-defined]  # missing from the stubs
        ((key_id, key),) = self.account.fallback_key.items()  # type: ignore[attr-defined]
        return {f"signed_curve25519:{key_id}": self.sign({"key": key.to_base64(), "fallback": True})}

    def post(self, path: str, body: Any) -> httpx.Response:
        return httpx.post(self.server.base_url + V3 + path, json=body, headers=self.headers, timeout=30)

    def put(self, path: str, body: Any) -> httpx.Response:
        return httpx.put(self.server.base_url + V3 + path, json=body, headers=self.headers, timeout=30)

    def get(self, path: str, **params: Any) -> httpx.Response:
        return httpx.get(self.server.base_url + V3 + path, params=params, headers=self.headers, timeout=30)

    def delete(self, path: str, **params: Any) -> httpx.Response:
        return httpx.delete(self.server.base_url + V3 + path, params=params, headers=self.headers, timeout=30)

    def upload(self, **body: Any) -> httpx.Response:
        return self.post("/keys/upload", body)

    def sync(self, since: str | None = None) -> dict[str, Any]:
        params = {"timeout": "0"} | ({"since": since} if since else {})
        response = self.get("/sync", **params)
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]


def login(server: ServerProcess, username: str, device_id: str | None = None,
          password: str = "correct horse battery") -> dict[str, Any]:
    body: dict[str, Any] = {"type": "m.login.password", "password": password,
                            "identifier": {"type": "m.id.user", "user": username}}
    if device_id:
        body["device_id"] = device_id
    response = httpx.post(server.base_url + V3 + "/login", json=body)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


class CrossSigningKey:
    """An ed25519 cross-signing key whose key ID is its own public key."""

    def __init__(self, user_id: str, usage: str) -> None:
        self.user_id = user_id
        self.usage = usage
        self.key: SigningKey = generate_signing_key("tmp")
        self.public = encode_verify_key_base64(get_verify_key(self.key))
        self.key.version = self.public

    def json(self, signed_by: CrossSigningKey | None = None) -> dict[str, Any]:
        obj: dict[str, Any] = {"user_id": self.user_id, "usage": [self.usage],
                               "keys": {f"ed25519:{self.public}": self.public}}
        return sign_json(obj, self.user_id, signed_by.key) if signed_by else obj

    def sign(self, obj: dict[str, Any]) -> dict[str, Any]:
        return sign_json(copy.deepcopy(obj), self.user_id, self.key)  # type: ignore[no-any-return]


def share_room(owner: Device, other: Device) -> str:
    """A room both are joined to (created by `owner`, `other` invited and joined)."""
    created = owner.post("/createRoom", {"invite": [other.user_id]})
    assert created.status_code == 200, created.text
    room_id: str = created.json()["room_id"]
    joined = other.post(f"/rooms/{room_id}/join", {})
    assert joined.status_code == 200, joined.text
    return room_id
