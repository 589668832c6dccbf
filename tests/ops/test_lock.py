"""The lock files pin every dependency within pyproject's ranges, with hashes, and are what the README installs."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]


def read_lock(path: Path) -> dict[str, tuple[Version, list[str]]]:
    """name: (pinned version, hashes) for every requirement in a pip requirements file with hashes."""
    text = re.sub(r"\\\n", " ", path.read_text())
    pins: dict[str, tuple[Version, list[str]]] = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        spec, *options = line.split(" --")
        match = re.fullmatch(r"([A-Za-z0-9._-]+)(\[[^\]]*\])?==([^\s;]+)(\s*;.*)?", spec.strip())
        assert match, f"{path.name}: not pinned to one version: {line!r}"
        hashes = [o.removeprefix("hash=") for o in options if o.startswith("hash=sha256:")]
        assert hashes, f"{path.name}: {spec} has no sha256 hash"
        pins[canonicalize_name(match[1])] = (Version(match[3]), hashes)
    return pins


def project() -> dict[str, object]:
    with (ROOT / "pyproject.toml").open("rb") as f:
        return tomllib.load(f)["project"]  # type: ignore[no-any-return]


def assert_pinned_within_ranges(requirements: list[str], pins: dict[str, tuple[Version, list[str]]]) -> None:
    for requirement in map(Requirement, requirements):
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement} is not in the lock"
        assert requirement.specifier.contains(pins[name][0], prereleases=True), \
            f"the lock pins {name}=={pins[name][0]}, outside pyproject's {requirement}"


def test_every_runtime_and_test_dependency_is_pinned_with_hashes_within_its_range() -> None:
    runtime = read_lock(ROOT / "requirements" / "runtime.lock")
    test = read_lock(ROOT / "requirements" / "test.lock")
    meta = project()
    assert_pinned_within_ranges(meta["dependencies"], runtime)  # type: ignore[arg-type]
    assert_pinned_within_ranges(meta["dependencies"], test)  # type: ignore[arg-type]
    assert_pinned_within_ranges(meta["optional-dependencies"]["test"], test)  # type: ignore[index]
    # The server runs the same versions under test as in production.
    assert {name: pin[0] for name, pin in runtime.items()} == {name: test[name][0] for name in runtime}
    assert len(test) > len(runtime)


def test_the_readme_installs_from_the_locks_and_ci_runs_its_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    quick_start = readme.split("## Quick start", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    commands = [line for line in quick_start.splitlines() if line.strip() and not line.startswith("#")]
    assert len(commands) == 2, commands
    serve, test = commands
    assert "--require-hashes -r requirements/runtime.lock" in serve and "--no-deps -e ." in serve
    assert serve.endswith("qasid serve")
    assert "--require-hashes -r requirements/test.lock" in test and "--no-deps -e ." in test
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()
    assert ci[-1] == test
