"""Discovery: which spec versions and unstable features this server speaks."""

from __future__ import annotations

from qasid.api.asgi import Request, Response
from qasid.api.http import json_response, route, services

# A version is listed only when every endpoint it (or an earlier version) added is served or refused
# by design with the spec's error: tests/api/test_versions.py checks it against the spec's OpenAPI.
# README ("Discovery") lists, per version since v1.14, what it added besides endpoints and what qasid does.
SPEC_VERSIONS = [f"v1.{minor}" for minor in range(1, 20)] + ["r0.6.1"]

# Element reads these to know that encryption is forced and cannot be switched off: so they are
# true only when policy forces it for every account (see Policy.encryption_forced).
E2EE_FORCED = ("io.element.e2ee_forced.public", "io.element.e2ee_forced.private",
               "io.element.e2ee_forced.trusted_private")
UNSTABLE_FEATURES = {
    "org.matrix.e2e_cross_signing": True,
    # Simplified Sliding Sync (MSC4186): Element X refuses a server without it.
    "org.matrix.simplified_msc3575": True,
    # Delayed events (MSC4140): MatrixRTC ends a call membership with one when a device vanishes.
    "org.matrix.msc4140": True,
    # state_after in /sync (MSC4222), which Element Call asks for.
    "org.matrix.msc4222": True,
    # The room summary (MSC3266) at its unstable paths, for clients that look for the flag first.
    "im.nheko.summary": True,
}


@route("GET", "/_matrix/client/versions")
async def get_versions(request: Request) -> Response:
    """GET /_matrix/client/versions

    - Unauthenticated; lists the spec versions whose endpoints are all served (v1.1 to v1.19).
    - The io.element.e2ee_forced.* flags are true only if policy forces encryption on every account.
    """
    forced = await services(request).policy.encryption_forced()
    features = {**{flag: forced for flag in E2EE_FORCED}, **UNSTABLE_FEATURES}
    return json_response({"versions": SPEC_VERSIONS, "unstable_features": features})


@route("GET", "/_matrix/client/v1/auth_metadata", "/_matrix/client/unstable/org.matrix.msc2965/auth_metadata")
async def get_auth_metadata(request: Request) -> Response:
    """GET /_matrix/client/v1/auth_metadata

    - qasid uses password login, not OAuth 2.0: 404 M_UNRECOGNIZED tells clients so.
    """
    return json_response({"errcode": "M_UNRECOGNIZED", "error": "OAuth 2.0 is not supported"}, 404)
