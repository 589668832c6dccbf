"""`qasid bundle`: one archive holding qasid's wheel and a wheel of every runtime dependency.

Built on a machine that reaches PyPI, for a named platform and Python, from the pins and hashes of
requirements/runtime.lock; carried to a machine with no network, where
`pip install --no-index --find-links wheels --require-hashes -r requirements.lock` installs it.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import re
import subprocess
import sys
import tarfile
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

DEFAULT_PLATFORM = "manylinux_2_28_x86_64"  # glibc 2.28 or newer: RHEL 8, Debian 10, Ubuntu 20.04 and later

INSTALL_TEXT = """\
qasid {version}, for CPython {python} on {platforms}.

Every file here is listed with its SHA-256 in SHA256SUMS; check them first:
    sha256sum -c SHA256SUMS

Then, with no network needed (as root; /opt/qasid is where the systemd unit looks):
    python{python} -m venv /opt/qasid/venv
    /opt/qasid/venv/bin/pip install --no-index --find-links wheels --require-hashes -r requirements.lock
    /opt/qasid/venv/bin/qasid --help

requirements.lock pins every package to the wheel in wheels/ by its hash, qasid's own included.
"""


class BundleError(Exception):
    """The bundle could not be built; the message says why."""


@dataclass(frozen=True)
class Bundle:
    """A built archive: where it is, its SHA-256, and the wheels in it."""

    path: Path
    sha256: str
    wheels: tuple[str, ...]


def default_source() -> Path | None:
    """The clone qasid runs from (an editable install), or None when it was installed from a wheel."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / "pyproject.toml").is_file() and (root / "requirements").is_dir() else None


def build_bundle(source: Path, output: Path | None, platforms: list[str], python: str) -> Bundle:
    """Download the locked wheels for the platforms and Python, build qasid's, and pack them with checksums."""
    if not re.fullmatch(r"3\.[0-9]{1,2}", python):
        raise BundleError(f"--python must be a version like 3.11 (got {python!r})")
    for platform in platforms:
        if not re.fullmatch(r"[a-z0-9_]+", platform):
            raise BundleError(f"--platform must be a wheel platform tag like {DEFAULT_PLATFORM} (got {platform!r})")
    lock = source / "requirements" / "runtime.lock"
    if not (source / "pyproject.toml").is_file() or not lock.is_file():
        raise BundleError(f"{source} is not a qasid source tree (pyproject.toml and requirements/runtime.lock)")
    with (source / "pyproject.toml").open("rb") as f:
        version = str(tomllib.load(f)["project"]["version"])
    name = f"qasid-{version}-cp{python.replace('.', '')}-{'.'.join(platforms)}"
    output = output or source / "dist" / f"{name}.tar.gz"
    with tempfile.TemporaryDirectory(prefix="qasid-bundle-") as work:
        stage = Path(work) / name
        wheels = stage / "wheels"
        wheels.mkdir(parents=True)
        # Binary wheels only: the target has no compiler, and nothing is built for the wrong machine.
        # One download per platform: pip takes one wheel per package, the best for all tags given.
        for platform in platforms:
            target = [arg for tag in compatible_platforms(platform) for arg in ("--platform", tag)]
            _pip("download", "--only-binary=:all:", "--no-deps", "--require-hashes", "-r", str(lock),
                 *target, "--implementation", "cp", "--python-version", python, "-d", str(wheels))
        _pip("wheel", "--no-deps", "-w", str(wheels), str(source))
        own = sorted(wheels.glob("qasid-*.whl"))
        if len(own) != 1:
            raise BundleError(f"expected one qasid wheel, found {[p.name for p in own]}")
        locked = lock.read_text()
        (stage / "requirements.lock").write_text(
            f"{locked.rstrip()}\nqasid=={version} \\\n    --hash=sha256:{_sha256(own[0])}\n")
        (stage / "INSTALL.txt").write_text(INSTALL_TEXT.format(
            version=version, python=python, platforms=", ".join(platforms)))
        files = sorted(p for p in stage.rglob("*") if p.is_file())
        (stage / "SHA256SUMS").write_text(
            "".join(f"{_sha256(p)}  {p.relative_to(stage).as_posix()}\n" for p in files))
        output.parent.mkdir(parents=True, exist_ok=True)
        _pack(stage, output)
    return Bundle(output, _sha256(output), tuple(sorted(p.name for p in files if p.suffix == ".whl")))


def compatible_platforms(platform: str) -> list[str]:
    """The platform tag and every older manylinux tag whose wheels run there (pip does not widen them itself)."""
    match = re.fullmatch(r"manylinux_(\d+)_(\d+)_(\w+)", platform)
    if match is None:
        return [platform]
    major, minor, arch = int(match[1]), int(match[2]), match[3]
    tags = [f"manylinux_{major}_{glibc}_{arch}" for glibc in range(minor, -1 if major > 2 else 4, -1)]
    legacy = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}
    return tags + [f"{legacy[glibc]}_{arch}" for glibc in legacy if major == 2 and glibc <= minor]


def _pip(*args: str) -> None:
    result = subprocess.run([sys.executable, "-m", "pip", *args, "--disable-pip-version-check", "-q"],
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.startswith("ERROR")] or \
            result.stderr.strip().splitlines()[-3:]
        raise BundleError(f"pip {args[0]} failed: {' '.join(lines)}")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _pack(stage: Path, output: Path) -> None:
    # Sorted names, one owner and a fixed time: the same files give the same archive.
    def normalise(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.mtime = 0
        info.mode = 0o755 if info.isdir() else 0o644
        return info

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.add(stage, arcname=stage.name, recursive=False, filter=normalise)
        for path in sorted(stage.rglob("*")):
            tar.add(path, arcname=f"{stage.name}/{path.relative_to(stage).as_posix()}", recursive=False,
                    filter=normalise)
    with output.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz:
        gz.write(buffer.getvalue())
