"""What the router records about each answered request: a request ID, metrics, one log line.

Nothing here sees a path as sent, a query string or a body: requests are named by their route
template (`/_matrix/client/v3/rooms/{roomId}/send/...`), so neither an access token given as
`?access_token=` nor a user or room ID reaches a metric label or a log line.
"""

from __future__ import annotations

import itertools
import logging
import os
import re

from qasid.api.asgi import Scope
from qasid.stats import RequestStats

request_log = logging.getLogger("qasid.request")

# Names of requests that matched no route: one label each, never the path.
UNMATCHED = "(unmatched)"
PREFLIGHT = "(preflight)"
# An ID a proxy in front already gave the request (nginx: proxy_set_header X-Request-ID
# $request_id) is kept, so one ID follows the request through both logs; anything else is replaced.
_GIVEN_ID = re.compile(rb"[A-Za-z0-9._-]{1,64}")


class RequestObserver:
    """Assigns request IDs; counts requests for the metrics and logs them, each only if asked."""

    def __init__(self, stats: RequestStats | None, log_requests: bool) -> None:
        self.stats = stats
        self.log_requests = log_requests
        self._prefix = os.urandom(4).hex().encode() + b"-"  # IDs stay unique across restarts
        self._sequence = itertools.count(1)

    def request_id(self, scope: Scope) -> bytes:
        """The ID of this request: the proxy's if it sent a sane one, else this process's next."""
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                if _GIVEN_ID.fullmatch(value):
                    return bytes(value)
                break
        return b"%s%x" % (self._prefix, next(self._sequence))

    def finished(self, route: str, method: str, status: int, seconds: float, request_id: bytes) -> None:
        """Record one answered (or abandoned) request."""
        if self.stats is not None:
            self.stats.observe(route, method, status, seconds)
        if self.log_requests:
            duration_ms = round(seconds * 1000, 3)
            rid = request_id.decode("ascii")
            request_log.info(
                "%s %s %d %.1fms id=%s", method, route, status, duration_ms, rid,
                extra={"request": {"request_id": rid, "method": method, "route": route,
                                   "status": status, "duration_ms": duration_ms}})
