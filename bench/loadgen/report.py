"""The markdown view of a load-generator report (the JSON is the record; this is for reading)."""

from __future__ import annotations

from typing import Any


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def phase_rows(name: str, phase: dict[str, Any]) -> list[tuple[str, Any]]:
    """(metric, value) rows for one phase result."""
    rows: list[tuple[str, Any]] = []
    res = phase.get("resources", {})
    if "send_latency" in phase:
        lat = phase["send_latency"]
        rows += [(f"{name} events/s", phase["events_per_s"]),
                 (f"{name} send p50 ms", lat["p50_ms"]), (f"{name} send p95 ms", lat["p95_ms"]),
                 (f"{name} send p99 ms", lat["p99_ms"]),
                 (f"{name} errors", sum(phase["errors"].values()))]
        delivery = phase.get("delivery")
        if delivery:
            rows += [(f"{name} delivered fraction", delivery["fraction"]),
                     (f"{name} delivery p50 ms", delivery["p50_ms"]),
                     (f"{name} delivery p99 ms", delivery["p99_ms"])]
    if name == "initial_sync":
        rows += [("initial sync ms (full members)", phase["full"]["median_ms"]),
                 ("initial sync ms (lazy members)", phase["lazy"]["median_ms"])]
    if name == "accounts":
        rows += [("registrations/s", phase["registration"]["per_s"]),
                 ("registration p50 ms", phase["registration"]["p50_ms"]),
                 ("logins/s", phase["login"]["per_s"]), ("login p50 ms", phase["login"]["p50_ms"])]
    if "server_cpu_s" in res:
        rows += [(f"{name} server CPU %", res["server_cpu_pct"]),
                 (f"{name} server peak RSS MB", res["server_peak_rss_mb"])]
    rows.append((f"{name} loadgen CPU %", res.get("loadgen_cpu_pct")))
    return rows


def markdown(report: dict[str, Any]) -> str:
    """One two-column table of every phase in a single run's report."""
    lines = ["| metric | value |", "| --- | ---: |"]
    for name, phase in report["phases"].items():
        lines += [f"| {metric} | {_fmt(value)} |" for metric, value in phase_rows(name, phase)]
    return "\n".join(lines)
