"""Send-to-device messaging."""

from __future__ import annotations

from qasid.api.asgi import Request, Response
from qasid.api.http import client_paths, empty, json_body, requester, route, services


@route("PUT", *client_paths("/sendToDevice/{eventType}/{txnId}"))
async def send_to_device(request: Request) -> Response:
    """PUT /_matrix/client/v3/sendToDevice/{eventType}/{txnId}

    - Queued per device; device `*` means every device of that user; unknown devices are skipped.
    - The sender is always the authenticated user.
    - A repeated txnId from the same device is stored once (recorded in the same commit).
    - m.room.encrypted with algorithm m.megolm.v1.aes-sha2 is refused with 400 M_INVALID_PARAM.
    """
    who = await requester(request)
    body = await json_body(request)
    await services(request).e2ee.send_to_device(
        who, request.path_params["eventType"], request.path_params["txnId"], body)
    return empty()
