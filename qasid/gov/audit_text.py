"""How audit values are made safe to store and show: a reversible escape of control characters.

A value reaches the audit log from a client (a username typed at login, a device's display
name) and leaves it on an operator's terminal. Escaping it before it is stored means no stored
value holds a newline, NUL, ESC or bidi override, so none can forge a line of `audit list` or
repaint the terminal, and the hash chain covers exactly what is shown.

The notation, and `unescape` inverts it exactly:
  backslash        -> \\\\
  \\t \\n \\r        -> \\t \\n \\r
  other U+0000-U+00FF control characters -> \\xHH
  other escaped characters up to U+FFFF  -> \\uHHHH   (format characters, lone surrogates, separators)
  beyond U+FFFF                          -> \\UHHHHHHHH
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

# Cc: C0/C1 controls and DEL. Cf: format characters (bidi overrides, zero-width). Cs: lone
# surrogates (also not encodable as UTF-8). Zl/Zp: line and paragraph separators.
_ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_SHORT = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}
_UNESCAPE = re.compile(r"\\(\\|t|n|r|x[0-9a-f]{2}|u[0-9a-f]{4}|U[0-9a-f]{8})")

# A value longer than this is cut (before escaping) and marked: an audit entry is metadata.
MAX_VALUE_CHARS = 1024


def _needs_escape(char: str) -> bool:
    return unicodedata.category(char) in _ESCAPED_CATEGORIES


def _escape_char(char: str) -> str:
    if char in _SHORT:
        return _SHORT[char]
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def escape(value: str) -> str:
    """The stored form of a value: backslashes doubled, control and format characters spelled out."""
    if len(value) > MAX_VALUE_CHARS:
        cut = len(value) - MAX_VALUE_CHARS
        return escape(value[:MAX_VALUE_CHARS]) + f"…[{cut} more characters]"
    out = []
    for char in value:
        if char == "\\":
            out.append("\\\\")
        elif _needs_escape(char):
            out.append(_escape_char(char))
        else:
            out.append(char)
    return "".join(out)


def unescape(value: str) -> str:
    """The original value of an escaped one (for values not cut for length)."""

    def replace(match: re.Match[str]) -> str:
        token = match.group(1)
        if token == "\\":
            return "\\"
        if token in ("t", "n", "r"):
            return {"t": "\t", "n": "\n", "r": "\r"}[token]
        return chr(int(token[1:], 16))

    return _UNESCAPE.sub(replace, value)


def neutralise(value: str) -> str:
    """Escape only control characters still present, leaving backslashes alone.

    Stored values have none, so this is the identity on an untampered log; it keeps a row
    edited directly in the database from driving the terminal of whoever lists it.
    """
    if not any(_needs_escape(c) for c in value):
        return value
    return "".join(_escape_char(c) if _needs_escape(c) else c for c in value)


def escape_json(value: Any) -> Any:
    """Escape every string (keys too) in a JSON-like value; other scalars pass unchanged."""
    if isinstance(value, str):
        return escape(value)
    if isinstance(value, dict):
        return {escape(str(k)): escape_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [escape_json(v) for v in value]
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return escape(str(value))


def neutralise_json(value: Any) -> Any:
    """`neutralise` applied to every string of a JSON-like value."""
    if isinstance(value, str):
        return neutralise(value)
    if isinstance(value, dict):
        return {neutralise(str(k)): neutralise_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [neutralise_json(v) for v in value]
    return value
