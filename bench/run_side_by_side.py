"""One command: the identical workload against Synapse, qasid and a trivial ASGI app, in one invocation.

    .venv/bin/python -m bench.run_side_by_side            # see bench/README.md

Synapse is installed from PyPI into bench/.venv-synapse on first use. The three servers run
side by side on loopback; every repetition runs each phase on each server in turn (the order
rotates per repetition, so drifting machine noise falls evenly), and the table reports the
median of the repetitions and the ratios. Raw results go to bench/results/<UTC time>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvloop

from bench.loadgen.measure import rss_bytes
from bench.loadgen.run import LoadGenerator, RunConfig
from bench.servers import (
    BENCH_DIR,
    REPO,
    Server,
    ensure_synapse,
    qasid_server,
    save_results,
    synapse_server,
    trivial_server,
)
from bench.summary import markdown_table, summarize

TRIVIAL_PHASES = ("send_8", "send_64")  # the trivial app stores nothing: only the send ceiling applies


def environment(synapse_version: str | None) -> dict[str, Any]:
    """Date, machine and versions, so a table can be read against where it was measured."""
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    mem_kb = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                      if line.startswith("MemTotal")))

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=False).stdout.strip()

    return {
        "date_utc": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "nproc": os.cpu_count(), "cpu_model": cpu, "memory_gb": round(mem_kb / 2**20, 1),
        "loadavg_at_start": os.getloadavg(),
        "python": platform.python_version(),
        "qasid_commit": git("rev-parse", "--short", "HEAD"),
        "qasid_tree_dirty": bool(git("status", "--porcelain", "--", "qasid")),
        "synapse_version": synapse_version,
    }


async def idle_rss_mb(server: Server, settle_s: float) -> dict[str, Any]:
    """Median of five RSS samples a second apart, after `settle_s` of quiet."""
    await asyncio.sleep(settle_s)
    samples = []
    for _ in range(5):
        samples.append(rss_bytes(server.pid) / 2**20)
        await asyncio.sleep(1)
    return {"idle_rss_mb": round(statistics.median(samples), 1), "samples_mb": [round(s, 1) for s in samples]}


async def run(args: argparse.Namespace, servers: list[Server]) -> dict[str, Any]:
    gens: dict[str, LoadGenerator] = {}
    record: dict[str, Any] = {s.name: {"runs": {}} for s in servers}
    for server in servers:
        record[server.name]["runs"]["idle"] = [await idle_rss_mb(server, args.settle)]
        print(f"[{server.name}] idle RSS {record[server.name]['runs']['idle'][0]['idle_rss_mb']} MB", flush=True)
    for server in servers:
        trivial = server.name == "trivial"
        config = RunConfig(
            base_url=server.base_url, registration_token=server.registration_token, server_pid=server.pid,
            duration=args.duration, warmup=args.warmup, delivery=not trivial,
            phases=("send",) if trivial else ("send", "offered", "initial_sync", "accounts"))
        gens[server.name] = LoadGenerator(config)
        t0 = time.monotonic()
        record[server.name]["provision"] = await gens[server.name].provision()
        print(f"[{server.name}] provisioned in {time.monotonic() - t0:.0f} s", flush=True)
    phase_names = gens["qasid" if "qasid" in gens else next(iter(gens))].phase_names()
    for rep in range(args.reps):
        for phase in phase_names:
            order = servers[rep % len(servers):] + servers[:rep % len(servers)]
            for server in order:
                if server.name == "trivial" and phase not in TRIVIAL_PHASES:
                    continue
                result = await gens[server.name].phase(phase)
                record[server.name]["runs"].setdefault(phase, []).append(result)
                print(f"[rep {rep + 1}/{args.reps}] {phase:>13} {server.name:>8}: {_brief(result)}", flush=True)
                await asyncio.sleep(1)
    for server in servers:
        record[server.name]["runs"]["idle_after"] = [await idle_rss_mb(server, args.settle)]
        await gens[server.name].close()
    return record


def _brief(r: dict[str, Any]) -> str:
    if "events_per_s" in r:
        d = r.get("delivery") or {}
        return (f"{r['events_per_s']} ev/s, send p99 {r['send_latency']['p99_ms']} ms, "
                f"delivery p99 {d.get('p99_ms')} ms ({d.get('fraction')}), errors {sum(r['errors'].values())}, "
                f"server CPU {r['resources'].get('server_cpu_pct')}%, loadgen CPU {r['resources']['loadgen_cpu_pct']}%")
    if "full" in r:
        return f"initial sync {r['full']['median_ms']} ms, lazy {r['lazy']['median_ms']} ms"
    if "registration" in r:
        return f"{r['registration']['per_s']} registrations/s, {r['login']['per_s']} logins/s"
    return ""


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.run_side_by_side", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reps", type=int, default=3, help="repetitions of every phase (default 3)")
    p.add_argument("--duration", type=float, default=10.0, help="measured seconds per send phase")
    p.add_argument("--warmup", type=float, default=3.0, help="unmeasured seconds before each send phase")
    p.add_argument("--settle", type=float, default=5.0, help="quiet seconds before idle RSS is sampled")
    p.add_argument("--servers", default="synapse,qasid,trivial", help="subset of synapse,qasid,trivial")
    p.add_argument("--synapse-version", help="pin a Synapse release (default: the newest on PyPI)")
    p.add_argument("--out", type=Path, help="where to write the JSON (default bench/results/<time>.json)")
    p.add_argument("--keep-work", action="store_true", help="keep bench/work/<time>/ (data and logs)")
    args = p.parse_args(argv)
    names = [n for n in args.servers.split(",") if n]
    synapse_version = ensure_synapse(args.synapse_version) if "synapse" in names else None
    env = environment(synapse_version)
    stamp = env["date_utc"].replace(":", "").replace("-", "")
    work = BENCH_DIR / "work" / stamp
    factories: dict[str, Callable[[Path], Server]] = {"synapse": synapse_server, "qasid": qasid_server, "trivial": trivial_server}
    servers: list[Server] = []
    try:
        for name in names:
            (work / name).mkdir(parents=True)
            server = factories[name](work / name)
            server.start()
            servers.append(server)
            print(f"[{name}] up at {server.base_url} (pid {server.pid})", flush=True)
        record = uvloop.run(run(args, servers))
    finally:
        for server in servers:
            server.stop()
    rows = summarize({name: r["runs"] for name, r in record.items()})
    document = {"environment": env, "config": vars(args) | {"out": str(args.out)}, "servers": record,
                "summary": rows}
    shown = save_results(document, args.out or BENCH_DIR / "results" / f"{stamp}.json",
                         None if args.keep_work else work)
    print(f"\n{env['date_utc']} · {env['nproc']} × {env['cpu_model']} · {env['memory_gb']} GB · "
          f"Python {env['python']} · qasid {env['qasid_commit']}{' (dirty)' if env['qasid_tree_dirty'] else ''}"
          f" · Synapse {synapse_version} · medians of {args.reps} runs\n")
    print(markdown_table(rows))
    print(f"\nraw results: {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
