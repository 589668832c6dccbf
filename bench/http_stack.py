"""The HTTP stack alone: requests/s of bench/trivial_asgi.py on uvicorn and on granian, with wrk.

    .venv/bin/python -m bench.http_stack [--http-server uvicorn,granian] [--reps 5] [--duration 10]

wrk (Debian's `wrk` package) drives each server in turn, the order alternating per repetition,
with the load generator's Megolm-shaped send PUT (bench/wrk_send.lua) at `--connections`
(default 8 and 64, the send phases' senders), one wrk thread: on two cores wrk and the server
share the machine, so the figures are a ratio, not a ceiling. Prints medians and the ratio of
each server to the first; `--out FILE` writes the raw runs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import statistics
import subprocess
import time
from pathlib import Path

from bench.loadgen.measure import cpu_seconds
from bench.servers import BENCH_DIR, trivial_server

SCRIPT = BENCH_DIR / "wrk_send.lua"


def wrk(url: str, connections: int, duration: int) -> dict[str, float]:
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", "-s", str(SCRIPT), url],
                         capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    return {"requests_per_s": rps, "non_2xx": int(errors.group(1)) if errors else 0,
            "p99_ms": float(p99.group(1)) * scale[p99.group(2)] if p99 else float("nan")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--http-server", default="uvicorn,granian")
    parser.add_argument("--connections", default="8,64")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--out", help="write the raw runs to this JSON file")
    args = parser.parse_args()
    names = args.http_server.split(",")
    work = BENCH_DIR / "work" / f"http-stack-{time.strftime('%Y%m%dT%H%M%S')}"
    work.mkdir(parents=True)
    servers = {name: trivial_server(work, name) for name in names}
    for name, server in servers.items():
        server.name = f"trivial-{name}"
        server.start()
    runs = []
    try:
        for rep in range(args.reps):
            order = names if rep % 2 == 0 else names[::-1]
            for connections in (int(c) for c in args.connections.split(",")):
                for name in order:
                    server = servers[name]
                    cpu0 = cpu_seconds(server.pid)
                    result = wrk(server.base_url, connections, args.duration)
                    result["server_cpu_s"] = round(cpu_seconds(server.pid) - cpu0, 2)
                    runs.append({"server": name, "connections": connections, "rep": rep, **result})
                    print(json.dumps(runs[-1]), flush=True)
    finally:
        for server in servers.values():
            server.stop()
    summary: dict[str, dict[str, float]] = {}
    for connections in sorted({r["connections"] for r in runs}):
        for name in names:
            mine = [r for r in runs if r["server"] == name and r["connections"] == connections]
            summary[f"{name}-c{connections}"] = {
                "requests_per_s": statistics.median(r["requests_per_s"] for r in mine),
                "p99_ms": statistics.median(r["p99_ms"] for r in mine),
                "server_cpu_s_per_10k": statistics.median(r["server_cpu_s"] / (r["requests_per_s"] * args.duration)
                                                          * 10000 for r in mine)}
        first = summary[f"{names[0]}-c{connections}"]["requests_per_s"]
        for name in names:
            row = summary[f"{name}-c{connections}"]
            row["ratio_to_first"] = round(row["requests_per_s"] / first, 3)
            print(f"c={connections:3} {name:8} {row['requests_per_s']:9.0f} req/s  p99 {row['p99_ms']:7.2f} ms"
                  f"  x{row['ratio_to_first']:.3f}  server CPU {row['server_cpu_s_per_10k']:.2f} s/10k", flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps({
            "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "load_average": os.getloadavg(),
            "duration_s": args.duration, "runs": runs, "summary": summary}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
