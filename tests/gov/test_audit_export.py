"""Signed audit exports from a real server, verified offline by the CLI with no data folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from tests.gov.helpers import Gov


def offline_verify(file: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """`qasid admin audit verify --file` in a bare folder: no data folder, no settings but the defaults."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("QASID_")}
    return subprocess.run([sys.executable, "-m", "qasid.cli", "admin", "audit", "verify", "--file", str(file), *extra],
                          env=env, cwd=file.parent, capture_output=True, text=True, timeout=60, check=False)


def some_actions(gov: Gov) -> int:
    unit = gov.unit("MOF", name="Finance")
    gov.ok("PUT", f"/units/{unit}", {"name": "Ministry of Finance"})
    gov.ok("PUT", f"/units/{unit}/policy", {"max_devices": 5})
    gov.official("fiona", unit)
    return unit


def test_cli_export_verifies_offline_and_tampering_is_named(gov: Gov, tmp_path: Path) -> None:
    some_actions(gov)
    out = tmp_path / "bare" / "audit.json"
    out.parent.mkdir()
    exported = gov.server.run_cli("audit", "export", "--out", str(out))
    assert exported.returncode == 0, exported.stderr
    assert "exported" in exported.stdout and oct(out.stat().st_mode & 0o777) == "0o600"
    key_line = gov.server.cli("audit", "key").split()
    assert key_line[0] == gov.server.server_name and key_line[1].startswith("ed25519:")
    public_key = key_line[2]
    assert public_key in exported.stdout

    document = json.loads(out.read_text())
    manifest = document["manifest"]
    assert manifest["server_name"] == gov.server.server_name
    assert manifest["key"]["public_key"] == public_key
    assert manifest["first_seq"] == 1 and manifest["count"] == len(document["entries"])
    assert manifest["entry_hashes"] == [e["entry_hash"] for e in document["entries"]]
    actions = [e["action"] for e in document["entries"]]
    for action in ("account.create", "unit.create", "unit.update", "policy.change", "login"):
        assert action in actions

    good = offline_verify(out, "--key", public_key)
    assert good.returncode == 0, good.stderr
    assert "intact" in good.stdout and public_key in good.stdout
    unpinned = offline_verify(out)
    assert unpinned.returncode == 0 and "compare it with the server's" in unpinned.stderr
    wrong_key = offline_verify(out, "--key", "A" * 43)
    assert wrong_key.returncode == 1 and "not the expected key" in wrong_key.stderr

    edited = json.loads(out.read_text())
    target = next(e for e in edited["entries"] if e["action"] == "unit.update")
    target["details"] = target["details"].replace("Finance", "Defence")
    (tmp_path / "edited.json").write_text(json.dumps(edited))
    broken = offline_verify(tmp_path / "edited.json", "--key", public_key)
    assert broken.returncode == 1
    assert f"BROKEN at entry {target['seq']}" in broken.stderr and "edited" in broken.stderr

    resigned = json.loads(out.read_text())
    resigned["manifest"]["signatures"][gov.server.server_name] = {manifest["key"]["key_id"]: "A" * 86}
    (tmp_path / "resigned.json").write_text(json.dumps(resigned))
    forged = offline_verify(tmp_path / "resigned.json")
    assert forged.returncode == 1 and "signature does not verify" in forged.stderr

    (tmp_path / "junk.json").write_text("{not json")
    assert offline_verify(tmp_path / "junk.json").returncode == 1

    # The export is itself recorded, after what it exported.
    after = gov.ok("GET", "/audit?action=audit.export")["entries"]
    assert after and after[-1]["actor"] == "operator" and after[-1]["details"]["count"] == manifest["count"]


def test_a_time_range_exports_a_contiguous_slice_that_verifies_alone(gov: Gov, tmp_path: Path) -> None:
    some_actions(gov)
    time.sleep(0.05)
    since = int(time.time() * 1000)
    time.sleep(0.05)
    gov.unit("MOD")
    gov.unit("MOE")
    time.sleep(0.05)
    until = int(time.time() * 1000)
    time.sleep(0.05)
    gov.unit("MOH")
    out = tmp_path / "range.json"
    done = gov.server.run_cli("audit", "export", "--out", str(out), "--since", str(since), "--until", str(until))
    assert done.returncode == 0, done.stderr
    document = json.loads(out.read_text())
    entries = document["entries"]
    assert [e["target"] for e in entries if e["action"] == "unit.create"] == ["MOD", "MOE"]
    assert entries[0]["seq"] > 1 and all(since <= e["ts"] < until for e in entries)
    assert document["manifest"]["prev_hash"] == entries[0]["prev_hash"] != "0" * 64
    assert offline_verify(out).returncode == 0
    # The next export continues the chain from where this one ended.
    last = entries[-1]
    following = tmp_path / "following.json"
    assert gov.server.run_cli("audit", "export", "--out", str(following), "--since", str(until)).returncode == 0
    anchored = offline_verify(following, "--anchor", f"{last['seq']}:{last['entry_hash']}")
    assert anchored.returncode == 0, anchored.stderr
    assert f"last: {json.loads(following.read_text())['entries'][-1]['seq']}:" in anchored.stdout
    off = offline_verify(following, "--anchor", f"{last['seq']}:{'0' * 64}")
    assert off.returncode == 1 and f"BROKEN at entry {last['seq']}" in off.stderr
    dated = gov.server.run_cli("audit", "export", "--out", str(out), "--since", "2000-01-01", "--until", "2000-01-02")
    assert dated.returncode == 0 and json.loads(out.read_text())["manifest"]["count"] == 0
    bad = gov.server.run_cli("audit", "export", "--out", str(out), "--since", "last tuesday")
    assert bad.returncode == 1 and "--since must be" in bad.stderr


def test_admin_api_export_is_signed_national_only_and_verifies_offline(gov: Gov, tmp_path: Path) -> None:
    unit = some_actions(gov)
    response = gov.call("GET", "/audit/export")
    assert response.status_code == 200, response.text
    assert "attachment" in response.headers["content-disposition"]
    file = tmp_path / "api.json"
    file.write_bytes(response.content)
    public_key = gov.server.cli("audit", "key").split()[2]
    assert offline_verify(file, "--key", public_key).returncode == 0
    since = response.json()["entries"][3]["ts"]
    sliced = gov.ok("GET", f"/audit/export?since={since}")
    assert sliced["manifest"]["first_seq"] == response.json()["entries"][3]["seq"]

    unit_admin = gov.official("ua", unit)
    gov.ok("PUT", f"/units/{unit}/admins/{unit_admin.user_id}", {"admin": True})
    refused = gov.call("GET", "/audit/export", as_=unit_admin)
    assert refused.status_code == 403 and refused.json()["errcode"] == "M_FORBIDDEN"
    exports = gov.ok("GET", "/audit?action=audit.export")["entries"]
    assert [e["actor"] for e in exports] == [gov.root.user_id] * 2
