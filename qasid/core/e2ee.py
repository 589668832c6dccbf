"""End-to-end encryption bookkeeping: device keys, one-time and fallback keys, cross-signing, to-device inboxes, device lists, key backup."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from qasid.config import Settings
from qasid.core.clock import Clock
from qasid.core.device_sessions import Requester
from qasid.core.e2ee_rules import (
    CROSS_SIGNING_TYPES,
    check_backup_key_data,
    check_cross_signing_key,
    check_device_keys,
    check_one_time_keys,
    keep_existing_backup_key,
    megolm_over_to_device,
    public_key_of,
    require_object,
    signature_valid,
    visible_signatures,
    without_signatures,
)
from qasid.core.errors import MatrixError, bad_json, forbidden, invalid_param, missing_param, not_found
from qasid.core.ids import is_user_id
from qasid.core.notifier import Notifier
from qasid.store.sqlite import Store
from qasid.store.sqlite.e2ee import KeyConflict
from qasid.store.sqlite.key_backup import BackupVersionMismatch

if TYPE_CHECKING:
    from qasid.core.rooms import RoomService

BACKUP_ALGORITHMS = ("m.megolm_backup.v1.curve25519-aes-sha2",)


class E2eeService:
    """End-to-end encryption bookkeeping: device keys, one-time and fallback keys, cross-signing, to-device inboxes, device lists, key backup."""

    def __init__(
        self, settings: Settings, store: Store, clock: Clock, notifier: Notifier, rooms: RoomService
    ) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.notifier = notifier
        self.rooms = rooms
        self._acked_to_device: dict[tuple[str, str], int] = {}

    def _devices_changed(self, user_id: str) -> None:
        self.notifier.notify(self.rooms.users_sharing_rooms_with(user_id) | {user_id})

    def _visible_users(self, user_id: str) -> set[str]:
        # Whose keys a user may see: people they share a room with, and themself.
        return self.rooms.users_sharing_rooms_with(user_id) | {user_id}

    # --- /keys/upload, /keys/query, /keys/claim, /keys/changes --------------------------------

    async def upload_keys(self, requester: Requester, body: dict[str, Any]) -> dict[str, Any]:
        """POST /keys/upload: verified device keys, one-time and fallback keys; returns one_time_key_counts."""
        user_id, device_id = requester.user_id, requester.device_id
        device_keys = None
        if body.get("device_keys") is not None:
            device_keys = check_device_keys(body["device_keys"], user_id, device_id)
            cross_signing = await self.store.e2ee.cross_signing_keys(user_id)
            if device_id in {public_key_of(k) for k in cross_signing.values()}:
                raise invalid_param("device_id must not be one of the user's cross-signing public keys")
            ed25519: str | None = device_keys["keys"][f"ed25519:{device_id}"]
        else:
            stored = await self.store.e2ee.device_keys(user_id, [device_id])
            ed25519 = stored[0].key_json["keys"].get(f"ed25519:{device_id}") if stored else None
        one_time = check_one_time_keys(body.get("one_time_keys") or {}, "one_time_keys", user_id, device_id, ed25519)
        fallback_body = body.get("fallback_keys") or body.get("org.matrix.msc2732.fallback_keys") or {}
        fallback = check_one_time_keys(fallback_body, "fallback_keys", user_id, device_id, ed25519)
        if len({algorithm for algorithm, _, _ in fallback}) != len(fallback):
            raise invalid_param("fallback_keys: at most one key per algorithm")
        try:
            changed = await self.store.e2ee.upload_keys(user_id, device_id, device_keys, one_time, fallback)
        except KeyConflict as e:
            raise invalid_param(str(e)) from None
        if changed:
            self._devices_changed(user_id)
        return {"one_time_key_counts": await self.one_time_key_counts(user_id, device_id)}

    async def query_keys(self, requester: Requester, body: dict[str, Any]) -> dict[str, Any]:
        """POST /keys/query: device and cross-signing keys of users the requester shares a room with."""
        wanted = require_object(body.get("device_keys"), "device_keys") if "device_keys" in body else None
        if wanted is None:
            raise missing_param("device_keys is required")
        visible = self._visible_users(requester.user_id)
        result: dict[str, Any] = {"device_keys": {}, "master_keys": {}, "self_signing_keys": {},
                                  "user_signing_keys": {}, "failures": {}}
        for user_id, device_ids in wanted.items():
            if not isinstance(device_ids, list) or not all(isinstance(d, str) for d in device_ids):
                raise bad_json(f"device_keys.{user_id} must be a list of device IDs")
            result["device_keys"][user_id] = {}
            if user_id not in visible:
                continue
            for row in await self.store.e2ee.device_keys(user_id, device_ids or None):
                info = dict(row.key_json)
                if row.display_name is not None:
                    info["unsigned"] = {"device_display_name": row.display_name}
                result["device_keys"][user_id][row.device_id] = info
            for key_type, key_json in (await self.store.e2ee.cross_signing_keys(user_id)).items():
                if key_type == "user_signing" and user_id != requester.user_id:
                    continue
                result[f"{key_type}_keys"][user_id] = visible_signatures(key_json, user_id, requester.user_id)
        return result

    async def claim_keys(self, requester: Requester, body: dict[str, Any]) -> dict[str, Any]:
        """POST /keys/claim: one one-time key per device, each handed out once; the fallback key after."""
        if "one_time_keys" not in body:
            raise missing_param("one_time_keys is required")
        wanted = require_object(body["one_time_keys"], "one_time_keys")
        visible = self._visible_users(requester.user_id)
        claims = []
        for user_id, devices in wanted.items():
            require_object(devices, f"one_time_keys.{user_id}")
            for device_id, algorithm in devices.items():
                if not isinstance(algorithm, str):
                    raise bad_json(f"one_time_keys.{user_id}.{device_id} must be an algorithm name")
                if user_id in visible:
                    claims.append((user_id, device_id, algorithm))
        keys: dict[str, dict[str, dict[str, Any]]] = {}
        for user_id, device_id, key_name, key_json in await self.store.e2ee.claim_keys(claims):
            keys.setdefault(user_id, {}).setdefault(device_id, {})[key_name] = key_json
        return {"one_time_keys": keys, "failures": {}}

    async def key_changes(self, requester: Requester, from_token: str, to_token: str) -> dict[str, Any]:
        """GET /keys/changes: users sharing a room with the requester whose devices changed in between."""
        from qasid.core.sync import parse_sync_token

        after = parse_sync_token(from_token).device_lists
        upto = parse_sync_token(to_token).device_lists
        changed = await self.device_list_changes(after, upto) & self._visible_users(requester.user_id)
        return {"changed": sorted(changed), "left": []}

    # --- cross-signing ------------------------------------------------------------------------

    async def upload_cross_signing_keys(
        self, requester: Requester, body: dict[str, Any], authorize: Callable[[], Awaitable[None]],
    ) -> None:
        """POST /keys/device_signing/upload: the first keys freely; replacing keys only after `authorize`."""
        user_id = requester.user_id
        uploaded: dict[str, dict[str, Any]] = {}
        public: dict[str, str] = {}
        for key_type in CROSS_SIGNING_TYPES:
            if body.get(f"{key_type}_key") is not None:
                uploaded[key_type], public[key_type] = check_cross_signing_key(
                    body[f"{key_type}_key"], user_id, key_type)
        existing = await self.store.e2ee.cross_signing_keys(user_id)
        master = uploaded.get("master") or existing.get("master")
        if master is None:
            raise missing_param("No master signing key is available: upload master_key first")
        master_id, master_public = f"ed25519:{public_key_of(master)}", public_key_of(master)
        for key_type in ("self_signing", "user_signing"):
            if key_type in uploaded and not signature_valid(uploaded[key_type], user_id, master_id, master_public):
                raise MatrixError(400, "M_INVALID_SIGNATURE",
                                  f"{key_type}_key is not validly signed by the master key")
        device_ids = {d.device_id for d in await self.store.accounts.list_devices(user_id)}
        if device_ids & set(public.values()):
            raise forbidden("A cross-signing public key must not equal one of the user's device IDs")
        if all(t in existing and without_signatures(existing[t]) == without_signatures(k) for t, k in uploaded.items()):
            return  # nothing new: a retried upload succeeds without authentication
        if "master" in existing:
            await authorize()
        await self.store.e2ee.set_cross_signing_keys(user_id, uploaded)
        self._devices_changed(user_id)

    async def upload_signatures(self, requester: Requester, body: dict[str, Any]) -> dict[str, Any]:
        """POST /keys/signatures/upload: merge the requester's verified signatures; failures per key."""
        signer = requester.user_id
        signing_keys = await self._signing_keys_of(signer)
        failures: dict[str, dict[str, Any]] = {}
        for user_id, objects in body.items():
            require_object(objects, user_id)
            device_sigs: dict[str, dict[str, dict[str, str]]] = {}
            cross_sigs: dict[str, dict[str, dict[str, str]]] = {}
            devices = {r.device_id: r.key_json for r in await self.store.e2ee.device_keys(user_id)}
            cross = {public_key_of(k): (t, k) for t, k in (await self.store.e2ee.cross_signing_keys(user_id)).items()}
            for key_id, signed in objects.items():
                error = None
                stored = devices[key_id] if key_id in devices else cross[key_id][1] if key_id in cross else None
                new: Any = (signed.get("signatures") or {}).get(signer) if isinstance(signed, dict) else None
                if not isinstance(signed, dict):
                    error = ("M_BAD_JSON", "A signed key must be an object")
                elif stored is None:
                    error = ("M_NOT_FOUND", f"No key {key_id} for {user_id}")
                elif without_signatures(signed) != without_signatures(stored):
                    error = ("M_INVALID_PARAM", "The signed object does not match the stored key")
                elif not isinstance(new, dict) or not new:
                    error = ("M_INVALID_PARAM", f"No signatures by {signer}")
                elif not all(k in signing_keys and signature_valid(signed, signer, k, signing_keys[k]) for k in new):
                    error = ("M_INVALID_SIGNATURE", "A signature is invalid or by an unknown key")
                if error is not None:
                    failures.setdefault(user_id, {})[key_id] = {"errcode": error[0], "error": error[1]}
                elif key_id in devices:
                    device_sigs[key_id] = {signer: dict(new)}
                else:
                    cross_sigs[cross[key_id][0]] = {signer: dict(new)}
            if device_sigs or cross_sigs:
                await self.store.e2ee.merge_signatures(user_id, device_sigs, cross_sigs)
                self._devices_changed(user_id)
        return {"failures": failures}

    async def _signing_keys_of(self, user_id: str) -> dict[str, str]:
        # Every ed25519 key of the user that may sign: its devices' keys and its cross-signing keys.
        keys = {}
        for row in await self.store.e2ee.device_keys(user_id):
            key = row.key_json.get("keys", {}).get(f"ed25519:{row.device_id}")
            if isinstance(key, str):
                keys[f"ed25519:{row.device_id}"] = key
        for key_json in (await self.store.e2ee.cross_signing_keys(user_id)).values():
            keys[f"ed25519:{public_key_of(key_json)}"] = public_key_of(key_json)
        return keys

    # --- to-device ----------------------------------------------------------------------------

    async def send_to_device(self, requester: Requester, event_type: str, txn_id: str, body: dict[str, Any]) -> None:
        """PUT /sendToDevice: queue per device ("*" = all the user's devices), once per transaction ID."""
        if "messages" not in body:
            raise missing_param("messages is required")
        messages = []
        for user_id, devices in require_object(body["messages"], "messages").items():
            if not is_user_id(user_id):
                raise invalid_param(f"messages: {user_id!r} is not a user ID")
            for device_id, content in require_object(devices, f"messages.{user_id}").items():
                require_object(content, f"messages.{user_id}.{device_id}")
                if megolm_over_to_device(event_type, content):
                    raise invalid_param("m.room.encrypted to-device messages must not use m.megolm.v1.aes-sha2")
                messages.append((user_id, device_id,
                                 {"sender": requester.user_id, "type": event_type, "content": content}))
        recipients = await self.store.e2ee.send_to_device(
            requester.user_id, requester.device_id, f"sendToDevice/{event_type}", txn_id, messages,
            self.clock.now_ms())
        if recipients:
            self.notifier.notify(recipients)

    async def to_device_for(
        self, user_id: str, device_id: str, after: int, limit: int = 100
    ) -> tuple[list[dict[str, Any]], int]:
        """Messages after a position (oldest first, at most `limit`) and the position of the last one."""
        rows = await self.store.e2ee.to_device_for(user_id, device_id, after, limit)
        return [message for _, message in rows], (rows[-1][0] if rows else after)

    async def ack_to_device(self, user_id: str, device_id: str, upto: int) -> None:
        """Delete messages the device has acknowledged by syncing with a token that covers them."""
        # A device long-polls with the same token again and again: only a new position can
        # cover anything not deleted yet (messages only ever arrive at higher positions).
        key = (user_id, device_id)
        if self._acked_to_device.get(key, -1) >= upto:
            return
        await self.store.e2ee.ack_to_device(user_id, device_id, upto)
        self._acked_to_device[key] = upto

    async def device_list_changes(self, after: int, upto: int) -> set[str]:
        """Users whose devices or keys changed in (after, upto]."""
        return await self.store.e2ee.device_list_changes(after, upto)

    async def one_time_key_counts(self, user_id: str, device_id: str) -> dict[str, int]:
        """Unclaimed one-time keys per algorithm; signed_curve25519 always present so clients top up."""
        return {"signed_curve25519": 0} | await self.store.e2ee.one_time_key_counts(user_id, device_id)

    async def key_status(self, user_id: str, device_id: str) -> tuple[dict[str, int], list[str]]:
        """What every sync answer reports: one-time key counts (as above), unused fallback key algorithms."""
        counts, fallback = await self.store.e2ee.key_status(user_id, device_id)
        return {"signed_curve25519": 0} | counts, fallback

    # --- devices ------------------------------------------------------------------------------

    async def list_devices(self, user_id: str) -> list[dict[str, Any]]:
        """The user's devices as /devices shows them."""
        return [_device_json(d) for d in await self.store.accounts.list_devices(user_id)]

    async def get_device(self, user_id: str, device_id: str) -> dict[str, Any]:
        """One of the user's devices, or 404 M_NOT_FOUND."""
        device = await self.store.accounts.get_device(user_id, device_id)
        if device is None:
            raise not_found(f"No device {device_id}")
        return _device_json(device)

    async def rename_device(self, user_id: str, device_id: str, display_name: str | None) -> None:
        """Set a device's display name; other users' clients see it in /keys/query."""
        device = await self.store.accounts.get_device(user_id, device_id)
        if device is None:
            raise not_found(f"No device {device_id}")
        if display_name is None or display_name == device.display_name:
            return
        await self.store.accounts.update_device_name(user_id, device_id, display_name)
        await self.store.e2ee.record_device_list_change(user_id)
        self._devices_changed(user_id)

    # --- key backup ---------------------------------------------------------------------------

    async def create_backup(self, user_id: str, body: dict[str, Any]) -> str:
        """POST /room_keys/version: a new backup version, which becomes the current one."""
        algorithm, auth_data = _backup_body(body)
        return str(await self.store.key_backup.create_backup_version(user_id, algorithm, auth_data))

    async def get_backup(self, user_id: str, version: str | None) -> dict[str, Any]:
        """GET /room_keys/version[/{version}]: 404 M_NOT_FOUND when there is no such (or no) backup."""
        row = await self.store.key_backup.backup_version(user_id, None if version is None else _version_number(version))
        if row is None:
            raise not_found("No backup found" if version is None else f"Unknown backup version {version}")
        return {"algorithm": row.algorithm, "auth_data": row.auth_data, "count": row.count,
                "etag": str(row.etag), "version": str(row.version)}

    async def update_backup(self, user_id: str, version: str, body: dict[str, Any]) -> None:
        """PUT /room_keys/version/{version}: only auth_data changes; the algorithm must stay the same."""
        algorithm, auth_data = _backup_body(body)
        if body.get("version") is not None and body["version"] != version:
            raise invalid_param("version in the body does not match the path")
        row = await self.store.key_backup.backup_version(user_id, _version_number(version))
        if row is None:
            raise not_found(f"Unknown backup version {version}")
        if row.algorithm != algorithm:
            raise invalid_param("algorithm does not match the backup's algorithm")
        if not await self.store.key_backup.update_backup_version(user_id, row.version, auth_data):
            raise not_found(f"Unknown backup version {version}")

    async def delete_backup(self, user_id: str, version: str) -> None:
        """DELETE /room_keys/version/{version}: succeeds again for an already deleted version."""
        if not await self.store.key_backup.delete_backup_version(user_id, _version_number(version)):
            raise not_found(f"Unknown backup version {version}")

    async def put_room_keys(
        self, user_id: str, version: str, sessions: list[tuple[str, str, Any]],
    ) -> dict[str, Any]:
        """PUT /room_keys/keys...: keep the better key per session; count and etag of the backup."""
        checked = [(r, s, check_backup_key_data(d, f"{r}/{s}")) for r, s, d in sessions]
        try:
            count, etag = await self.store.key_backup.put_room_keys(
                user_id, _version_number(version), checked, keep_existing_backup_key)
        except BackupVersionMismatch as e:
            if e.current_version is None:
                raise not_found("No backup found") from None
            raise MatrixError(403, "M_WRONG_ROOM_KEYS_VERSION", "Wrong backup version",
                              current_version=str(e.current_version)) from None
        return {"count": count, "etag": str(etag)}

    async def get_room_keys(
        self, user_id: str, version: str, room_id: str | None = None, session_id: str | None = None,
    ) -> list[tuple[str, str, dict[str, Any]]]:
        """The backed-up keys of a live version; 404 M_NOT_FOUND for an unknown version."""
        number = _version_number(version)
        if await self.store.key_backup.backup_version(user_id, number) is None:
            raise not_found(f"Unknown backup version {version}")
        return await self.store.key_backup.room_keys(user_id, number, room_id, session_id)

    async def delete_room_keys(
        self, user_id: str, version: str, room_id: str | None = None, session_id: str | None = None,
    ) -> dict[str, Any]:
        """DELETE /room_keys/keys...: count and etag after the delete."""
        result = await self.store.key_backup.delete_room_keys(user_id, _version_number(version), room_id, session_id)
        if result is None:
            raise not_found(f"Unknown backup version {version}")
        return {"count": result[0], "etag": str(result[1])}


def _device_json(device: Any) -> dict[str, Any]:
    # The spec says absent, not null, when unknown: strict clients reject a null string.
    fields = {"display_name": device.display_name, "last_seen_ip": device.last_seen_ip,
              "last_seen_ts": device.last_seen_ts}
    return {"device_id": device.device_id} | {k: v for k, v in fields.items() if v is not None}


def _backup_body(body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    if "algorithm" not in body:
        raise missing_param("algorithm is required")
    if "auth_data" not in body:
        raise missing_param("auth_data is required")
    if not isinstance(body["algorithm"], str):
        raise bad_json("algorithm must be a string")
    if body["algorithm"] not in BACKUP_ALGORITHMS:
        raise invalid_param(f"Unsupported backup algorithm {body['algorithm']}")
    return body["algorithm"], require_object(body["auth_data"], "auth_data")


def _version_number(version: str) -> int:
    # Versions are opaque strings to clients; ours are decimal. Anything else names no backup.
    return int(version) if version.isdecimal() and len(version) < 16 else -1
