"""Admin API: enrollment tokens, bound to a unit, redeemed through the spec's registration-token flow."""

from __future__ import annotations

from qasid.api.admin.auth import government
from qasid.api.admin.routing import INT, NUM, STR, admin_request, admin_route, obj
from qasid.api.asgi import Request, Response
from qasid.api.http import empty, json_response
from qasid.gov.enrollment import token_json

TOKEN = obj({"token_id": STR, "unit_id": INT, "person_name": STR, "designation": STR, "issued_by": STR,
             "uses_allowed": INT, "completed": INT, "expiry_time": INT})
ISSUED_TOKEN = obj({"token": STR, **TOKEN["properties"]})


@admin_route("GET", "/enrollment_tokens", response=obj({"tokens": {"type": "array", "items": TOKEN}}))
async def list_tokens(request: Request) -> Response:
    """GET /_qasid/admin/v1/enrollment_tokens

    - Tokens of the units the admin covers, newest first, with uses and expiry, each by its token_id.
    """
    scope, _ = await admin_request(request)
    return json_response({"tokens": [token_json(t) for t in government(request).enrollment.list_tokens(scope)]})


@admin_route("POST", "/enrollment_tokens", response=ISSUED_TOKEN, body=obj(
    {"unit_id": INT, "uses_allowed": INT, "expiry_days": NUM, "person_name": STR, "designation": STR}, ["unit_id"]))
async def issue_token(request: Request) -> Response:
    """POST /_qasid/admin/v1/enrollment_tokens

    - A token for a unit the admin covers: uses_allowed (default 1), expiry_days (default 7).
    - The official who redeems it lands in that unit with the designation (and person_name as display name).
    - The only response that carries the token: the server keeps its hash; lists show its token_id.
    """
    scope, body = await admin_request(request, with_body=True)
    token, issued = await government(request).enrollment.issue_token(scope, body)
    return json_response(token_json(issued, token))


@admin_route("GET", "/enrollment_tokens/{token}", response=TOKEN)
async def get_token(request: Request) -> Response:
    """GET /_qasid/admin/v1/enrollment_tokens/{token}

    - {token} is its token_id (sha256:…) or the token itself; never shown back.
    - 404 M_NOT_FOUND for an unknown token or one of a unit the admin doesn't cover.
    """
    scope, _ = await admin_request(request)
    return json_response(token_json(government(request).enrollment.get_token(scope, request.path_params["token"])))


@admin_route("DELETE", "/enrollment_tokens/{token}")
async def revoke_token(request: Request) -> Response:
    """DELETE /_qasid/admin/v1/enrollment_tokens/{token}

    - {token} is its token_id (sha256:…) or the token itself.
    - The token can't be redeemed any more, even by a registration already under way.
    """
    scope, _ = await admin_request(request)
    await government(request).enrollment.revoke_token(scope, request.path_params["token"])
    return empty()
