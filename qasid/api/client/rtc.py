"""MatrixRTC (MSC4143): where clients find the call service for group calls."""

from __future__ import annotations

from qasid.api.asgi import Request, Response
from qasid.api.client.well_known import rtc_transports
from qasid.api.http import json_response, requester, route, services


@route("GET", "/_matrix/client/unstable/org.matrix.msc4143/rtc/transports")
async def get_rtc_transports(request: Request) -> Response:
    """GET /_matrix/client/unstable/org.matrix.msc4143/rtc/transports

    - {"rtc_transports": [{"type": "livekit", "livekit_service_url": ...}]}: the operator's LiveKit
      JWT service from livekit_service_url; {} when none is set.
    """
    await requester(request)
    settings = services(request).settings
    return json_response({"rtc_transports": rtc_transports(settings)} if settings.livekit_service_url else {})
