"""End-to-end encryption keys: upload, query, claim, changes, cross-signing keys and signatures."""

from __future__ import annotations

from qasid.api.asgi import Request, Response
from qasid.api.http import (
    client_paths,
    empty,
    json_body,
    json_response,
    requester,
    route,
    services,
    uia_operation,
)
from qasid.core.errors import missing_param


@route("POST", *client_paths("/keys/upload"))
async def upload_keys(request: Request) -> Response:
    """POST /_matrix/client/v3/keys/upload

    - device_keys must name this user and device and be signed by the device's own ed25519 key.
    - A device's ed25519 key never changes; a device ID equal to a cross-signing public key is refused.
    - signed_curve25519 one-time and fallback keys must be signed by the device; at most one fallback per algorithm.
    - New or changed device keys are a device-list change, announced to everyone sharing a room.
    """
    who = await requester(request)
    body = await json_body(request)
    return json_response(await services(request).e2ee.upload_keys(who, body))


@route("POST", *client_paths("/keys/query"))
async def query_keys(request: Request) -> Response:
    """POST /_matrix/client/v3/keys/query

    - Device keys with unsigned.device_display_name, master and self-signing keys.
    - The user-signing key only of the requester's own user.
    - Only users who share a room with the requester (or the requester) have devices; others come back empty.
    """
    who = await requester(request)
    body = await json_body(request)
    return json_response(await services(request).e2ee.query_keys(who, body))


@route("POST", *client_paths("/keys/claim"))
async def claim_keys(request: Request) -> Response:
    """POST /_matrix/client/v3/keys/claim

    - Each one-time key is handed out at most once, oldest upload first, even to concurrent claims.
    - When a device has none left, its fallback key is returned (and reported used in /sync).
    """
    who = await requester(request)
    body = await json_body(request)
    return json_response(await services(request).e2ee.claim_keys(who, body))


@route("GET", *client_paths("/keys/changes"))
async def key_changes(request: Request) -> Response:
    """GET /_matrix/client/v3/keys/changes

    - Users sharing a room with the requester whose device lists changed between two sync tokens.
    - from and to are required; a malformed token is 400 M_INVALID_PARAM.
    """
    who = await requester(request)
    from_token = request.query_params.get("from")
    to_token = request.query_params.get("to")
    if not from_token or not to_token:
        raise missing_param("Query parameters from and to are required")
    return json_response(await services(request).e2ee.key_changes(who, from_token, to_token))


@route("POST", *client_paths("/keys/device_signing/upload"))
async def upload_cross_signing_keys(request: Request) -> Response:
    """POST /_matrix/client/v3/keys/device_signing/upload

    - The first upload needs no further auth; so does re-uploading exactly the keys already stored.
    - Replacing existing keys requires user-interactive auth with the password.
    - Self- and user-signing keys must be signed by the master key: 400 M_INVALID_SIGNATURE otherwise.
    - A public key equal to one of the user's device IDs is 403 M_FORBIDDEN.
    """
    who = await requester(request)
    body = await json_body(request)
    svc = services(request)

    async def authorize() -> None:
        await svc.accounts.require_password_uia(who, uia_operation(request, body))

    await svc.e2ee.upload_cross_signing_keys(who, body, authorize)
    return empty()


@route("POST", *client_paths("/keys/signatures/upload"))
async def upload_signatures(request: Request) -> Response:
    """POST /_matrix/client/v3/keys/signatures/upload

    - Each signed object must match the stored key apart from its signatures.
    - Only the requester's signatures, made with their device or cross-signing keys and verified, are kept.
    - Failures per user and key: M_INVALID_SIGNATURE, M_NOT_FOUND or M_INVALID_PARAM.
    """
    who = await requester(request)
    body = await json_body(request)
    return json_response(await services(request).e2ee.upload_signatures(who, body))
