"""The user directory and the room directory (aliases and published rooms)."""

from __future__ import annotations

from qasid.api.asgi import Request, Response
from qasid.api.http import (
    client_paths,
    empty,
    json_body,
    json_response,
    optional,
    query_int,
    requester,
    require,
    route,
    services,
)
from qasid.core.errors import not_found
from qasid.core.suspension import refuse_if_suspended

MAX_SEARCH_LIMIT = 100


@route("POST", *client_paths("/user_directory/search"))
async def search_user_directory(request: Request) -> Response:
    """POST /_matrix/client/v3/user_directory/search

    - Case-insensitive match on user ID and display name among local, active users.
    - Only users the organisation's policy lets the searcher see (Policy.visible_in_directory).
    - limit defaults to 10, at most 100; `limited` says more matched.
    """
    who = await requester(request)
    body = await json_body(request)
    term = require(body, "search_term", str)
    limit = max(1, min(MAX_SEARCH_LIMIT, optional(body, "limit", int, 10)))
    svc = services(request)
    return json_response(await svc.userdata.search_users(who.user_id, term.strip(), limit, svc.policy))


@route("GET", *client_paths("/publicRooms"))
async def get_public_rooms(request: Request) -> Response:
    """GET /_matrix/client/v3/publicRooms

    - The published rooms of this server, largest first, paged with limit/since.
    - Another server's directory (`server`): 404 M_NOT_FOUND, as there is no federation.
    """
    await requester(request)
    _local_only(request)
    limit = query_int(request, "limit", None, lo=1, hi=500)
    page = await services(request).userdata.directory.public_rooms(
        limit, request.query_params.get("since"), None)
    return json_response(page)


@route("POST", *client_paths("/publicRooms"))
async def search_public_rooms(request: Request) -> Response:
    """POST /_matrix/client/v3/publicRooms

    - As GET, with filter.generic_search_term matched against name, topic and alias.
    """
    await requester(request)
    _local_only(request)
    body = await json_body(request, allow_empty=True)
    limit = optional(body, "limit", int)
    search_filter = optional(body, "filter", dict, {})
    term = optional(search_filter, "generic_search_term", str)
    page = await services(request).userdata.directory.public_rooms(
        max(1, limit) if limit is not None else None, optional(body, "since", str), term)
    return json_response(page)


@route("GET", *client_paths("/directory/room/{roomAlias}"))
async def resolve_alias(request: Request) -> Response:
    """GET /_matrix/client/v3/directory/room/{roomAlias}

    - {room_id, servers}; 404 M_NOT_FOUND for unknown (and all remote) aliases.
    """
    await requester(request)
    return json_response(await services(request).userdata.directory.resolve_alias(request.path_params["roomAlias"]))


@route("PUT", *client_paths("/directory/room/{roomAlias}"))
async def create_alias(request: Request) -> Response:
    """PUT /_matrix/client/v3/directory/room/{roomAlias}

    - Maps a new alias on this server to a room you are joined to (403 M_FORBIDDEN otherwise).
    - 409 if the alias exists; 400 M_INVALID_PARAM for a malformed or remote alias.
    """
    who = await requester(request)
    refuse_if_suspended(who, "create room aliases")
    body = await json_body(request)
    await services(request).userdata.directory.create_alias(
        who.user_id, request.path_params["roomAlias"], require(body, "room_id", str))
    return empty()


@route("DELETE", *client_paths("/directory/room/{roomAlias}"))
async def delete_alias(request: Request) -> Response:
    """DELETE /_matrix/client/v3/directory/room/{roomAlias}

    - Only the alias's creator or a server admin; 404 M_NOT_FOUND if it does not exist.
    """
    who = await requester(request)
    refuse_if_suspended(who, "delete room aliases")
    await services(request).userdata.directory.delete_alias(
        who.user_id, who.is_admin, request.path_params["roomAlias"])
    return empty()


@route("GET", *client_paths("/directory/list/room/{roomId}"))
async def get_room_visibility(request: Request) -> Response:
    """GET /_matrix/client/v3/directory/list/room/{roomId}

    - {"visibility": "public" | "private"}; 404 M_NOT_FOUND for an unknown room.
    """
    await requester(request)
    visibility = await services(request).userdata.directory.get_visibility(request.path_params["roomId"])
    return json_response({"visibility": visibility})


@route("PUT", *client_paths("/directory/list/room/{roomId}"))
async def set_room_visibility(request: Request) -> Response:
    """PUT /_matrix/client/v3/directory/list/room/{roomId}

    - Publishes or unpublishes the room; members with power to set its canonical alias, or admins.
    - visibility defaults to "public" when absent, as the spec's body makes it optional.
    """
    who = await requester(request)
    refuse_if_suspended(who, "publish rooms")
    body = await json_body(request, allow_empty=True)
    visibility = optional(body, "visibility", str, "public")
    await services(request).userdata.directory.set_visibility(
        who.user_id, who.is_admin, request.path_params["roomId"], visibility)
    return empty()


def _local_only(request: Request) -> None:
    server = request.query_params.get("server")
    if server and server != services(request).settings.server_name:
        raise not_found("Only this server's room directory is available")


@route("GET", *client_paths("/rooms/{roomId}/aliases"))
async def get_local_aliases(request: Request) -> Response:
    """GET /_matrix/client/v3/rooms/{roomId}/aliases

    - The room's local aliases (this server's only; no federation), for its joined members or
      anyone when its history is world_readable; 403 M_FORBIDDEN otherwise, unknown rooms included.
    """
    who = await requester(request)
    directory = services(request).userdata.directory
    return json_response({"aliases": await directory.local_aliases(who.user_id, request.path_params["roomId"])})
