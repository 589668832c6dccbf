"""Filters: stored as given, referred to by ID in /sync."""

from __future__ import annotations

from qasid.api.asgi import Request, Response
from qasid.api.http import client_paths, json_body, json_response, requester, route, services


@route("POST", *client_paths("/user/{userId}/filter"))
async def create_filter(request: Request) -> Response:
    """POST /_matrix/client/v3/user/{userId}/filter

    - Stores the filter object as given; returns {"filter_id"} (a string).
    - A filter that does not follow the filter language is 400 M_BAD_JSON and is not stored.
    - Only for the requester's own user: 403 M_FORBIDDEN otherwise.
    """
    who = await requester(request)
    body = await json_body(request)
    filter_id = await services(request).userdata.create_filter(who.user_id, request.path_params["userId"], body)
    return json_response({"filter_id": filter_id})


@route("GET", *client_paths("/user/{userId}/filter/{filterId}"))
async def get_filter(request: Request) -> Response:
    """GET /_matrix/client/v3/user/{userId}/filter/{filterId}

    - The filter exactly as it was uploaded; 404 M_NOT_FOUND for an unknown ID.
    """
    who = await requester(request)
    params = request.path_params
    return json_response(await services(request).userdata.get_filter(
        who.user_id, params["userId"], params["filterId"]))
