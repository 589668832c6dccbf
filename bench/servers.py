"""Starting and stopping the three servers the side-by-side run compares, on loopback only.

- qasid: `qasid serve` on a fresh temporary data folder, rate limits off (nothing else changed:
  durability and password hashing are production's).
- Synapse: installed from PyPI into bench/.venv-synapse (never a dependency of qasid), SQLite,
  a client listener on 127.0.0.1 only, no federation listener, rate limits raised, no outbound
  connections of any kind.
- trivial: bench/trivial_asgi.py on the same uvicorn + uvloop + httptools as qasid.

Each of qasid and Synapse also runs on PostgreSQL, in a schema (qasid) or a database (Synapse)
made for the run and dropped when the server stops.
"""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
SYNAPSE_VENV = BENCH_DIR / ".venv-synapse"
SERVER_NAME = "bench.local"
UNLIMITED = {"per_second": 100000, "burst_count": 100000}


def save_results(document: dict[str, Any], out: Path, work: Path | None = None) -> str:
    """Write a run's JSON to `out`, remove its work folder (if given), and return how to name `out`."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2, default=str))
    if work is not None:
        shutil.rmtree(work, ignore_errors=True)
    return str(out.relative_to(REPO) if out.is_relative_to(REPO) else out)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """One running server process and how to reach it."""

    name: str
    command: list[str]
    work_dir: Path
    port: int
    env: dict[str, str] = field(default_factory=dict)
    registration_token: str | None = None
    proc: subprocess.Popen[bytes] | None = None
    cwd: Path = REPO  # the tree it runs from (`python -m qasid.cli` imports qasid from here)
    on_stop: list[Callable[[], None]] = field(default_factory=list)  # after the process ends: drop its database

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 120.0) -> None:
        log = (self.work_dir / f"{self.name}.log").open("ab")
        self.proc = subprocess.Popen(self.command, cwd=self.cwd, env={**os.environ, **self.env},
                                     stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited early; see {self.work_dir / (self.name + '.log')}")
            try:
                with urllib.request.urlopen(self.base_url + "/_matrix/client/versions", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not answer within {timeout} s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        while self.on_stop:
            self.on_stop.pop()()


# --- qasid --------------------------------------------------------------------------------


def qasid_server(work_dir: Path, repo: Path = REPO, database_url: str = "", workers: int = 1) -> Server:
    """qasid (as checked out in `repo`) on a fresh data folder, with a registration token good for the whole run;
    on PostgreSQL at `database_url` if given, then with `workers` worker processes."""
    data = work_dir / "qasid-data"
    data.mkdir(parents=True)
    port = free_port()
    env = {
        "QASID_SERVER_NAME": SERVER_NAME, "QASID_DATA_DIR": str(data), "QASID_BIND_HOST": "127.0.0.1",
        "QASID_BIND_PORT": str(port), "QASID_PUBLIC_BASEURL": f"http://127.0.0.1:{port}",
        "QASID_RATE_LIMITS_ENABLED": "false", "QASID_LOG_LEVEL": "warning",
        "QASID_CONFIG": str(work_dir / "qasid.toml"),
    }
    if database_url:
        env["QASID_DATABASE_URL"] = database_url
    if "metrics_bind" in (repo / "qasid" / "config.py").read_text():
        # Measured with its metrics listener on, as deployed; each server of a run on a port of its own.
        env["QASID_METRICS_BIND"] = f"127.0.0.1:{free_port()}"
    (work_dir / "qasid.toml").touch()  # empty: the environment sets everything
    command = [sys.executable, "-m", "qasid.cli", "admin", "token", "create", "--init", "--uses", "1000000"]
    made = subprocess.run(command, cwd=repo, env={**os.environ, **env}, capture_output=True, text=True, check=False)
    if "unrecognized arguments: --init" in made.stderr:  # a build from before --init created the folder unasked
        made = subprocess.run([c for c in command if c != "--init"], cwd=repo, env={**os.environ, **env},
                              capture_output=True, text=True, check=False)
    made.check_returncode()
    token = made.stdout.strip()
    serve = [sys.executable, "-m", "qasid.cli", "serve"] + (["--workers", str(workers)] if workers > 1 else [])
    return Server("qasid", serve, work_dir, port, env, token, cwd=repo)


# --- PostgreSQL -----------------------------------------------------------------------------


PG_URL = "postgresql://postgres@127.0.0.1:5432/postgres"  # a role allowed to create schemas and databases


def _admin(pg_url: str, statement: sql.Composed) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(statement)


def qasid_pg_server(work_dir: Path, workers: int, pg_url: str = PG_URL, repo: Path = REPO) -> Server:
    """qasid on PostgreSQL with `workers` processes, its tables in a schema of its own, dropped at stop.

    Its connections carry the server's name as `application_name`, so PostgreSQL's CPU can be told apart.
    """
    name = f"qasid-pg-{workers}w"
    schema = f"qasid_bench_{secrets.token_hex(4)}"
    _admin(pg_url, sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    drop = partial(_admin, pg_url, sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
    url = f"{pg_url}{'&' if '?' in pg_url else '?'}options={quote(f'-csearch_path={schema}')}&application_name={name}"
    try:
        server = qasid_server(work_dir, repo, database_url=url, workers=workers)
    except BaseException:
        drop()
        raise
    server.name = name
    server.on_stop.append(drop)
    return server


# --- trivial ASGI ---------------------------------------------------------------------------


HTTP_SERVERS = ("uvicorn", "granian")
# What serves qasid's app: its own transport (`qasid serve`), or one of the above (bench/app_on.py).
APP_SERVERS = ("qasid", *HTTP_SERVERS)


def trivial_command(port: int, http_server: str = "uvicorn") -> list[str]:
    """bench/trivial_asgi.py on uvicorn (uvloop + httptools, as qasid ran before) or on granian (Rust, uvloop).

    granian's backpressure (requests in flight per worker) defaults to 1,024: raised so that
    thousands of parked long-polls all reach the app, as they do on uvicorn. `--http 1`: its
    default (`auto`, sniffing for HTTP/2) costs ~15 KiB more per open connection.
    """
    if http_server == "granian":
        require_granian()
        return [sys.executable, "-m", "granian", "--interface", "asgi", "--host", "127.0.0.1",
                "--port", str(port), "--http", "1", "--loop", "uvloop", "--no-ws", "--log-level", "warning",
                "--backpressure", "1000000", "bench.trivial_asgi:app"]
    return [sys.executable, "-m", "uvicorn", "bench.trivial_asgi:app", "--host", "127.0.0.1",
            "--port", str(port), "--loop", "uvloop", "--http", "httptools", "--no-access-log",
            "--log-level", "warning", "--no-server-header", "--no-date-header"]


def require_granian() -> None:
    """granian is measured, not a dependency of qasid: it goes into qasid's venv by hand."""
    if importlib.util.find_spec("granian") is None:
        raise SystemExit("granian is not installed in this venv: `.venv/bin/pip install granian` (bench only)")


def trivial_server(work_dir: Path, http_server: str = "uvicorn") -> Server:
    port = free_port()
    return Server("trivial", trivial_command(port, http_server), work_dir, port)


# --- Synapse --------------------------------------------------------------------------------


# Not synapse.__version__: that appends the git branch and commit of the current directory.
PROBE = "import importlib.metadata as m; print(m.version('matrix-synapse'))"


def ensure_synapse(version: str | None, postgres: bool = False) -> str:
    """Install Synapse into its own venv if it isn't there (with psycopg2 for `postgres`); returns its version."""
    python = SYNAPSE_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([getattr(sys, "_base_executable", sys.executable), "-m", "venv", str(SYNAPSE_VENV)],
                       check=True)
    spec = ("matrix-synapse[postgres]" if postgres else "matrix-synapse") + (f"=={version}" if version else "")
    probe = subprocess.run([str(python), "-c", PROBE + ("; import psycopg2" if postgres else "")],
                           capture_output=True, text=True, check=False)
    if probe.returncode != 0 or (version and probe.stdout.strip() != version):
        subprocess.run([str(python), "-m", "pip", "install", "-q", spec], check=True)
        probe = subprocess.run([str(python), "-c", PROBE],
                               capture_output=True, text=True, check=True)
    return probe.stdout.strip()


def synapse_config(work_dir: Path, port: int, database: dict[str, object] | None = None) -> dict[str, object]:
    """Loopback client listener only, SQLite unless `database` says otherwise, registration open
    (dummy stage), rate limits raised so throughput is measured rather than throttling, nothing
    that reaches outside."""
    limits = {key: UNLIMITED for key in (
        "rc_message", "rc_registration", "rc_registration_token_validity", "rc_joins_per_room",
        "rc_3pid_validation", "rc_admin_redaction", "rc_third_party_invite", "rc_media_create",
        "rc_key_requests", "rc_room_creation", "rc_reports", "rc_delayed_event_mgmt",
        "rc_user_directory", "rc_send_to_device")}
    return {
        "server_name": SERVER_NAME,
        "pid_file": str(work_dir / "synapse.pid"),
        "listeners": [{"port": port, "bind_addresses": ["127.0.0.1"], "type": "http", "tls": False,
                       "x_forwarded": False, "resources": [{"names": ["client"], "compress": False}]}],
        "database": database or {"name": "sqlite3", "args": {"database": str(work_dir / "synapse.db")}},
        "log_config": str(work_dir / "synapse.log.config"),
        "media_store_path": str(work_dir / "synapse-media"),
        "signing_key_path": str(work_dir / "synapse.signing.key"),
        "registration_shared_secret": secrets.token_urlsafe(32),
        "macaroon_secret_key": secrets.token_urlsafe(32),
        "form_secret": secrets.token_urlsafe(32),
        "report_stats": False,
        "trusted_key_servers": [],
        "suppress_key_server_warning": True,
        "federation_domain_whitelist": [],
        "allow_public_rooms_over_federation": False,
        "url_preview_enabled": False,
        "enable_metrics": False,
        # qasid sends no presence in /sync; Synapse's is switched off so both do the same work.
        "presence": {"enabled": False},
        "enable_registration": True,
        "enable_registration_without_verification": True,
        **limits,
        "rc_login": {"address": UNLIMITED, "account": UNLIMITED, "failed_attempts": UNLIMITED},
        "rc_joins": {"local": UNLIMITED, "remote": UNLIMITED},
        "rc_invites": {"per_room": UNLIMITED, "per_user": UNLIMITED, "per_issuer": UNLIMITED},
        "rc_presence": {"per_user": UNLIMITED},
    }


LOG_CONFIG = """version: 1
formatters:
  precise:
    format: '%(asctime)s - %(name)s - %(levelname)s - %(message)s'
handlers:
  file:
    class: logging.FileHandler
    formatter: precise
    filename: {path}
root:
  level: WARNING
  handlers: [file]
disable_existing_loggers: false
"""


def synapse_server(work_dir: Path, database: dict[str, object] | None = None, name: str = "synapse") -> Server:
    """Synapse with the config above (JSON is YAML), its signing key generated in place."""
    port = free_port()
    config_path = work_dir / "synapse.yaml"
    config_path.write_text(json.dumps(synapse_config(work_dir, port, database), indent=2))
    (work_dir / "synapse.log.config").write_text(LOG_CONFIG.format(path=work_dir / "synapse-server.log"))
    python = str(SYNAPSE_VENV / "bin" / "python")
    subprocess.run([python, "-m", "synapse.app.homeserver", "-c", str(config_path), "--generate-keys"],
                   cwd=work_dir, check=True, capture_output=True)
    return Server(name, [python, "-m", "synapse.app.homeserver", "-c", str(config_path)], work_dir, port)


def synapse_pg_server(work_dir: Path, pg_url: str = PG_URL) -> Server:
    """Synapse on PostgreSQL (psycopg2, its default pool), in a database made for it as Synapse
    requires (UTF8, C collation) and dropped at stop. `ensure_synapse(..., postgres=True)` first."""
    name = "synapse-pg"
    database = f"synapse_bench_{secrets.token_hex(4)}"
    _admin(pg_url, sql.SQL("CREATE DATABASE {} ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0")
           .format(sql.Identifier(database)))
    drop = partial(_admin, pg_url, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))
    info = conninfo_to_dict(pg_url)
    args: dict[str, object] = {key: info[key] for key in ("user", "password", "host", "port") if key in info}
    args |= {"database": database, "application_name": name, "cp_min": 5, "cp_max": 10}
    try:
        server = synapse_server(work_dir, {"name": "psycopg2", "args": args}, name)
    except BaseException:
        drop()
        raise
    server.on_stop.append(drop)
    return server
