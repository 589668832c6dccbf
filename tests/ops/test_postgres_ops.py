"""The operator's commands on a PostgreSQL deployment: what differs from SQLite is said, not failed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.server import ServerProcess

pytestmark = pytest.mark.postgres_only


def test_backup_refuses_and_names_postgresqls_tools(server: ServerProcess, tmp_path: Path) -> None:
    refused = server.run_cli("backup", str(tmp_path / "qasid.tar.gz"))
    assert refused.returncode != 0
    assert "pg_dump" in refused.stderr and refused.stderr.count("error:") == 1
    assert not (tmp_path / "qasid.tar.gz").exists()


def test_migrate_dry_run_and_doctor_know_the_database(server: ServerProcess) -> None:
    dry = server.run_cli("migrate", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "up to date" in dry.stdout
    doctor = subprocess.run([sys.executable, "-m", "qasid.cli", "doctor"], env=server._env(),
                            capture_output=True, text=True, timeout=60, check=False)
    assert "database: PostgreSQL (database_url) answers; schema up to date" in doctor.stdout, doctor.stdout
    assert "qasid.db" not in doctor.stdout
