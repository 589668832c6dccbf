"""How fast `qasid admin migrate-db` copies a populated SQLite deployment into PostgreSQL.

A qasid server on SQLite is filled through the Client-Server API (users, rooms, plaintext messages
that land in the search index, to-device messages left unread), stopped, and copied into a fresh
PostgreSQL schema several times; each run's rows/s is the command's own figure (rows copied over
the whole run: fingerprinting the source, copying, counting and verifying the audit chain).

    .venv/bin/python -m bench.migrate_db --database-url postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import httpx
import psycopg

from bench.servers import BENCH_DIR, free_port

V3 = "/_matrix/client/v3"


def _env(data_dir: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QASID_")}
    config = data_dir.parent / "qasid.toml"
    config.touch()
    env.update({"QASID_SERVER_NAME": "bench.local", "QASID_DATA_DIR": str(data_dir), "QASID_BIND_PORT": str(port),
                "QASID_RATE_LIMITS_ENABLED": "false", "QASID_CONFIG": str(config), "QASID_METRICS_BIND": ""})
    return env


def _admin(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "qasid.cli", "admin", *args], env=env, capture_output=True,
                          text=True, check=False)


async def _populate(base: str, env: dict[str, str], users: int, rooms: int, messages: int) -> None:
    token = _admin(env, "token", "create", "--uses", str(users)).stdout.strip()
    async with httpx.AsyncClient(base_url=base + V3, timeout=60) as http:
        tokens = [await _register(http, f"user{i}", token) for i in range(users)]
        owner = {"Authorization": f"Bearer {tokens[0]}"}
        room_ids = [(await http.post("/createRoom", json={"preset": "public_chat", "name": f"room {r}"},
                                     headers=owner)).json()["room_id"] for r in range(rooms)]
        for t in tokens[1:]:
            for room_id in room_ids:
                await http.post(f"/join/{room_id}", headers={"Authorization": f"Bearer {t}"})

        async def send(n: int) -> None:
            headers = {"Authorization": f"Bearer {tokens[n % users]}"}
            room_id = room_ids[n % rooms]
            response = await http.put(f"/rooms/{room_id}/send/m.room.message/m{n}", headers=headers,
                                      json={"msgtype": "m.text", "body": f"message {n} about the budget review"})
            assert response.status_code == 200, response.text
            if n % 10 == 0:
                to = f"@user{(n + 1) % users}:bench.local"
                await http.put(f"/sendToDevice/m.bench/t{n}", headers=headers,
                               json={"messages": {to: {"*": {"n": n}}}})

        for start in range(0, messages, 64):
            await asyncio.gather(*(send(n) for n in range(start, min(start + 64, messages))))


async def _register(http: httpx.AsyncClient, username: str, token: str) -> str:
    body = {"username": username, "password": "a long enough passphrase"}
    session = (await http.post("/register", json=body)).json()["session"]
    await http.post("/register", json={**body, "auth": {"type": "m.login.registration_token", "token": token,
                                                        "session": session}})
    done = await http.post("/register", json={**body, "auth": {"type": "m.login.dummy", "session": session}})
    assert done.status_code == 200, done.text
    return str(done.json()["access_token"])


def _copy_once(env: dict[str, str], database_url: str) -> dict[str, float]:
    schema = f"qasid_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        url = f"{database_url}{'&' if '?' in database_url else '?'}options={quote(f'-csearch_path={schema}')}"
        began = time.monotonic()
        out = _admin(env, "migrate-db", "--to", url)
        wall = time.monotonic() - began
        assert out.returncode == 0, out.stderr
        found = re.search(r"copied (\d+) rows of \d+ tables in ([\d.]+) s \((\d+) rows/s\)", out.stdout)
        assert found, out.stdout
        return {"rows": int(found[1]), "copy_seconds": float(found[2]), "rows_per_second": int(found[3]),
                "command_seconds": round(wall, 2)}
    finally:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--rooms", type=int, default=10)
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="qasid-bench-migrate-") as work:
        data_dir = Path(work) / "data"
        port = free_port()
        env = _env(data_dir, port)
        server = subprocess.Popen([sys.executable, "-m", "qasid.cli", "serve"], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            base = f"http://127.0.0.1:{port}"
            while True:
                try:
                    if httpx.get(base + "/_matrix/client/versions").status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            asyncio.run(_populate(base, env, args.users, args.rooms, args.messages))
        finally:
            server.terminate()
            server.wait()
        size_mb = (data_dir / "qasid.db").stat().st_size / 1e6
        runs = [_copy_once(env, args.database_url) for _ in range(args.runs)]
    result = {"bench": "migrate_db", "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "load_average": os.getloadavg(), "sqlite_mb": round(size_mb, 1),
              "workload": {"users": args.users, "rooms": args.rooms, "messages": args.messages},
              "runs": runs, "median_rows_per_second": statistics.median(r["rows_per_second"] for r in runs)}
    out = BENCH_DIR / "results" / f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-migrate-db.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
