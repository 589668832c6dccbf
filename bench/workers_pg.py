"""Synapse and qasid on PostgreSQL side by side, qasid with 1 and with 2 workers, in one run.

    .venv/bin/python -m bench.workers_pg                  # send_8 and send_64, 3 repetitions: ~6 minutes

The encrypted-send phases of the side-by-side run (bench/loadgen), against Synapse on PostgreSQL
(its own database), qasid on PostgreSQL with one worker and with `--workers 2` (each in a schema
of its own), all made for the run and dropped after. Every repetition runs each phase on each
server in turn, the order rotating. Beside events/s it reports the CPU each server spent per
delivered event: its own process tree (the workers and their supervisor), and PostgreSQL's, both
from /proc. On a 2-core machine shared with the load generator, throughput says how the cores
were shared out; CPU per event says what an event costs wherever the cores go.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvloop

from bench.ab import phase_config
from bench.loadgen.run import LoadGenerator, RunConfig
from bench.pg_cpu import PostgresCpu
from bench.run_side_by_side import environment
from bench.servers import BENCH_DIR, PG_URL, Server, ensure_synapse, qasid_pg_server, save_results, synapse_pg_server

BASELINE = "synapse-pg"


def make_server(name: str, work: Path, pg_url: str) -> Server:
    """`synapse-pg` or `qasid-pg-Nw` (N workers)."""
    if name == BASELINE:
        return synapse_pg_server(work, pg_url)
    workers = name.removeprefix("qasid-pg-").removesuffix("w")
    if not name.startswith("qasid-pg-") or not workers.isdigit():
        raise SystemExit(f"unknown server {name!r}: use synapse-pg or qasid-pg-Nw")
    return qasid_pg_server(work, int(workers), pg_url)


async def measure(args: argparse.Namespace, servers: list[Server], pg: PostgresCpu) -> dict[str, Any]:
    senders, rates = phase_config(args.phases)
    gens: dict[str, LoadGenerator] = {}
    record: dict[str, Any] = {s.name: {"runs": {}} for s in servers}
    try:
        for server in servers:
            gens[server.name] = LoadGenerator(RunConfig(
                base_url=server.base_url, registration_token=server.registration_token, server_pid=server.pid,
                sender_counts=senders, offered_rates=rates, duration=args.duration, warmup=args.warmup,
                phases=("send", "offered")))
            t0 = time.monotonic()
            record[server.name]["provision"] = await gens[server.name].provision()
            print(f"[{server.name}] provisioned in {time.monotonic() - t0:.0f} s", flush=True)
        apps = [s.name for s in servers]
        for rep in range(args.reps):
            for phase in args.phases:
                for server in servers[rep % len(servers):] + servers[:rep % len(servers)]:
                    before, t0 = pg.snapshot(apps), time.monotonic()
                    result = await gens[server.name].phase(phase)
                    wall = time.monotonic() - t0
                    result["postgres"] = {**pg.delta(before, pg.snapshot(apps), server.name), "wall_s": round(wall, 3)}
                    record[server.name]["runs"].setdefault(phase, []).append(result)
                    print(f"[rep {rep + 1}/{args.reps}] {phase:>12} {server.name:>12}: {brief(result)}", flush=True)
                    await asyncio.sleep(1)
    finally:
        for gen in gens.values():
            await gen.close()
    return record


def per_event(cpu_s: float, wall_s: float, r: dict[str, Any]) -> float | None:
    """CPU ms per delivered event: the CPU rate over the window over the rate of events delivered."""
    delivered = r["events_per_s"] * ((r.get("delivery") or {}).get("fraction") or 0)
    return round(1000 * cpu_s / wall_s / delivered, 3) if delivered and wall_s else None


def both(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else round(a + b, 3)


METRICS: dict[str, Callable[[dict[str, Any]], float | None]] = {
    "events/s": lambda r: r["events_per_s"],
    "delivered": lambda r: (r.get("delivery") or {}).get("fraction"),
    "send p99 ms": lambda r: r["send_latency"]["p99_ms"],
    "server CPU ms/event": lambda r: per_event(r["resources"]["server_cpu_s"], r["resources"]["wall_s"], r),
    "PostgreSQL CPU ms/event": lambda r: per_event(r["postgres"]["total_cpu_s"], r["postgres"]["wall_s"], r),
    "of it, the server's backends": lambda r: per_event(r["postgres"]["app_cpu_s"], r["postgres"]["wall_s"], r),
    "server + PostgreSQL ms/event": lambda r: both(METRICS["server CPU ms/event"](r),
                                                   METRICS["PostgreSQL CPU ms/event"](r)),
    "server + its backends ms/event": lambda r: both(METRICS["server CPU ms/event"](r),
                                                     METRICS["of it, the server's backends"](r)),
    "server CPU %": lambda r: r["resources"]["server_cpu_pct"],
    "loadgen CPU %": lambda r: r["resources"]["loadgen_cpu_pct"],
}
RATIOS = ("events/s", "server CPU ms/event", "PostgreSQL CPU ms/event", "of it, the server's backends",
          "server + PostgreSQL ms/event", "server + its backends ms/event")


def brief(r: dict[str, Any]) -> str:
    return (f"{r['events_per_s']} ev/s, delivered {(r.get('delivery') or {}).get('fraction')}, "
            f"errors {sum(r['errors'].values())}, server {METRICS['server CPU ms/event'](r)} ms/ev, "
            f"PostgreSQL {METRICS['PostgreSQL CPU ms/event'](r)} ms/ev")


def summarize(record: dict[str, Any], phases: list[str]) -> dict[str, dict[str, dict[str, float | None]]]:
    """phase -> metric -> server -> median over the repetitions."""
    out: dict[str, dict[str, dict[str, float | None]]] = {}
    for phase in phases:
        for metric, read in METRICS.items():
            row = out.setdefault(phase, {}).setdefault(metric, {})
            for name, server in record.items():
                values = [v for v in (read(r) for r in server["runs"].get(phase, [])) if v is not None]
                row[name] = round(statistics.median(values), 3) if values else None
    return out


def cell(value: float | None) -> str:
    return "–" if value is None else f"{value:,.3g}" if value < 10 else f"{value:,.1f}"


def table(summary: dict[str, dict[str, dict[str, float | None]]], names: list[str]) -> str:
    others = [n for n in names if n != BASELINE]
    head = ["phase", "metric", *names, *(f"{n} / Synapse" for n in others)]
    lines = ["| " + " | ".join(head) + " |", "| --- | --- |" + " ---: |" * (len(head) - 2)]
    for phase, metrics in summary.items():
        for metric, row in metrics.items():
            cells = [cell(row.get(n)) for n in names]
            base = row.get(BASELINE)
            ratios = [f"{value / base:.2f}" if metric in RATIOS and base and (value := row.get(n)) is not None else ""
                      for n in others]
            lines.append(f"| {phase} | {metric} | " + " | ".join(cells + ratios) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.workers_pg", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--servers", type=lambda s: [x for x in s.split(",") if x],
                   default=[BASELINE, "qasid-pg-1w", "qasid-pg-2w"], help="synapse-pg and/or qasid-pg-Nw")
    p.add_argument("--phases", type=lambda s: [x for x in s.split(",") if x], default=["send_8", "send_64"],
                   help="comma-separated send_N / offered_R phases (default send_8,send_64)")
    p.add_argument("--reps", type=int, default=3, help="repetitions of every phase on each server (default 3)")
    p.add_argument("--duration", type=float, default=10.0, help="measured seconds per phase")
    p.add_argument("--warmup", type=float, default=3.0, help="unmeasured seconds before each phase")
    p.add_argument("--pg", default=PG_URL, help="a PostgreSQL role that may create schemas and databases")
    p.add_argument("--synapse-version", help="pin a Synapse release (default: the newest on PyPI)")
    p.add_argument("--out", type=Path, help="where to write the JSON (default bench/results/<time>-workers-pg.json)")
    p.add_argument("--keep-work", action="store_true", help="keep bench/work/<time>-workers-pg/ (logs)")
    args = p.parse_args(argv)
    synapse_version = ensure_synapse(args.synapse_version, postgres=True) if BASELINE in args.servers else None
    env = environment(synapse_version)
    stamp = env["date_utc"].replace(":", "").replace("-", "")
    work = BENCH_DIR / "work" / f"{stamp}-workers-pg"
    servers: list[Server] = []
    pg = PostgresCpu(args.pg)
    try:
        for name in args.servers:
            (work / name).mkdir(parents=True)
            servers.append(make_server(name, work / name, args.pg))
            servers[-1].start()
            print(f"[{name}] up at {servers[-1].base_url} (pid {servers[-1].pid})", flush=True)
        record = uvloop.run(measure(args, servers, pg))
    finally:
        for server in servers:
            server.stop()
        pg.close()
    env["loadavg_at_end"] = os.getloadavg()
    summary = summarize(record, args.phases)
    config = {k: v for k, v in vars(args).items() if k not in ("out", "keep_work")}
    document = {"environment": env, "config": config, "servers": record, "summary": summary,
                "table": table(summary, args.servers)}
    shown = save_results(document, args.out or BENCH_DIR / "results" / f"{stamp}-workers-pg.json",
                         None if args.keep_work else work)
    print(f"\n{env['date_utc']} · {env['nproc']} × {env['cpu_model']} · qasid {env['qasid_commit']}"
          f"{' (dirty)' if env['qasid_tree_dirty'] else ''} · Synapse {synapse_version} · load "
          f"{env['loadavg_at_start'][0]:.2f} → {env['loadavg_at_end'][0]:.2f} · medians of {args.reps} runs\n")
    print(table(summary, args.servers))
    print(f"\nraw results: {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
