"""The server's ed25519 signing key: generated on first start, kept in the data folder."""

from __future__ import annotations

import os
from pathlib import Path

from signedjson.key import generate_signing_key, read_signing_keys, write_signing_keys
from signedjson.types import SigningKey


def load_or_create_signing_key(path: Path) -> SigningKey:
    """Read the key, or make one (readable by the owner only) if there is none yet."""
    if path.exists():
        with path.open() as f:
            keys = read_signing_keys(f)
        return keys[0]
    path.parent.mkdir(parents=True, exist_ok=True)
    key = generate_signing_key("a_" + os.urandom(3).hex())
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        write_signing_keys(f, [key])
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return key


def load_signing_key(path: Path) -> SigningKey:
    """Read the key the server made; FileNotFoundError if it has never started (nothing is created here)."""
    with path.open() as f:
        return read_signing_keys(f)[0]
