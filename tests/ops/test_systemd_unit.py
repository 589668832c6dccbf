"""The systemd unit in deploy/: systemd accepts it, and it keeps qasid confined to its data folder."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[2] / "deploy" / "systemd" / "qasid.service"
INSTALLED_QASID = "/opt/qasid/venv/bin/qasid"


def read_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """section: key: every value given (systemd lets keys repeat), comments and blank lines skipped."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def test_the_unit_confines_qasid_to_its_data_folder() -> None:
    service = read_unit(UNIT.read_text())["Service"]

    def one(key: str) -> str:
        assert len(service.get(key, [])) == 1, f"{key} should be set once: {service.get(key)}"
        return service[key][0]

    environment = dict(value.split("=", 1) for value in service["Environment"])
    data_dir = environment["QASID_DATA_DIR"]
    assert one("ExecStart") == f"{INSTALLED_QASID} serve"
    assert one("User") not in ("", "root", "0") or one("DynamicUser") == "yes"
    assert one("ProtectSystem") == "strict"
    assert one("ReadWritePaths") == data_dir  # the one writable place
    assert f"/var/lib/{one('StateDirectory')}" == data_dir and one("StateDirectoryMode") == "0700"
    assert one("WorkingDirectory") == data_dir
    for key in ("NoNewPrivileges", "PrivateTmp", "ProtectHome", "PrivateDevices", "RestrictSUIDSGID",
                "ProtectKernelTunables", "ProtectKernelModules", "ProtectControlGroups", "RestrictNamespaces",
                "LockPersonality", "MemoryDenyWriteExecute", "PrivateUsers"):
        assert one(key) == "yes", key
    assert one("RestrictAddressFamilies").split() == ["AF_INET", "AF_INET6", "AF_UNIX"]
    assert one("CapabilityBoundingSet") == "" and one("AmbientCapabilities") == ""
    assert one("UMask") == "0077"
    assert environment["QASID_CONFIG"].startswith("/etc/")


def analysable_copy(tmp_path: Path) -> Path:
    """The unit with ExecStart pointing at this qasid: `verify` insists the program exists."""
    if shutil.which("systemd-analyze") is None:
        pytest.skip("needs systemd-analyze: Debian's systemd")
    qasid = Path(sys.executable).parent / "qasid"
    if not qasid.is_file():
        pytest.skip(f"needs the qasid command installed beside {sys.executable} (pip install -e .)")
    copy = tmp_path / "qasid.service"
    copy.write_text(UNIT.read_text().replace(INSTALLED_QASID, str(qasid)))
    return copy


def test_systemd_accepts_the_unit_without_a_warning(tmp_path: Path) -> None:
    unit = analysable_copy(tmp_path)
    verified = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True,
                              timeout=60, check=False)
    assert verified.returncode == 0 and verified.stderr == "" and verified.stdout == "", verified


def test_systemd_rates_the_unit_well_confined(tmp_path: Path) -> None:
    unit = analysable_copy(tmp_path)
    # systemd's exposure score, 0 (confined) to 10 (none): the threshold is in tenths, so 1.5.
    rated = subprocess.run(["systemd-analyze", "security", "--offline=true", "--threshold=15", str(unit)],
                           capture_output=True, text=True, timeout=60, check=False)
    assert rated.returncode == 0, rated.stdout[-3000:]
    assert "Overall exposure level for qasid.service: 1." in rated.stdout, rated.stdout[-500:]
