"""Prometheus metrics on a listener of their own (loopback by default), read from `stats.py`'s counters.

The counters are kept by whoever does the work, at the cost of an integer add; this module only
turns them into Prometheus' text format when scraped, on the listener's thread. No label ever
holds a user ID, room ID or path as sent: requests are labelled by route template.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
    start_http_server,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from qasid.config import SettingsError
from qasid.core.notifier import Notifier
from qasid.stats import DatabaseStats, RequestStats


class QasidCollector(Collector):
    """Turns qasid's counters into metric families at scrape time."""

    def __init__(self, requests: RequestStats, database: DatabaseStats, notifier: Notifier) -> None:
        self.requests = requests
        self.database = database
        self.notifier = notifier

    def collect(self) -> Iterator[Metric]:
        counts = CounterMetricFamily(
            "qasid_http_requests", "Requests answered, by route template, method and status",
            labels=["route", "method", "status"])
        for (route, method, status), count in list(self.requests.counts.items()):
            counts.add_metric([route, method, str(status)], count)
        yield counts
        latency = HistogramMetricFamily(
            "qasid_http_request_duration_seconds", "Time from request to answer sent, by route template and method",
            labels=["route", "method"])
        for (route, method), histogram in list(self.requests.latency.items()):
            latency.add_metric([route, method], histogram.cumulative(), histogram.sum)
        yield latency
        db = self.database
        yield CounterMetricFamily("qasid_events_persisted", "Room events durably committed", value=db.events_persisted)
        parked = GaugeMetricFamily(
            "qasid_parked_long_polls", "Long-polls (/sync, sliding sync) waiting for news", labels=["kind"])
        for kind, waiting in list(self.notifier.parked.items()):
            parked.add_metric([kind], waiting)
        yield parked
        batches = HistogramMetricFamily("qasid_db_commit_batch_size", "Writes committed together in one transaction")
        batches.add_metric([], db.commit_batches.cumulative(), db.commit_batches.sum)
        yield batches
        commits = HistogramMetricFamily(
            "qasid_db_commit_duration_seconds", "Time the writer spent per group commit, fsync included")
        commits.add_metric([], db.commit_seconds.cumulative(), db.commit_seconds.sum)
        yield commits
        yield CounterMetricFamily("qasid_db_read_seconds", "Time spent in SQLite reads", value=db.read_seconds)
        yield CounterMetricFamily("qasid_db_reads", "SQLite reads on the reader connection", value=db.reads)


def serve_metrics(bind: str, app: Any) -> None:
    """Start the metrics listener on `bind` (HOST:PORT) in a thread of its own; a port in use is a SettingsError."""
    registry = CollectorRegistry(auto_describe=True)
    services = app.services
    registry.register(QasidCollector(app.observer.stats, services.store.db.stats, services.notifier))
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    host, _, port = bind.rpartition(":")
    try:
        start_http_server(int(port), addr=host.strip("[]"), registry=registry)
    except OSError as e:
        raise SettingsError(f"metrics_bind {bind}: can't listen there: {e.strerror or e}"
                            " (set metrics_bind to a free HOST:PORT, or empty to turn metrics off)") from None
