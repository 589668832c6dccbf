"""python -m bench.loadgen --base-url URL [options]: one run; the JSON report on stdout, a markdown table on stderr.

Example against a running qasid (token from `qasid admin token create --uses 1000`):

    python -m bench.loadgen --base-url http://127.0.0.1:8008 --registration-token TOKEN \\
        --server-pid $(pgrep -f 'qasid.cli serve') --senders 8 --duration 10
"""

from __future__ import annotations

import argparse
import sys

import orjson
import uvloop

from bench.loadgen.report import markdown
from bench.loadgen.run import ALL_PHASES, RunConfig, run_once


def parse_args(argv: list[str] | None) -> RunConfig:
    p = argparse.ArgumentParser(prog="python -m bench.loadgen", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base-url", required=True, help="homeserver base URL (loopback only)")
    p.add_argument("--registration-token", help="token for m.login.registration_token (qasid)")
    p.add_argument("--server-pid", type=int, help="server process to measure (RSS, CPU) via /proc")
    p.add_argument("--senders", default="8,64", help="comma-separated sender counts (default 8,64)")
    p.add_argument("--receivers", type=int, default=8, help="syncing receivers (default 8)")
    p.add_argument("--duration", type=float, default=15.0, help="measured seconds per send phase")
    p.add_argument("--warmup", type=float, default=3.0, help="unmeasured seconds before each send phase")
    p.add_argument("--offered-rates", default="20,500",
                   help="comma-separated paced total events/s, one offered phase each (default 20,500)")
    p.add_argument("--phases", default=",".join(ALL_PHASES), help=f"subset of {','.join(ALL_PHASES)}")
    p.add_argument("--no-delivery", action="store_true", help="don't assess delivery (trivial ASGI)")
    p.add_argument("--history-events", type=int, default=1000)
    p.add_argument("--history-rooms", type=int, default=20)
    p.add_argument("--accounts", type=int, default=16, help="registrations and logins in the accounts phase")
    a = p.parse_args(argv)
    phases = tuple(x for x in a.phases.split(",") if x)
    unknown = set(phases) - set(ALL_PHASES)
    if unknown:
        p.error(f"unknown phases: {', '.join(sorted(unknown))}")
    config = RunConfig(
        base_url=a.base_url, registration_token=a.registration_token, server_pid=a.server_pid,
        sender_counts=tuple(int(s) for s in a.senders.split(",") if s), receivers=a.receivers,
        duration=a.duration, warmup=a.warmup, offered_rates=tuple(float(r) for r in a.offered_rates.split(",") if r), phases=phases,
        delivery=not a.no_delivery, history_events=a.history_events, history_rooms=a.history_rooms,
        accounts_count=a.accounts,
    )
    return config


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    report = uvloop.run(run_once(config))
    sys.stdout.write(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode() + "\n")
    sys.stderr.write(markdown(report) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
