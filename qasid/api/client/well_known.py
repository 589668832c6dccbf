"""Server discovery through /.well-known."""

from __future__ import annotations

from typing import Any

from qasid.api.asgi import Request, Response
from qasid.api.http import json_response, route, services
from qasid.config import Settings
from qasid.core.errors import not_found


def call_services(settings: Settings) -> dict[str, Any]:
    """What the operator runs for calls and maps, so that clients use it and nothing abroad."""
    found: dict[str, Any] = {}
    if settings.livekit_service_url:
        found["org.matrix.msc4143.rtc_foci"] = rtc_transports(settings)
    if settings.jitsi_domain:
        found["io.element.jitsi"] = {"preferredDomain": settings.jitsi_domain}
    if settings.map_style_url:
        found["m.tile_server"] = {"map_style_url": settings.map_style_url}
    return found


def rtc_transports(settings: Settings) -> list[dict[str, str]]:
    """The MatrixRTC foci (MSC4143): the operator's LiveKit JWT service."""
    return [{"type": "livekit", "livekit_service_url": settings.livekit_service_url}]


@route("GET", "/.well-known/matrix/client")
async def get_well_known_client(request: Request) -> Response:
    """GET /.well-known/matrix/client

    - Points clients at this server's base URL; tells Element, from policy, that encryption is on by default
      and whether secure backup is required.
    - Announces the operator's call service (org.matrix.msc4143.rtc_foci), Jitsi domain (io.element.jitsi)
      and map tiles (m.tile_server) when set, so clients don't fall back to public ones.
    """
    svc = services(request)
    # The io.element.e2ee hints (encryption on by default, secure backup required) come from policy.
    return json_response({
        "m.homeserver": {"base_url": svc.settings.base_url},
        **await svc.policy.client_well_known(),
        **call_services(svc.settings),
    })


@route("GET", "/.well-known/matrix/support", "/.well-known/matrix/policy_server")
async def get_well_known_none(request: Request) -> Response:
    """GET /.well-known/matrix/support

    - Also /.well-known/matrix/policy_server: 404 M_NOT_FOUND, the spec's "no information
      available" (no support contacts published; no policy server).
    """
    raise not_found("No information is published here")
