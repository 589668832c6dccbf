"""Server-side key backup: backup versions and the encrypted room keys stored in them."""

from __future__ import annotations

from typing import Any

from qasid.api.asgi import Request, Response
from qasid.api.http import client_paths, empty, json_body, json_response, requester, route, services
from qasid.core.e2ee_rules import require_object
from qasid.core.errors import missing_param, not_found


def _version_param(request: Request) -> str:
    version = request.query_params.get("version")
    if not version:
        raise missing_param("Query parameter version is required")
    return version


@route("POST", *client_paths("/room_keys/version"))
async def create_backup(request: Request) -> Response:
    """POST /_matrix/client/v3/room_keys/version

    - Creates a backup version (m.megolm_backup.v1.curve25519-aes-sha2), which becomes the current one.
    """
    who = await requester(request)
    body = await json_body(request)
    return json_response({"version": await services(request).e2ee.create_backup(who.user_id, body)})


@route("GET", *client_paths("/room_keys/version"))
async def get_current_backup(request: Request) -> Response:
    """GET /_matrix/client/v3/room_keys/version

    - The current backup with its count and etag; 404 M_NOT_FOUND when the user has none.
    """
    who = await requester(request)
    return json_response(await services(request).e2ee.get_backup(who.user_id, None))


@route("GET", *client_paths("/room_keys/version/{version}"))
async def get_backup(request: Request) -> Response:
    """GET /_matrix/client/v3/room_keys/version/{version}

    - 404 M_NOT_FOUND for an unknown or deleted version.
    """
    who = await requester(request)
    return json_response(await services(request).e2ee.get_backup(who.user_id, request.path_params["version"]))


@route("PUT", *client_paths("/room_keys/version/{version}"))
async def update_backup(request: Request) -> Response:
    """PUT /_matrix/client/v3/room_keys/version/{version}

    - Only auth_data changes; a different algorithm or body version is 400 M_INVALID_PARAM.
    """
    who = await requester(request)
    body = await json_body(request)
    await services(request).e2ee.update_backup(who.user_id, request.path_params["version"], body)
    return empty()


@route("DELETE", *client_paths("/room_keys/version/{version}"))
async def delete_backup(request: Request) -> Response:
    """DELETE /_matrix/client/v3/room_keys/version/{version}

    - Deletes the version and its keys; deleting it again succeeds; a version never created is 404.
    """
    who = await requester(request)
    await services(request).e2ee.delete_backup(who.user_id, request.path_params["version"])
    return empty()


def _sessions(value: Any, where: str) -> dict[str, Any]:
    return require_object(require_object(value, where).get("sessions"), f"{where}.sessions")


@route("PUT", *client_paths("/room_keys/keys"))
async def put_all_keys(request: Request) -> Response:
    """PUT /_matrix/client/v3/room_keys/keys?version=

    - Stores keys in the current version only: 403 M_WRONG_ROOM_KEYS_VERSION with current_version otherwise.
    - For a session already stored, the better key is kept (verified, lower first index, fewer forwards).
    """
    who = await requester(request)
    body = await json_body(request)
    rooms = require_object(body.get("rooms"), "rooms")
    sessions = [(room_id, session_id, data) for room_id, room in rooms.items()
                for session_id, data in _sessions(room, f"rooms.{room_id}").items()]
    return json_response(await services(request).e2ee.put_room_keys(who.user_id, _version_param(request), sessions))


@route("PUT", *client_paths("/room_keys/keys/{roomId}"))
async def put_room_keys(request: Request) -> Response:
    """PUT /_matrix/client/v3/room_keys/keys/{roomId}?version=

    - As PUT /room_keys/keys, for one room.
    """
    who = await requester(request)
    body = await json_body(request)
    room_id = request.path_params["roomId"]
    sessions = [(room_id, session_id, data) for session_id, data in _sessions(body, "body").items()]
    return json_response(await services(request).e2ee.put_room_keys(who.user_id, _version_param(request), sessions))


@route("PUT", *client_paths("/room_keys/keys/{roomId}/{sessionId}"))
async def put_session_key(request: Request) -> Response:
    """PUT /_matrix/client/v3/room_keys/keys/{roomId}/{sessionId}?version=

    - As PUT /room_keys/keys, for one session.
    """
    who = await requester(request)
    body = await json_body(request)
    sessions = [(request.path_params["roomId"], request.path_params["sessionId"], body)]
    return json_response(await services(request).e2ee.put_room_keys(who.user_id, _version_param(request), sessions))


@route("GET", *client_paths("/room_keys/keys"))
async def get_all_keys(request: Request) -> Response:
    """GET /_matrix/client/v3/room_keys/keys?version=

    - Every stored key by room and session ({"rooms": {}} when empty); 404 for an unknown version.
    """
    who = await requester(request)
    rooms: dict[str, Any] = {}
    for room_id, session_id, data in await services(request).e2ee.get_room_keys(who.user_id, _version_param(request)):
        rooms.setdefault(room_id, {"sessions": {}})["sessions"][session_id] = data
    return json_response({"rooms": rooms})


@route("GET", *client_paths("/room_keys/keys/{roomId}"))
async def get_room_keys(request: Request) -> Response:
    """GET /_matrix/client/v3/room_keys/keys/{roomId}?version=

    - The room's keys by session ({"sessions": {}} when none); 404 for an unknown version.
    """
    who = await requester(request)
    rows = await services(request).e2ee.get_room_keys(
        who.user_id, _version_param(request), request.path_params["roomId"])
    return json_response({"sessions": {session_id: data for _, session_id, data in rows}})


@route("GET", *client_paths("/room_keys/keys/{roomId}/{sessionId}"))
async def get_session_key(request: Request) -> Response:
    """GET /_matrix/client/v3/room_keys/keys/{roomId}/{sessionId}?version=

    - The session's key; 404 M_NOT_FOUND when it or the version is unknown.
    """
    who = await requester(request)
    rows = await services(request).e2ee.get_room_keys(
        who.user_id, _version_param(request), request.path_params["roomId"], request.path_params["sessionId"])
    if not rows:
        raise not_found("No key for this session")
    return json_response(rows[0][2])


@route("DELETE", *client_paths("/room_keys/keys"))
async def delete_all_keys(request: Request) -> Response:
    """DELETE /_matrix/client/v3/room_keys/keys?version=

    - Deletes every key of the version; returns count and etag.
    """
    who = await requester(request)
    return json_response(await services(request).e2ee.delete_room_keys(who.user_id, _version_param(request)))


@route("DELETE", *client_paths("/room_keys/keys/{roomId}"))
async def delete_room_keys(request: Request) -> Response:
    """DELETE /_matrix/client/v3/room_keys/keys/{roomId}?version=

    - Deletes the room's keys; returns count and etag.
    """
    who = await requester(request)
    return json_response(await services(request).e2ee.delete_room_keys(
        who.user_id, _version_param(request), request.path_params["roomId"]))


@route("DELETE", *client_paths("/room_keys/keys/{roomId}/{sessionId}"))
async def delete_session_key(request: Request) -> Response:
    """DELETE /_matrix/client/v3/room_keys/keys/{roomId}/{sessionId}?version=

    - Deletes one session's key; returns count and etag.
    """
    who = await requester(request)
    return json_response(await services(request).e2ee.delete_room_keys(
        who.user_id, _version_param(request), request.path_params["roomId"], request.path_params["sessionId"]))
