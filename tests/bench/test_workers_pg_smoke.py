"""The PostgreSQL side-by-side run still runs end to end for qasid with 1 and 2 workers, a few
seconds each (Synapse is left out: CI does not install it). Behaviour only: both measured, the CPU
of PostgreSQL charged to each, their schemas dropped, no path of the machine in the JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests import pg

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.postgres_only  # runs once, in the PostgreSQL pass
def test_workers_pg_smoke(tmp_path: Path) -> None:
    if not pg.DATABASE_URL:
        pytest.skip("needs PostgreSQL: set QASID_TEST_DATABASE_URL")
    with pg.admin_connection() as conn:
        before = {r[0] for r in conn.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'qasid_bench_%'")}
    out = subprocess.run(
        [sys.executable, "-m", "bench.workers_pg", "--servers", "qasid-pg-1w,qasid-pg-2w", "--pg", pg.DATABASE_URL,
         "--phases", "send_2", "--reps", "1", "--duration", "1", "--warmup", "0.2", "--out", str(tmp_path / "r.json")],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    summary = json.loads((tmp_path / "r.json").read_text())["summary"]["send_2"]
    for server in ("qasid-pg-1w", "qasid-pg-2w"):
        assert summary["events/s"][server] > 0, out.stdout
        assert summary["delivered"][server] == 1.0, out.stdout
        assert summary["PostgreSQL CPU ms/event"][server] is not None, out.stdout
    text = (tmp_path / "r.json").read_text()
    assert str(tmp_path) not in text and str(REPO) not in text
    with pg.admin_connection() as conn:
        after = {r[0] for r in conn.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'qasid_bench_%'")}
    assert after <= before, "the run's schemas were not dropped"
