"""Client config: global and per-room account data, and room tags (room account data m.tag)."""

from __future__ import annotations

from qasid.api.asgi import Request, Response
from qasid.api.http import client_paths, empty, json_body, json_response, requester, route, services


@route("GET", *client_paths("/user/{userId}/account_data/{type}"))
async def get_global_account_data(request: Request) -> Response:
    """GET /_matrix/client/v3/user/{userId}/account_data/{type}

    - Only the requester's own account data: 403 M_FORBIDDEN for another user.
    - 404 M_NOT_FOUND for a type never set; m.push_rules is the user's merged ruleset.
    """
    who = await requester(request)
    params = request.path_params
    return json_response(await services(request).userdata.get_account_data(
        who.user_id, params["userId"], None, params["type"]))


@route("PUT", *client_paths("/user/{userId}/account_data/{type}"))
async def set_global_account_data(request: Request) -> Response:
    """PUT /_matrix/client/v3/user/{userId}/account_data/{type}

    - Replaces the content; it appears in the user's next /sync top-level account_data.
    - m.push_rules is refused with 405 M_BAD_JSON (it is changed through /pushrules).
    """
    who = await requester(request)
    body = await json_body(request, allow_empty=False)
    params = request.path_params
    await services(request).userdata.set_account_data(who.user_id, params["userId"], None, params["type"], body)
    return empty()


@route("GET", *client_paths("/user/{userId}/rooms/{roomId}/account_data/{type}"))
async def get_room_account_data(request: Request) -> Response:
    """GET /_matrix/client/v3/user/{userId}/rooms/{roomId}/account_data/{type}

    - Only the requester's own account data: 403 M_FORBIDDEN for another user.
    - 404 M_NOT_FOUND for a type never set in this room.
    """
    who = await requester(request)
    params = request.path_params
    return json_response(await services(request).userdata.get_account_data(
        who.user_id, params["userId"], params["roomId"], params["type"]))


@route("PUT", *client_paths("/user/{userId}/rooms/{roomId}/account_data/{type}"))
async def set_room_account_data(request: Request) -> Response:
    """PUT /_matrix/client/v3/user/{userId}/rooms/{roomId}/account_data/{type}

    - Replaces the content; it appears in the room's account_data in the user's next /sync.
    - m.fully_read is refused with 405 M_BAD_JSON (it is set through /read_markers).
    """
    who = await requester(request)
    body = await json_body(request)
    params = request.path_params
    await services(request).userdata.set_account_data(
        who.user_id, params["userId"], params["roomId"], params["type"], body)
    return empty()


@route("GET", *client_paths("/user/{userId}/rooms/{roomId}/tags"))
async def get_tags(request: Request) -> Response:
    """GET /_matrix/client/v3/user/{userId}/rooms/{roomId}/tags

    - The requester's tags on the room: {"tags": {tag: {order?}}}, empty if none.
    """
    who = await requester(request)
    params = request.path_params
    tags = await services(request).userdata.get_tags(who.user_id, params["userId"], params["roomId"])
    return json_response({"tags": tags})


@route("PUT", *client_paths("/user/{userId}/rooms/{roomId}/tags/{tag}"))
async def put_tag(request: Request) -> Response:
    """PUT /_matrix/client/v3/user/{userId}/rooms/{roomId}/tags/{tag}

    - Adds or replaces one tag; the body ({order?}) is stored as the tag's value.
    """
    who = await requester(request)
    body = await json_body(request, allow_empty=True)
    params = request.path_params
    await services(request).userdata.set_tag(who.user_id, params["userId"], params["roomId"], params["tag"], body)
    return empty()


@route("DELETE", *client_paths("/user/{userId}/rooms/{roomId}/tags/{tag}"))
async def delete_tag(request: Request) -> Response:
    """DELETE /_matrix/client/v3/user/{userId}/rooms/{roomId}/tags/{tag}

    - Removes one tag; removing an absent tag succeeds.
    """
    who = await requester(request)
    params = request.path_params
    await services(request).userdata.set_tag(who.user_id, params["userId"], params["roomId"], params["tag"], None)
    return empty()
