"""The one JSON codec of qasid (orjson), plus the canonical-JSON checks events need."""

from __future__ import annotations

import json
from typing import Any

import orjson

from qasid.core.errors import MatrixError, bad_json

MAX_SAFE_INT = 2**53 - 1


def dumps(value: Any) -> bytes:
    """Compact JSON bytes."""
    return orjson.dumps(value)


def loads(raw: bytes | str) -> Any:
    """Parse a request body: M_NOT_JSON if it isn't JSON at all, M_BAD_JSON if it isn't canonical-safe."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        pass
    # orjson refuses NaN/Infinity and integers beyond 64 bits; those are JSON-like but not
    # something Matrix can carry, which the spec calls M_BAD_JSON rather than M_NOT_JSON.
    try:
        json.loads(raw, parse_constant=_refuse_constant)
    except _NonCanonical as e:
        raise bad_json(str(e)) from None
    except (ValueError, UnicodeDecodeError):
        raise MatrixError(400, "M_NOT_JSON", "Content not JSON.") from None
    raise bad_json("JSON value outside the range Matrix allows")


class _NonCanonical(ValueError):
    pass


def _refuse_constant(name: str) -> Any:
    raise _NonCanonical(f"{name} is not allowed in Matrix JSON")


def check_canonical(value: Any, path: str = "content") -> None:
    """Refuse floats and integers outside ±(2^53-1): events must have one canonical form."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return
    if isinstance(value, int):
        if not -MAX_SAFE_INT <= value <= MAX_SAFE_INT:
            raise bad_json(f"{path}: integer out of the canonical JSON range")
        return
    if isinstance(value, float):
        raise bad_json(f"{path}: floats are not allowed in events")
    if isinstance(value, dict):
        for key, item in value.items():
            check_canonical(item, f"{path}.{key}")
        return
    if isinstance(value, list):
        for index, item in enumerate(value):
            check_canonical(item, f"{path}[{index}]")
        return
    raise bad_json(f"{path}: unsupported JSON value")
