"""The load generator still works end to end against a real qasid: a ~10 s smoke run.

Behaviour only: the report is well formed, nothing failed, every event was delivered.
Speed is measured by bench/run_side_by_side.py, never asserted here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.server import ServerProcess

REPO = Path(__file__).resolve().parents[2]


def test_loadgen_smoke(server: ServerProcess) -> None:
    token = server.create_token(uses=1000)
    out = subprocess.run(
        [sys.executable, "-m", "bench.loadgen", "--base-url", server.base_url,
         "--registration-token", token, "--server-pid", str(server.proc.pid if server.proc else 0),
         "--senders", "4", "--receivers", "2", "--duration", "2", "--warmup", "0.5",
         "--offered-rates", "50", "--history-rooms", "3", "--history-events", "30", "--accounts", "2"],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert "| metric | value |" in out.stderr  # the markdown table

    phases = report["phases"]
    assert set(phases) == {"send_4", "offered_50", "initial_sync", "accounts"}
    for name in ("send_4", "offered_50"):
        phase = phases[name]
        assert phase["errors"] == {}, phase
        assert phase["events"] > 0, phase
        assert phase["send_latency"]["p99_ms"] is not None
        delivery = phase["delivery"]
        assert delivery["expected"] > 0 and delivery["delivered"] == delivery["expected"], delivery
        assert delivery["fraction"] == 1.0
        resources = phase["resources"]
        assert resources["server_cpu_s"] >= 0 and resources["server_peak_rss_mb"] > 0
        assert resources["loadgen_cpu_s"] >= 0

    sync = phases["initial_sync"]
    for variant in ("full", "lazy"):
        assert sync[variant]["joined_rooms"] == 3, sync
        assert sync[variant]["median_ms"] > 0
    accounts = phases["accounts"]
    assert accounts["registration"]["per_s"] > 0 and accounts["login"]["per_s"] > 0
