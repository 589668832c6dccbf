"""Medians over repetitions, ratios between servers, and the targets of issue 4, as one table."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Runs = dict[str, list[dict[str, Any]]]  # phase name -> one result per repetition


@dataclass(frozen=True)
class Metric:
    """One row: how to read it from a phase result, and the target (on qasid/Synapse unless absolute)."""

    label: str
    phase: str
    read: Callable[[dict[str, Any]], float | None]
    target: str = ""
    check: Callable[[float | None, float | None, float | None], bool] | None = None


def _lat(key: str, pct: str) -> Callable[[dict[str, Any]], float | None]:
    return lambda r: (r.get(key) or {}).get(pct)


def _ratio_at_least(x: float) -> Callable[[float | None, float | None, float | None], bool]:
    return lambda q, s, t: q is not None and s not in (None, 0) and q / s >= x


def _ratio_at_most(x: float) -> Callable[[float | None, float | None, float | None], bool]:
    return lambda q, s, t: q is not None and s not in (None, 0) and q / s <= x


def _trivial_at_least(x: float) -> Callable[[float | None, float | None, float | None], bool]:
    return lambda q, s, t: q is not None and t not in (None, 0) and q / t >= x


METRICS = [
    Metric("8 senders + 8 syncing: events/s", "send_8", lambda r: r["events_per_s"],
           "≥ 50× Synapse", _ratio_at_least(50)),
    Metric("8 senders: qasid / trivial ceiling", "send_8", lambda r: r["events_per_s"],
           "≥ 0.30 of trivial", _trivial_at_least(0.30)),
    Metric("8 senders: send p50 ms", "send_8", _lat("send_latency", "p50_ms")),
    Metric("8 senders: send p99 ms", "send_8", _lat("send_latency", "p99_ms")),
    Metric("8 senders: delivery p99 ms", "send_8", _lat("delivery", "p99_ms")),
    Metric("8 senders: delivered fraction", "send_8", _lat("delivery", "fraction"),
           "1.0", lambda q, s, t: q == 1.0),
    Metric("8 senders: server CPU %", "send_8", lambda r: r["resources"].get("server_cpu_pct")),
    Metric("8 senders: server peak RSS MB", "send_8", lambda r: r["resources"].get("server_peak_rss_mb")),
    Metric("8 senders: loadgen CPU %", "send_8", lambda r: r["resources"]["loadgen_cpu_pct"]),
    Metric("64 senders + 8 syncing: events/s", "send_64", lambda r: r["events_per_s"],
           "≥ 50× Synapse", _ratio_at_least(50)),
    Metric("64 senders: qasid / trivial ceiling", "send_64", lambda r: r["events_per_s"],
           "≥ 0.30 of trivial", _trivial_at_least(0.30)),
    Metric("64 senders: send p99 ms", "send_64", _lat("send_latency", "p99_ms")),
    Metric("64 senders: delivered fraction", "send_64", _lat("delivery", "fraction"),
           "1.0", lambda q, s, t: q == 1.0),
    Metric("64 senders: server CPU %", "send_64", lambda r: r["resources"].get("server_cpu_pct")),
    Metric("64 senders: loadgen CPU %", "send_64", lambda r: r["resources"]["loadgen_cpu_pct"]),
    Metric("20/s offered (same load): send p99 ms", "offered_20", _lat("send_latency", "p99_ms"),
           "≤ 1/20 of Synapse", _ratio_at_most(0.05)),
    Metric("20/s offered: delivery p99 ms", "offered_20", _lat("delivery", "p99_ms")),
    Metric("500/s offered: achieved events/s", "offered_500", lambda r: r["events_per_s"]),
    Metric("500/s offered: send p99 ms", "offered_500", _lat("send_latency", "p99_ms")),
    Metric("500/s offered: delivery p50 ms", "offered_500", _lat("delivery", "p50_ms")),
    Metric("500/s offered: delivery p99 ms", "offered_500", _lat("delivery", "p99_ms"),
           "≤ 50 ms (qasid)", lambda q, s, t: q is not None and q <= 50),
    Metric("500/s offered: delivered fraction", "offered_500", _lat("delivery", "fraction"),
           "1.0", lambda q, s, t: q == 1.0),
    Metric("initial sync ms (20 rooms, 1,000 events)", "initial_sync", lambda r: r["full"]["median_ms"],
           "≤ 1/5 of Synapse", _ratio_at_most(0.2)),
    Metric("initial sync ms, lazy-loaded members", "initial_sync", lambda r: r["lazy"]["median_ms"],
           "≤ 1/5 of Synapse", _ratio_at_most(0.2)),
    Metric("registrations/s (4 concurrent)", "accounts", lambda r: r["registration"]["per_s"]),
    Metric("registration p50 ms", "accounts", _lat("registration", "p50_ms")),
    Metric("logins/s (4 concurrent)", "accounts", lambda r: r["login"]["per_s"]),
    Metric("login p50 ms", "accounts", _lat("login", "p50_ms")),
    Metric("idle RSS MB (fresh start)", "idle", lambda r: r["idle_rss_mb"],
           "≤ 1/3 of Synapse", _ratio_at_most(1 / 3)),
    Metric("idle RSS MB (after the workload)", "idle_after", lambda r: r["idle_rss_mb"]),
]


def median_of(runs: Runs, metric: Metric) -> float | None:
    values = [v for r in runs.get(metric.phase, []) if (v := _safe(metric.read, r)) is not None]
    return round(statistics.median(values), 3) if values else None


def _safe(read: Callable[[dict[str, Any]], float | None], result: dict[str, Any]) -> float | None:
    try:
        return read(result)
    except (KeyError, TypeError):
        return None


def summarize(servers: dict[str, Runs]) -> list[dict[str, Any]]:
    """One row per metric: each server's median, qasid/Synapse, qasid/trivial, target, met."""
    rows = []
    for metric in METRICS:
        med = {name: median_of(runs, metric) for name, runs in servers.items()}
        q, s, t = med.get("qasid"), med.get("synapse"), med.get("trivial")
        row: dict[str, Any] = {"metric": metric.label, "phase": metric.phase, "medians": med,
                               "qasid_over_synapse": round(q / s, 3) if q is not None and s else None,
                               "qasid_over_trivial": round(q / t, 3) if q is not None and t else None,
                               "target": metric.target}
        needs = {"Synapse": s, "trivial": t}
        missing = any(word in metric.target and value is None for word, value in needs.items())
        row["met"] = metric.check(q, s, t) if metric.check and q is not None and not missing else None
        rows.append(row)
    return rows


def _cell(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "**no**"
    if isinstance(v, float):
        return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.3g}"
    return str(v)


def markdown_table(rows: list[dict[str, Any]]) -> str:
    head = ("| metric | Synapse | qasid | trivial ASGI | qasid/Synapse | qasid/trivial | target | met |\n"
            "| --- | ---: | ---: | ---: | ---: | ---: | --- | --- |")
    lines = [head]
    for r in rows:
        m = r["medians"]
        lines.append(f"| {r['metric']} | {_cell(m.get('synapse'))} | {_cell(m.get('qasid'))} | "
                     f"{_cell(m.get('trivial'))} | {_cell(r['qasid_over_synapse'])} | "
                     f"{_cell(r['qasid_over_trivial'])} | {r['target']} | {_cell(r['met'])} |")
    return "\n".join(lines)
