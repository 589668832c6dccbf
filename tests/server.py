"""Runs the real `qasid serve` process for tests: free port, temporary data folder, real SQLite or PostgreSQL.

With QASID_TEST_BACKEND=postgresql every server gets a schema of its own in the PostgreSQL database
at QASID_TEST_DATABASE_URL (tests/pg.py); without that URL, a test that starts a server is skipped
and says so.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from tests import pg

SERVER_NAME = "qasid.test"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """One qasid server process; can be SIGKILLed and started again on the same data."""

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None, bind_host: str = "127.0.0.1",
                 command_prefix: list[str] | None = None) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.server_name = SERVER_NAME
        self.bind_host = bind_host
        # Put before every `qasid` command: `ip netns exec NAME` runs the server on another (network) host.
        self.command_prefix = command_prefix or []
        self.base_url = f"http://{bind_host}:{self.port}"
        self.extra_env = env or {}
        self.verify: Any = True  # what start() checks the server's certificate against, when it serves HTTPS
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir / "server.log"
        # A configuration file of its own (empty: the environment below sets everything), so a
        # qasid.toml where the tests run can't leak in, and a named file that is missing is an error.
        self.config_path = data_dir.parent / f"{data_dir.name}.toml"
        data_dir.parent.mkdir(parents=True, exist_ok=True)
        self.config_path.touch()
        self.database = pg.TestSchema() if pg.ON_POSTGRES else None

    def _env(self) -> dict[str, str]:
        # The developer's own QASID_* variables stay out: an unknown one is an error to the server.
        env = {key: value for key, value in os.environ.items() if not key.startswith("QASID_")}
        env.update({
            "QASID_SERVER_NAME": self.server_name,
            "QASID_DATA_DIR": str(self.data_dir),
            "QASID_BIND_PORT": str(self.port),
            "QASID_BIND_HOST": self.bind_host,
            "QASID_PUBLIC_BASEURL": self.base_url,
            "QASID_RATE_LIMITS_ENABLED": "false",
            "QASID_CONFIG": str(self.config_path),
            # No metrics listener unless a test asks: many servers run at once on one machine.
            "QASID_METRICS_BIND": "",
        })
        if self.database is not None:
            env["QASID_DATABASE_URL"] = self.database.url
        env.update(self.extra_env)
        return env

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.database is not None:
            self.database.create()
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [*self.command_prefix, sys.executable, "-m", "qasid.cli", "serve"], env=self._env(), stdout=log, stderr=log)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log_path.read_text()}")
            try:
                if httpx.get(self.base_url + "/_matrix/client/versions", timeout=1, verify=self.verify).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"server did not start:\n{self.log_path.read_text()}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a power cut."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    def restart(self, kill: bool = True) -> None:
        self.kill() if kill else self.stop()
        self.start()

    def run_cli(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run `qasid admin ...` against this server's data folder, whatever its exit status."""
        return subprocess.run(
            [*self.command_prefix, sys.executable, "-m", "qasid.cli", "admin", *args], env=self._env(), input=stdin,
            capture_output=True, text=True, timeout=60, check=False)

    def cli(self, *args: str) -> str:
        """Run `qasid admin ...` against this server's data folder; returns stdout."""
        out = self.run_cli(*args)
        if out.returncode != 0:
            raise RuntimeError(f"qasid admin {' '.join(args)} failed: {out.stderr}")
        return out.stdout.strip()

    def create_token(self, uses: int = 1) -> str:
        return self.cli("token", "create", "--uses", str(uses))

    def create_user(self, username: str, password: str, admin: bool = False) -> str:
        return self.cli("create-user", "--username", username, "--password", password,
                        *(["--admin"] if admin else []))

    def user_id(self, localpart: str) -> str:
        return f"@{localpart}:{self.server_name}"

    # Plain HTTP helpers for tests that exercise the API directly.
    def register(self, username: str, password: str = "correct horse battery") -> dict[str, Any]:
        """Register through the real three-step token flow; returns the login response."""
        token = self.create_token()
        url = self.base_url + "/_matrix/client/v3/register"
        first = httpx.post(url, json={"username": username, "password": password})
        session = first.json()["session"]
        httpx.post(url, json={"username": username, "password": password,
                              "auth": {"type": "m.login.registration_token", "token": token,
                                       "session": session}})
        done = httpx.post(url, json={"username": username, "password": password,
                                     "auth": {"type": "m.login.dummy", "session": session}})
        assert done.status_code == 200, done.text
        return done.json()  # type: ignore[no-any-return]

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Rows of a read-only query on the server's database, whichever it is (SQL that both speak, `?` placeholders)."""
        if self.database is not None:
            return self.database.query(sql, params)
        import sqlite3

        db = sqlite3.connect(f"file:{self.data_dir / 'qasid.db'}?mode=ro", uri=True)
        try:
            return db.execute(sql, params).fetchall()
        finally:
            db.close()

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """`query` calls inside see one moment of the database (SQLite's file is still once its server is killed;
        PostgreSQL may yet finish a commit the killed server had sent)."""
        if self.database is None:
            yield
        else:
            with self.database.snapshot():
                yield

    def query_plan(self, sql: str, params: tuple[Any, ...] = ()) -> str:
        """How the database would run a query, as text: an index it would use is named in it.

        PostgreSQL is told not to scan whole tables where it can help it: on a test's few rows a
        scan is cheapest, and the question is whether the index serves the query at all.
        """
        if self.database is not None:
            return "\n".join(str(row[0]) for row in self.database.query("EXPLAIN " + sql, params, seqscan=False))
        return "\n".join(str(row) for row in self.query("EXPLAIN QUERY PLAN " + sql, params))

    def table_names(self) -> list[str]:
        """Every table of the server's database."""
        if self.database is not None:
            return [r[0] for r in self.database.query("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")]
        return [r[0] for r in self.query("SELECT name FROM sqlite_master WHERE type = 'table'")]

    def dump_database(self) -> bytes:
        """Every byte the database holds: the SQLite files (main database, WAL, shared memory), or
        every PostgreSQL table's rows as binary COPY writes them."""
        if self.database is not None:
            return self.database.dump()
        blob = b""
        for path in sorted(self.data_dir.glob("qasid.db*")):
            blob += path.read_bytes()
        return blob
