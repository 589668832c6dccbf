"""Plain in-process counters the server keeps as it works; `metrics.py` exposes them to Prometheus.

They live below every layer (the store counts commits, the router counts requests) and cost an
integer add on the hot path: no locks and no label dictionaries. Reading them happens on the
metrics listener's thread at scrape time, where a value a few increments stale is harmless.
"""

from __future__ import annotations

from bisect import bisect_left

# Upper bounds (seconds) of the latency buckets: a cached /versions answer to a long-poll's 30 s.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
# Upper bounds of a group commit's size (writes per transaction); the writer takes at most 512.
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


class Histogram:
    """Observations counted per bucket, with their sum (the last count is above every bound)."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        """Count one observation."""
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value

    def cumulative(self) -> list[tuple[str, int]]:
        """Prometheus buckets: (upper bound, observations at or below it), ending with +Inf."""
        total, out = 0, []
        for bound, count in zip((*self.bounds, float("inf")), self.counts, strict=True):
            total += count
            out.append(("+Inf" if bound == float("inf") else repr(float(bound)), total))
        return out


class DatabaseStats:
    """What the database did: writes committed in how large batches, and the time spent in SQLite."""

    __slots__ = ("commit_batches", "commit_seconds", "events_persisted", "read_seconds", "reads")

    def __init__(self) -> None:
        self.commit_batches = Histogram(BATCH_BUCKETS)
        self.commit_seconds = Histogram(LATENCY_BUCKETS)
        self.read_seconds = 0.0
        self.reads = 0
        self.events_persisted = 0


class RequestStats:
    """Requests answered, by route template, method and status, with their latency by route and method."""

    __slots__ = ("counts", "latency")

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str, int], int] = {}
        self.latency: dict[tuple[str, str], Histogram] = {}

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one answered request (`route` is the template, never the path as sent)."""
        key = (route, method, status)
        self.counts[key] = self.counts.get(key, 0) + 1
        histogram = self.latency.get((route, method))
        if histogram is None:
            histogram = self.latency[(route, method)] = Histogram(LATENCY_BUCKETS)
        histogram.observe(seconds)
