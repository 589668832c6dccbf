"""`qasid bundle` on a machine with no network: the archive alone installs a qasid that serves.

The install and the server run inside a network namespace of their own (`unshare -n`) holding
nothing but the loopback interface, so any download pip tried would fail.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tomllib
from pathlib import Path

import pytest

from tests.test_cli import qasid

OFFLINE_SCRIPT = r"""
set -eu
ip link set lo up
interfaces=$(ip -o link show | awk -F': ' '{print $2}' | tr '\n' ' ')
[ "$interfaces" = "lo " ] || { echo "not offline: interfaces $interfaces"; exit 3; }
"$BASE_PYTHON" -m venv venv
venv/bin/pip install -q --no-index --find-links bundle/wheels --require-hashes -r bundle/requirements.lock
venv/bin/python -c 'import qasid, sys; assert qasid.__file__.startswith(sys.prefix), qasid.__file__'
mkdir run && cd run
../venv/bin/qasid serve --port 8008 > serve.log 2>&1 &
server=$!
../venv/bin/python - <<'EOF'
import json, time, urllib.request
deadline = time.monotonic() + 30
while True:
    try:
        with urllib.request.urlopen("http://127.0.0.1:8008/_matrix/client/versions", timeout=1) as r:
            print("versions", r.status, *json.load(r)["versions"])
            break
    except OSError:
        if time.monotonic() > deadline:
            raise
        time.sleep(0.1)
EOF
QASID_PUBLIC_BASEURL=https://matrix.gov.example ../venv/bin/qasid doctor > doctor.log 2>&1 || { cat doctor.log; exit 4; }
echo doctor ok
kill -TERM $server
wait $server || true
"""


def can_leave_the_network() -> str | None:
    """Why an empty network namespace can't be made here, or None when it can."""
    if os.geteuid() != 0:
        return "needs root: unshare -n makes a network namespace only for root (CI runs as root)"
    for program in ("unshare", "ip"):
        if shutil.which(program) is None:
            return f"needs {program}: Debian's {'util-linux' if program == 'unshare' else 'iproute2'}"
    tried = subprocess.run(["unshare", "-n", "true"], capture_output=True, text=True, check=False)
    if tried.returncode != 0:
        return f"needs unshare -n, which this container refuses: {tried.stderr.strip()}"
    return None


def test_the_bundle_installs_and_serves_with_no_network(tmp_path: Path) -> None:
    if (why := can_leave_the_network()) is not None:
        pytest.skip(why)
    archive = tmp_path / "qasid-bundle.tar.gz"
    built = qasid(tmp_path, "bundle", "--output", str(archive), env={"PIP_CACHE_DIR": str(tmp_path / "pip-cache")})
    assert built.returncode == 0, built.stderr
    assert f"sha256 {hashlib.sha256(archive.read_bytes()).hexdigest()}" in built.stdout

    with tarfile.open(archive) as tar:
        (top,) = {name.split("/", 1)[0] for name in tar.getnames()}
        tar.extractall(tmp_path, filter="data")
    bundle = tmp_path / "bundle"
    (tmp_path / top).rename(bundle)
    with (Path(__file__).resolve().parents[2] / "pyproject.toml").open("rb") as f:
        version = tomllib.load(f)["project"]["version"]
    assert top == f"qasid-{version}-cp{sys.version_info.major}{sys.version_info.minor}-manylinux_2_28_x86_64"
    sums = {name: digest for digest, name in
            (line.split("  ", 1) for line in (bundle / "SHA256SUMS").read_text().splitlines())}
    wheels = sorted(p.name for p in (bundle / "wheels").iterdir())
    assert sorted(sums) == sorted(["INSTALL.txt", "requirements.lock", *(f"wheels/{w}" for w in wheels)])
    for name, digest in sums.items():
        assert hashlib.sha256((bundle / name).read_bytes()).hexdigest() == digest, name
    assert any(w.startswith(f"qasid-{version}-") for w in wheels) and any(w.startswith("uvloop-") for w in wheels)

    # No pip configuration, index or cache of this machine's may help: only the archive.
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), "LANG": "C.UTF-8",
           "PIP_CONFIG_FILE": os.devnull, "PIP_NO_CACHE_DIR": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1",
           "BASE_PYTHON": getattr(sys, "_base_executable", sys.executable)}
    offline = subprocess.run(["unshare", "-n", "sh", "-c", OFFLINE_SCRIPT], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=300, check=False)
    log = tmp_path / "run" / "serve.log"
    assert offline.returncode == 0, (offline.stdout, offline.stderr, log.read_text() if log.exists() else "")
    assert offline.stdout.startswith("versions 200 ") and " v1." in offline.stdout, offline.stdout
    assert "doctor ok" in offline.stdout, offline.stdout


def test_bundle_refuses_what_it_cannot_build(tmp_path: Path) -> None:
    result = qasid(tmp_path, "bundle", "--python", "three", "--output", str(tmp_path / "x.tar.gz"))
    assert result.returncode == 1
    assert result.stderr.strip() == "error: --python must be a version like 3.11 (got 'three')"
    result = qasid(tmp_path, "bundle", "--source", str(tmp_path))
    assert result.returncode == 1
    assert result.stderr.strip() == (f"error: {tmp_path} is not a qasid source tree"
                                     " (pyproject.toml and requirements/runtime.lock)")
    assert not (tmp_path / "x.tar.gz").exists()
