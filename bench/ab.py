"""Two builds of qasid, or one build under two settings, on the same workload in one invocation.

    .venv/bin/python -m bench.ab --a HEAD~1 --b .                       # a commit against the working tree
    .venv/bin/python -m bench.ab --a . --b . --env-b QASID_SYNC_PACE_MS=0 --phases send_8,offered_500
    .venv/bin/python -m bench.ab --a . --b . --http-server-b granian   # qasid's app on another HTTP server

What the side-by-side run does for qasid against Synapse, for a change to qasid: both servers run
at once, each repetition runs every phase on both (the order alternating, so drifting machine
noise falls evenly), and the table gives medians and the B/A ratios. A side is a git revision,
checked out into a temporary worktree, or `.` for the working tree. Only the send phases
(send_N, offered_R) are offered: they are what a change to the hot path moves.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import uvloop

from bench.app_on import serve_on
from bench.loadgen.run import LoadGenerator, RunConfig
from bench.servers import BENCH_DIR, APP_SERVERS, REPO, Server, qasid_server

METRICS = {  # name in the table -> how to read it from a phase's result
    "events/s": lambda r: r["events_per_s"],
    "send p50 ms": lambda r: r["send_latency"]["p50_ms"],
    "send p99 ms": lambda r: r["send_latency"]["p99_ms"],
    "delivery p99 ms": lambda r: r["delivery"]["p99_ms"],
    "sync answers/s": lambda r: r["delivery"]["syncs_per_s"],
    "server CPU ms/event": lambda r: round(10 * r["resources"]["server_cpu_pct"] / max(r["events_per_s"], 1e-9), 3),
}


def checkout(rev: str, into: Path) -> Path:
    """The tree to run a side from: the working tree for ".", else a detached worktree of `rev`."""
    if rev == ".":
        return REPO
    subprocess.run(["git", "worktree", "add", "--detach", "--quiet", str(into), rev], cwd=REPO, check=True)
    return into


def env_pairs(pairs: list[str]) -> dict[str, str]:
    env = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"--env-a/--env-b take NAME=VALUE, not {pair!r}")
        env[name] = value
    return env


def phase_config(phases: list[str]) -> tuple[tuple[int, ...], tuple[float, ...]]:
    senders, rates = [], []
    for name in phases:
        kind, _, number = name.partition("_")
        if kind == "send" and number.isdigit():
            senders.append(int(number))
        elif kind == "offered" and number.replace(".", "", 1).isdigit():
            rates.append(float(number))
        else:
            raise SystemExit(f"unknown phase {name!r}: use send_N or offered_R")
    return tuple(senders) or (8,), tuple(rates) or (500.0,)


async def compare(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    senders, rates = phase_config(args.phases)
    sides: dict[str, Server] = {}
    gens: dict[str, LoadGenerator] = {}
    results: dict[str, dict[str, list[dict[str, Any]]]] = {"A": {}, "B": {}}
    try:
        for label, rev, env, http_server in (("A", args.a, args.env_a, args.http_server_a),
                                             ("B", args.b, args.env_b, args.http_server_b)):
            (work / label).mkdir(parents=True)
            server = qasid_server(work / label, repo=checkout(rev, work / f"tree-{label}"))
            server.env.update(env_pairs(env))
            serve_on(server, http_server)
            server.start()
            sides[label] = server
            gens[label] = LoadGenerator(RunConfig(
                base_url=server.base_url, registration_token=server.registration_token, server_pid=server.pid,
                sender_counts=senders, offered_rates=rates, duration=args.duration, warmup=args.warmup,
                phases=("send", "offered")))
            await gens[label].provision()
        for rep in range(args.reps):
            for name in args.phases:
                for label in ("A", "B") if rep % 2 == 0 else ("B", "A"):
                    result = await gens[label].phase(name)
                    results[label].setdefault(name, []).append(result)
                    print(f"[rep {rep + 1}/{args.reps}] {name:>12} {label}: {result['events_per_s']} events/s, "
                          f"send p99 {result['send_latency']['p99_ms']} ms", file=sys.stderr, flush=True)
    finally:
        for gen in gens.values():
            await gen.close()
        for server in sides.values():
            server.stop()
    return results


def on(http_server: str) -> str:
    """A side's HTTP server in its label, when it is not `qasid serve`'s own."""
    return "" if http_server == "qasid" else f" on {http_server}"


def table(args: argparse.Namespace, results: dict[str, dict[str, list[dict[str, Any]]]]) -> str:
    a = f"A ({args.a}{' ' + ' '.join(args.env_a) if args.env_a else ''}{on(args.http_server_a)})"
    b = f"B ({args.b}{' ' + ' '.join(args.env_b) if args.env_b else ''}{on(args.http_server_b)})"
    lines = [f"| phase | metric | {a} | {b} | B/A |", "| --- | --- | ---: | ---: | ---: |"]
    for name in args.phases:
        for metric, read in METRICS.items():
            medians = []
            for label in ("A", "B"):
                values = [v for v in (read(r) for r in results[label][name]) if v is not None]
                medians.append(statistics.median(values) if values else None)
            ratio = f"{medians[1] / medians[0]:.3f}" if medians[0] and medians[1] is not None else "–"
            shown = ["–" if m is None else f"{m:,.2f}" for m in medians]
            lines.append(f"| {name} | {metric} | {shown[0]} | {shown[1]} | {ratio} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.ab", description=__doc__.split("\n\n")[0])
    p.add_argument("--a", default="HEAD", help="side A: a git revision, or . for the working tree (default HEAD)")
    p.add_argument("--b", default=".", help="side B: a git revision, or . (default: the working tree)")
    p.add_argument("--env-a", action="append", default=[], metavar="NAME=VALUE", help="environment for A's server")
    p.add_argument("--env-b", action="append", default=[], metavar="NAME=VALUE", help="environment for B's server")
    p.add_argument("--phases", type=lambda s: [x for x in s.split(",") if x], default=["send_8", "send_64"],
                   help="comma-separated send_N / offered_R phases (default send_8,send_64)")
    p.add_argument("--reps", type=int, default=3, help="repetitions of every phase on each side (default 3)")
    p.add_argument("--duration", type=float, default=10.0, help="measured seconds per phase")
    p.add_argument("--warmup", type=float, default=3.0, help="unmeasured seconds before each phase")
    for side in ("a", "b"):
        p.add_argument(f"--http-server-{side}", choices=APP_SERVERS, default="qasid",
                       help=f"side {side.upper()}'s HTTP server: `qasid serve`'s own, or uvicorn or granian (bench/app_on.py)")
    p.add_argument("--out", type=Path, help="also write every raw run and the table to this JSON file")
    args = p.parse_args(argv)
    work = BENCH_DIR / "work" / f"ab-{time.strftime('%Y%m%dT%H%M%S')}"
    try:
        results = uvloop.run(compare(args, work))
        print(table(args, results))
        if args.out:
            args.out.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                            "load_average": os.getloadavg(), "results": results,
                                            "table": table(args, results)}, indent=1, default=str))
    finally:
        for label in ("A", "B"):
            if (work / f"tree-{label}").exists():
                subprocess.run(["git", "worktree", "remove", "--force", str(work / f"tree-{label}")],
                               cwd=REPO, check=False)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
