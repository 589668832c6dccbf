"""`qasid doctor` over the command line, on data folders qasid made: each problem is named with its fix."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.test_cli import qasid

GOOD_URL = "https://matrix.gov.example"


def make_server_folder(tmp_path: Path, public_baseurl: str = GOOD_URL) -> Path:
    """A data folder made by qasid itself, and a qasid.toml beside it naming it."""
    made = qasid(tmp_path, "admin", "unit", "create", "--code", "MOF", "--name", "Finance", "--init")
    assert made.returncode == 0, made.stderr
    (tmp_path / "qasid-data" / "media").mkdir(mode=0o700, exist_ok=True)
    (tmp_path / "qasid-data" / "media" / "upload").write_bytes(b"ciphertext")
    (tmp_path / "qasid-data" / "media" / "upload").chmod(0o600)
    write_config(tmp_path, public_baseurl)
    return tmp_path / "qasid-data"


def write_config(tmp_path: Path, public_baseurl: str) -> None:
    config = tmp_path / "qasid.toml"
    config.write_text(f'public_baseurl = "{public_baseurl}"\n')
    config.chmod(0o640)


def doctor(cwd: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, list[str]]:
    result = qasid(cwd, "doctor", *args, env=env)
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, result.stdout.splitlines()


def fixes(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith("FIX")]


def test_a_good_data_folder_passes(tmp_path: Path) -> None:
    folder = make_server_folder(tmp_path)
    code, lines = doctor(tmp_path)
    assert code == 0, lines
    assert fixes(lines) == []
    assert any(line.startswith("OK") and str(folder) in line for line in lines), lines
    assert any(line.startswith("OK") and GOOD_URL in line for line in lines), lines
    assert lines[-1].endswith("nothing must be fixed")


def test_loosened_permissions_are_each_named_with_the_chmod_that_fixes_them(tmp_path: Path) -> None:
    folder = make_server_folder(tmp_path)
    folder.chmod(0o755)
    (folder / "signing.key").chmod(0o644)
    (folder / "qasid.db").chmod(0o640)
    (folder / "media" / "upload").chmod(0o604)
    (tmp_path / "qasid.toml").chmod(0o666)
    code, lines = doctor(tmp_path)
    assert code == 1
    found = "\n".join(fixes(lines))
    assert f"data folder: {folder} is open to other users (0755): chmod 700 {folder}" in found
    assert f"signing key: {folder / 'signing.key'} is open to other users (0644): chmod 600" in found
    assert f"database: {folder / 'qasid.db'} is open to other users (0640): chmod 600" in found
    assert f"1 entries are open to other users (first: {folder / 'media' / 'upload'})" in found
    assert f"{tmp_path / 'qasid.toml'} can be changed by other users (0666)" in found
    # Doctor only reads: the modes are as they were.
    assert (folder / "signing.key").stat().st_mode & 0o777 == 0o644


def test_a_missing_folder_is_reported_and_not_created(tmp_path: Path) -> None:
    code, lines = doctor(tmp_path, "--data-dir", "nowhere", env={"QASID_PUBLIC_BASEURL": GOOD_URL})
    assert code == 1
    assert fixes(lines) == [(f"FIX   data folder: {tmp_path / 'nowhere'} does not exist: point data_dir (or"
                            " --data-dir) at the server's folder, or start `qasid serve` once to create it")]
    assert not (tmp_path / "nowhere").exists()

    (tmp_path / "empty").mkdir(mode=0o700)
    code, lines = doctor(tmp_path, "--data-dir", "empty", env={"QASID_PUBLIC_BASEURL": GOOD_URL})
    assert code == 1 and "holds no qasid.db" in "\n".join(fixes(lines))


@pytest.mark.parametrize(("public_baseurl", "complaint"), [
    ("", "not set, so clients are told http://127.0.0.1:8008"),
    ("http://matrix.gov.example", "is plain http: passwords and access tokens would cross the network"),
    ("https://ops:secret@matrix.gov.example", "holds credentials"),
    ("https://matrix.gov.example/?x=1", "has a query or fragment"),
    ("https://0.0.0.0:8448", "names 0.0.0.0, which no client can connect to"),
])
def test_a_bad_public_baseurl_is_reported(tmp_path: Path, public_baseurl: str, complaint: str) -> None:
    make_server_folder(tmp_path, public_baseurl)
    code, lines = doctor(tmp_path)
    assert code == 1
    assert [line for line in fixes(lines) if "public_baseurl" in line and complaint in line], lines


def test_a_loopback_http_baseurl_is_a_warning_only(tmp_path: Path) -> None:
    make_server_folder(tmp_path, "http://127.0.0.1:8008")
    code, lines = doctor(tmp_path)
    assert code == 0, lines
    assert any(line.startswith("WARN") and "public_baseurl" in line for line in lines)


def test_low_disk_space_under_the_threshold_is_reported(tmp_path: Path) -> None:
    make_server_folder(tmp_path)
    code, lines = doctor(tmp_path, env={"QASID_DISK_FREE_MIN_MB": str(1 << 30)})
    assert code == 1
    assert [line for line in fixes(lines) if line.startswith("FIX   disk space:")
            and "under disk_free_min_mb (1073741824)" in line], lines
    code, lines = doctor(tmp_path, env={"QASID_DISK_FREE_MIN_MB": "1"})
    assert code == 0 and any(line.startswith("OK    disk space:") for line in lines)


def test_files_another_user_owns_are_reported(tmp_path: Path) -> None:
    # What `qasid admin …` run as root leaves behind in the folder of a server that runs as its own user.
    if os.geteuid() != 0:
        pytest.skip("needs root: only root can give a file to another user")
    folder = make_server_folder(tmp_path)
    os.chown(folder / "media" / "upload", 54321, 54321)
    code, lines = doctor(tmp_path)
    assert code == 1
    assert [line for line in fixes(lines) if "1 entries belong to another user than the folder" in line
            and "uid 54321" in line and f"chown -R root: {folder}" in line], lines


def test_settings_errors_stay_one_line(tmp_path: Path) -> None:
    result = qasid(tmp_path, "doctor", env={"QASID_DISK_FREE_MIN_MB": "lots"})
    assert result.returncode == 2
    assert result.stderr.strip() == ("error: disk_free_min_mb (from environment variable QASID_DISK_FREE_MIN_MB):"
                                     " 'lots' is not a whole number")


def openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


def test_tls_files_named_by_settings_are_checked(tmp_path: Path) -> None:
    from qasid.ops.doctor import FIX, OK, WARN, check_tls_files

    if subprocess.run(["which", "openssl"], capture_output=True, check=False).returncode != 0:
        pytest.skip("needs openssl: to make test certificates")
    for name, days in (("good", "90"), ("soon", "3"), ("other", "90")):
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj",
                f"/CN={name}.gov.example", "-days", days, "-keyout", str(tmp_path / f"{name}.key"),
                "-out", str(tmp_path / f"{name}.crt"))
        (tmp_path / f"{name}.key").chmod(0o600)

    def check(cert: str, key: str) -> list[tuple[str, str]]:
        found = check_tls_files({"tls_certificate_path": tmp_path / cert, "tls_private_key_path": tmp_path / key})
        return [(f.severity, f.message) for f in found]

    assert [severity for severity, _ in check("good.crt", "good.key")] == [OK]
    assert check("good.crt", "other.key")[0][0] == FIX and "don't make a pair" in check("good.crt", "other.key")[0][1]
    assert check("soon.crt", "soon.key")[0][0] == WARN and "expires in" in check("soon.crt", "soon.key")[0][1]
    assert check("good.crt", "missing.key")[0] == (FIX, f"{tmp_path / 'missing.key'} does not exist")
    (tmp_path / "good.key").chmod(0o644)
    assert (FIX, (f"private key {tmp_path / 'good.key'} is readable by every user (0644):"
            f" chmod 600 {tmp_path / 'good.key'}")) in check("good.crt", "good.key")
    assert check_tls_files({}) == [] and check_tls_files({"tls_certificate_path": ""}) == []
