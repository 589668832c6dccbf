"""Profiles: display name and avatar URL of local users."""

from __future__ import annotations

from qasid.api.asgi import Request, Response
from qasid.api.http import client_paths, empty, json_body, json_response, requester, route, services
from qasid.core.errors import MatrixError, missing_param, not_found
from qasid.core.suspension import refuse_if_suspended


@route("GET", *client_paths("/profile/{userId}"))
async def get_profile(request: Request) -> Response:
    """GET /_matrix/client/v3/profile/{userId}

    - {displayname?, avatar_url?}; 404 M_NOT_FOUND for an unknown or deactivated user.
    - Authenticated: profiles are not published to the unauthenticated world.
    - 403 M_FORBIDDEN for a user you share no room with and your unit's directory scope
      does not reach, whether or not the account exists.
    """
    who = await requester(request)
    return json_response(await services(request).userdata.get_profile(who.user_id, request.path_params["userId"]))


@route("GET", *client_paths("/profile/{userId}/{keyName}"))
async def get_profile_field(request: Request) -> Response:
    """GET /_matrix/client/v3/profile/{userId}/{keyName}

    - {keyName: value}; 404 M_NOT_FOUND if the user or the field does not exist.
    - 403 M_FORBIDDEN where the whole profile would be refused.
    """
    who = await requester(request)
    key = request.path_params["keyName"]
    profile = await services(request).userdata.get_profile(who.user_id, request.path_params["userId"])
    if key not in profile:
        raise not_found(f"No {key} in this profile")
    return json_response({key: profile[key]})


@route("PUT", *client_paths("/profile/{userId}/{keyName}"))
async def set_profile_field(request: Request) -> Response:
    """PUT /_matrix/client/v3/profile/{userId}/{keyName}

    - Sets your own displayname or avatar_url (an mxc:// URI) from the body's {keyName: value};
      an empty string or null removes it. Other fields: 403 M_FORBIDDEN.
    - Your rooms get an updated m.room.member event.
    """
    who = await requester(request)
    refuse_if_suspended(who, "change your profile")
    body = await json_body(request)
    key = request.path_params["keyName"]
    if key not in body:
        raise missing_param(f"Missing field: {key}")
    value = body[key]
    if value is not None and not isinstance(value, str):
        raise MatrixError(400, "M_BAD_JSON", f"{key} must be a string")
    await services(request).userdata.set_profile_field(who.user_id, request.path_params["userId"], key, value)
    return empty()


@route("DELETE", *client_paths("/profile/{userId}/{keyName}"))
async def delete_profile_field(request: Request) -> Response:
    """DELETE /_matrix/client/v3/profile/{userId}/{keyName}

    - Removes your own displayname or avatar_url.
    """
    who = await requester(request)
    refuse_if_suspended(who, "change your profile")
    key = request.path_params["keyName"]
    await services(request).userdata.set_profile_field(who.user_id, request.path_params["userId"], key, None)
    return empty()
