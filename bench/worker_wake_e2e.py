"""Cross-worker wake through qasid itself: a /sync long-poll parked on worker B, a message sent
through worker A; the time from A's 200 to B's answer. Beside it, the same with both on worker A.

    python -m bench.worker_wake_e2e --rounds 100 [--pg postgresql://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote

import httpx
import psycopg

from bench.servers import Server, free_port

QUIET = {"set_presence": "offline"}


async def register(client: httpx.AsyncClient, base: str, name: str, token: str) -> dict[str, str]:
    body = {"username": name, "password": "bench password 1234"}
    session = (await client.post(f"{base}/_matrix/client/v3/register", json=body)).json()["session"]
    await client.post(f"{base}/_matrix/client/v3/register", json={
        **body, "auth": {"type": "m.login.registration_token", "token": token, "session": session}})
    done = await client.post(f"{base}/_matrix/client/v3/register",
                             json={**body, "auth": {"type": "m.login.dummy", "session": session}})
    return done.json()  # type: ignore[no-any-return]


async def rounds(a: str, b: str, token: str, count: int) -> dict[str, list[float]]:
    async with httpx.AsyncClient(timeout=60) as client:
        alice = await register(client, a, f"alice{uuid.uuid4().hex[:6]}", token)
        bob = await register(client, b, f"bob{uuid.uuid4().hex[:6]}", token)
        ha = {"Authorization": f"Bearer {alice['access_token']}"}
        hb = {"Authorization": f"Bearer {bob['access_token']}"}
        room = (await client.post(f"{a}/_matrix/client/v3/createRoom", headers=ha,
                                  json={"invite": [bob["user_id"]]})).json()["room_id"]
        await client.post(f"{b}/_matrix/client/v3/rooms/{room}/join", headers=hb, json={})
        results: dict[str, list[float]] = {"across_workers_ms": [], "same_worker_ms": []}
        for label, sync_base in (("across_workers_ms", b), ("same_worker_ms", a)):
            since = (await client.get(f"{sync_base}/_matrix/client/v3/sync", headers=hb, params=QUIET)).json()["next_batch"]
            for i in range(count):
                parked = asyncio.create_task(client.get(f"{sync_base}/_matrix/client/v3/sync", headers=hb,
                                                        params={"since": since, "timeout": "10000", **QUIET}))
                await asyncio.sleep(0.05)
                await client.put(f"{a}/_matrix/client/v3/rooms/{room}/send/m.room.message/{label}{i}", headers=ha,
                                 json={"msgtype": "m.text", "body": str(i)})
                acknowledged = time.perf_counter()
                answer = await parked
                results[label].append((time.perf_counter() - acknowledged) * 1000)
                since = answer.json()["next_batch"]
        return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    schema = f"qasid_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.pg, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    url = f"{args.pg}?options={quote(f'-csearch_path={schema}')}"
    servers: list[Server] = []
    try:
        with tempfile.TemporaryDirectory() as work:
            first = _worker(Path(work), "a", url, None)
            second = _worker(Path(work), "b", url, first.env["QASID_DATA_DIR"])
            servers = [first, second]
            for server in servers:
                server.start()
            token = first.registration_token
            assert token is not None
            found = asyncio.run(rounds(first.base_url, second.base_url, token, args.rounds))
    finally:
        for server in servers:
            server.stop()
        with psycopg.connect(args.pg, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    summary = {k: {"median": round(statistics.median(v), 2), "p90": round(statistics.quantiles(v, n=10)[8], 2)}
               for k, v in found.items()}
    print(json.dumps(summary, indent=1))
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out = Path(__file__).parent / "results" / f"{stamp}-worker-wake-e2e.json"
    out.write_text(json.dumps({"bench": "worker_wake_e2e", "rounds": args.rounds, "wake_after_200": summary},
                              indent=1) + "\n")


def _worker(work: Path, name: str, url: str, data_dir: str | None) -> Server:
    """A qasid worker on the shared database (and, for the second, the first one's data folder)."""
    import os
    import subprocess
    import sys

    from bench.servers import REPO

    folder = work / name
    folder.mkdir()
    port = free_port()
    data = data_dir or str(folder / "qasid-data")
    (folder / "qasid.toml").touch()
    env = {"QASID_SERVER_NAME": "bench.test", "QASID_DATA_DIR": data, "QASID_BIND_HOST": "127.0.0.1",
           "QASID_BIND_PORT": str(port), "QASID_PUBLIC_BASEURL": f"http://127.0.0.1:{port}",
           "QASID_RATE_LIMITS_ENABLED": "false", "QASID_LOG_LEVEL": "warning",
           "QASID_CONFIG": str(folder / "qasid.toml"), "QASID_DATABASE_URL": url, "QASID_METRICS_BIND": ""}
    token = None
    if data_dir is None:
        made = subprocess.run([sys.executable, "-m", "qasid.cli", "admin", "token", "create", "--init", "--uses", "1000"],
                              cwd=REPO, env={**os.environ, **env}, capture_output=True, text=True, check=True)
        token = made.stdout.strip()
    return Server(f"qasid-{name}", [sys.executable, "-m", "qasid.cli", "serve"], folder, port, env, token, cwd=REPO)


if __name__ == "__main__":
    main()
