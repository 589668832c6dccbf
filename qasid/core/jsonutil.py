"""The one JSON codec of qasid (orjson), plus the canonical-JSON checks events need."""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

from qasid.core.errors import MatrixError, bad_json

MAX_SAFE_INT = 2**53 - 1
# orjson writes at most 254 levels; responses wrap a body's values in up to ~10 more.
MAX_DEPTH = 100


def dumps(value: Any) -> bytes:
    """Compact JSON bytes."""
    return orjson.dumps(value)


def loads_stored(raw: bytes | str) -> Any:
    """Parse JSON this server wrote itself (stored events, account data): already checked on the way in."""
    return orjson.loads(raw)


def loads(raw: bytes | str) -> Any:
    """Parse a request body: M_NOT_JSON if it isn't JSON at all, M_BAD_JSON if it isn't canonical-safe."""
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogatepass")
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        value = _UNPARSED
    else:
        # orjson silently turns integers beyond 64 bits into floats, and the integer -0 into 0:
        # only long digit runs and a "-0" can be those.
        if _LONG_DIGITS not in raw.translate(_DIGITS_AS_ZERO) and not _MINUS_ZERO.search(raw):
            _check_depth(value, raw)
            return value
    # orjson refuses NaN/Infinity, and (above) rounds huge integers; those are JSON-like but not
    # something Matrix can carry, which the spec calls M_BAD_JSON rather than M_NOT_JSON.
    try:
        json.loads(raw, parse_constant=_refuse_constant, parse_int=_int64)
    except _NonCanonical as e:
        raise bad_json(str(e)) from None
    except RecursionError:
        raise bad_json(f"JSON nested deeper than {MAX_DEPTH} levels") from None
    except (ValueError, UnicodeDecodeError):
        raise MatrixError(400, "M_NOT_JSON", "Content not JSON.") from None
    if value is _UNPARSED:
        raise bad_json("JSON value outside the range Matrix allows")
    _check_depth(value, raw)
    return value


_UNPARSED = object()
# A 64-bit integer has at most 20 digits; any integer orjson rounds has at least 19. Looking for
# them as a run of zeros after mapping every digit to "0" (and every other byte to "x") is ~8x faster than
# a regex over a body of base64 ciphertext, which is full of short digit runs.
_DIGITS_AS_ZERO = bytes(0x30 if 0x30 <= b <= 0x39 else 0x78 for b in range(256))
_LONG_DIGITS = b"0" * 19
_MINUS_ZERO = re.compile(rb"-0(?![.0-9eE])")


def _int64(literal: str) -> int:
    if literal == "-0":
        raise _NonCanonical("-0 has no canonical JSON form; write 0")
    if len(literal.lstrip("-")) > 20 or not -(2**63) <= (value := int(literal)) < 2**64:
        raise _NonCanonical(f"Integer {literal[:30]} is outside the 64-bit range")
    return value


def _check_depth(value: Any, raw: bytes) -> None:
    """Refuse nesting our encoder could not write back once wrapped in a response."""
    if raw.count(b"[") + raw.count(b"{") <= MAX_DEPTH:
        return
    level: list[tuple[Any, int]] = [(value, 1)]
    while level:
        item, depth = level.pop()
        if depth > MAX_DEPTH:
            raise bad_json(f"JSON nested deeper than {MAX_DEPTH} levels")
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        level.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))


class _NonCanonical(ValueError):
    pass


def _refuse_constant(name: str) -> Any:
    raise _NonCanonical(f"{name} is not allowed in Matrix JSON")


def check_canonical(value: Any, path: str = "content", depth: int = 0) -> None:
    """Refuse floats and integers outside ±(2^53-1): events must have one canonical form."""
    if depth > MAX_DEPTH:
        raise bad_json(f"{path}: nested deeper than {MAX_DEPTH} levels")
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
            check_canonical(item, f"{path}.{key}", depth + 1)
        return
    if isinstance(value, list):
        for index, item in enumerate(value):
            check_canonical(item, f"{path}[{index}]", depth + 1)
        return
    raise bad_json(f"{path}: unsupported JSON value")
