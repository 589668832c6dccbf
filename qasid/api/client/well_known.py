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


def support_document(settings: Settings) -> dict[str, Any] | None:
    """MSC1929's support document from the operator's settings; None when none is configured."""
    contacts = [_contact(value, role) for role, values in (("m.role.admin", settings.support_admin_contacts),
                                                            ("m.role.security", settings.support_security_contacts))
                for value in values]
    if not contacts and not settings.support_page:
        return None
    document: dict[str, Any] = {"contacts": contacts} if contacts else {}
    if settings.support_page:
        document["support_page"] = settings.support_page
    return document


def _contact(value: str, role: str) -> dict[str, str]:
    return {"matrix_id" if value.startswith("@") else "email_address": value, "role": role}


@route("GET", "/.well-known/matrix/support")
async def get_well_known_support(request: Request) -> Response:
    """GET /.well-known/matrix/support

    - Whom to contact about this server (admin and security contacts) and its support page, from
      the operator's settings; 404 M_NOT_FOUND when none is configured.
    """
    document = support_document(services(request).settings)
    if document is None:
        raise not_found("No support information is configured")
    return json_response(document)


@route("GET", "/.well-known/matrix/policy_server")
async def get_well_known_policy_server(request: Request) -> Response:
    """GET /.well-known/matrix/policy_server

    - 404 M_NOT_FOUND, the spec's "no information available": there is no policy server.
    """
    raise not_found("No policy server is published here")
