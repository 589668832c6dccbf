"""Profile qasid under the 8-sender + 8-receiver load with py-spy, and summarise where time goes.

    bench/.venv-tools/bin/pip install py-spy      # once (bench/.venv-tools is gitignored)
    .venv/bin/python -m bench.profile_qasid [--senders 8] [--seconds 20] [--out bench/work/profile]

Starts a fresh qasid exactly as the side-by-side run does, provisions it, starts the send phase,
and records two py-spy profiles of the server over the same window: CPU only (where the process
computes) and with --idle (wall clock, including waits: where a request's latency goes). Writes
the collapsed stacks (`*.raw`) and prints their summaries (bench/profile_top.py).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

import uvloop

from bench.loadgen.run import LoadGenerator, RunConfig
from bench.profile_top import summarise
from bench.servers import BENCH_DIR, qasid_server

PY_SPY = BENCH_DIR / ".venv-tools" / "bin" / "py-spy"


async def profile(args: argparse.Namespace) -> None:
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    server = qasid_server(out / f"qasid-{int(time.time())}")
    server.start()
    gen = LoadGenerator(RunConfig(base_url=server.base_url, registration_token=server.registration_token,
                                  server_pid=server.pid, sender_counts=(args.senders,),
                                  duration=args.seconds + 4, warmup=2, phases=("send",)))
    try:
        await gen.provision()
        phase = asyncio.create_task(gen.phase(f"send_{args.senders}"))
        await asyncio.sleep(3)
        recorders = [
            await asyncio.create_subprocess_exec(
                str(PY_SPY), "record", "--pid", str(server.pid), "--duration", str(args.seconds),
                "--rate", "200", "--format", "raw", "--threads", *extra, *args.spy_args.split(), "-o", str(out / f"qasid-{name}.raw"),
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
            for name, extra in (("cpu", []), ("wall", ["--idle"]))
        ]
        for recorder in recorders:
            _, err = await recorder.communicate()
            if recorder.returncode != 0:
                print(err.decode(), file=sys.stderr)
        result = await phase
        print(f"during the profile: {result['events_per_s']} events/s, send p99 "
              f"{result['send_latency']['p99_ms']} ms, server CPU {result['resources']['server_cpu_pct']}%")
    finally:
        await gen.close()
        server.stop()
    for name in ("cpu", "wall"):
        raw = out / f"qasid-{name}.raw"
        if raw.exists():
            print(f"\n=== {name} ({raw}) ===")
            print(summarise(raw.read_text(), "qasid/", args.top))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.profile_qasid", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--senders", type=int, default=8)
    p.add_argument("--seconds", type=int, default=20, help="profile duration")
    p.add_argument("--top", type=int, default=30)
    p.add_argument("--spy-args", default="", help="extra py-spy record arguments, e.g. --gil")
    p.add_argument("--out", type=Path, default=BENCH_DIR / "work" / "profile")
    args = p.parse_args(argv)
    if not PY_SPY.exists():
        p.error(f"{PY_SPY} not found: python3 -m venv bench/.venv-tools && bench/.venv-tools/bin/pip install py-spy")
    uvloop.run(profile(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
