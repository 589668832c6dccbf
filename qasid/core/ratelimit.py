"""Token-bucket rate limits, answered with 429 M_LIMIT_EXCEEDED and Retry-After."""

from __future__ import annotations

import time

from qasid.config import RateLimit
from qasid.core.errors import limit_exceeded

MAX_KEYS = 100_000


class RateLimiter:
    """Buckets per (action, key). In memory: a restart forgives, which is acceptable for abuse control."""

    def __init__(self, limits: dict[str, RateLimit], enabled: bool = True) -> None:
        self.limits = limits
        self.enabled = enabled
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}

    def check(self, action: str, key: str, cost: float = 1.0) -> None:
        """Take `cost` from the bucket, or raise 429 saying when to come back."""
        if not self.enabled:
            return
        limit = self.limits[action]
        now = time.monotonic()
        tokens, stamp = self._buckets.get((action, key), (float(limit.burst), now))
        tokens = min(float(limit.burst), tokens + (now - stamp) * limit.per_second)
        if tokens < cost:
            wait_ms = int((cost - tokens) / limit.per_second * 1000) + 1
            raise limit_exceeded(wait_ms)
        if len(self._buckets) > MAX_KEYS:
            self._buckets.clear()
        self._buckets[(action, key)] = (tokens - cost, now)
