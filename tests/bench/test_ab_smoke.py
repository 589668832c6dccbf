"""The A/B comparison still runs end to end: a committed build against the working tree, a few
seconds each. Behaviour only: both sides measured, a table with their ratio, no worktree left."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_ab_smoke() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "bench.ab", "--a", "HEAD", "--b", ".", "--env-b", "QASID_SYNC_PACE_MS=0",
         "--phases", "send_2", "--reps", "1", "--duration", "1", "--warmup", "0.2"],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    rows = {line.split(" | ")[1]: line for line in out.stdout.splitlines() if line.startswith("| send_2 |")}
    events = rows["events/s"].strip(" |").split(" | ")
    assert float(events[2].replace(",", "")) > 0 and float(events[3].replace(",", "")) > 0, out.stdout
    assert "B (. QASID_SYNC_PACE_MS=0)" in out.stdout
    worktrees = subprocess.run(["git", "worktree", "list"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    assert "bench/work/ab-" not in worktrees
