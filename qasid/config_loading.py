"""Settings read in order: defaults, then qasid.toml, then QASID_* variables, then the command line."""

from __future__ import annotations

import dataclasses
import difflib
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from qasid.config import Settings, SettingsError
from qasid.config_values import check_together, parse_value

# QASID_* variables that are not settings: the config file's path, and the test harness's own.
_NOT_SETTINGS = ("QASID_CONFIG",)
_RESERVED_PREFIX = "QASID_TEST_"


def _nearest(word: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(known), n=1, cutoff=0.6)
    return f"; did you mean {close[0]}?" if close else ""


def _config_path(config_file: Path | None, environ: dict[str, str]) -> tuple[Path, bool]:
    """The configuration file to read, and whether it was named (a named file must exist)."""
    if config_file is not None:
        return config_file, True
    if "QASID_CONFIG" in environ:
        if not environ["QASID_CONFIG"].strip():
            raise SettingsError("QASID_CONFIG is set but empty: name a configuration file, or unset it")
        return Path(environ["QASID_CONFIG"]), True
    return Path("qasid.toml"), False


def load_settings(
    config_file: Path | None = None,
    environ: dict[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Defaults, then qasid.toml, then QASID_* variables, then explicit overrides; any bad value is a SettingsError.

    ./qasid.toml is optional; a file named by --config or QASID_CONFIG must exist.
    """
    environ = dict(os.environ) if environ is None else environ
    known = [f.name for f in dataclasses.fields(Settings)]
    values: dict[str, tuple[Any, str, bool]] = {}  # name: (raw value, where from, typed)
    path, named = _config_path(config_file, environ)
    if path.is_file() or named:
        values.update(_read_toml(path, known))
    variables = {f"QASID_{name.upper()}": name for name in known}
    for key, raw in sorted(environ.items()):
        if not key.startswith("QASID_") or key in _NOT_SETTINGS or key.startswith(_RESERVED_PREFIX):
            continue
        if key not in variables:
            raise SettingsError(f"unknown environment variable {key}{_nearest(key, variables)}"
                                f" (`qasid serve --help` lists the settings)")
        values[variables[key]] = (raw, f"environment variable {key}", False)
    for name, raw in overrides.items():
        if raw is not None:
            values[name] = (raw, "the command line", False)
    parsed = {name: parse_value(name, raw, source, typed) for name, (raw, source, typed) in values.items()}
    settings = dataclasses.replace(Settings(), **parsed)
    check_together(settings)
    return settings


def _read_toml(path: Path, known: list[str]) -> dict[str, tuple[Any, str, bool]]:
    import tomllib  # only when there is a file to read: the parser costs ~1.4 MB of resident memory

    try:
        with path.open("rb") as f:
            table = tomllib.load(f)
    except FileNotFoundError:
        raise SettingsError(f"configuration file {path.resolve()} does not exist") from None
    except OSError as e:
        raise SettingsError(f"can't read configuration file {path.resolve()}: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise SettingsError(f"configuration file {path.resolve()} is not valid TOML: {e}") from None
    for key in table:
        if key not in known:
            raise SettingsError(f"unknown setting {key!r} in {path.resolve()}{_nearest(key, known)}")
    return {key: (value, str(path.resolve()), True) for key, value in table.items()}
