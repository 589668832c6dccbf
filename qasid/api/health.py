"""Probes for load balancers and orchestrators: is the process alive, and should it get traffic."""

from __future__ import annotations

from qasid.api.asgi import Request, Response
from qasid.api.http import json_response, route


@route("GET", "/_qasid/health")
async def get_health(request: Request) -> Response:
    """GET /_qasid/health

    - Liveness: 200 whenever the process answers at all; touches nothing else.
    """
    return json_response({"status": "ok"})


@route("GET", "/_qasid/ready")
async def get_ready(request: Request) -> Response:
    """GET /_qasid/ready

    - 200 when the database opens and its schema is this build's; 503 with the reason otherwise,
      and while the server is stopping.
    """
    problem = await request.app.services.readiness_problem()
    if problem is not None:
        return json_response({"status": "unavailable", "reason": problem}, 503)
    return json_response({"status": "ready"})
