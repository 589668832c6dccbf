"""One typed settings object, read from qasid.toml and QASID_* environment variables."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class RateLimit:
    """A token bucket: `per_second` sustained, bursts of up to `burst`."""

    per_second: float
    burst: int


@dataclass(frozen=True)
class Settings:
    """Every setting of a qasid server; the defaults make an embedded single-office server."""

    server_name: str = "localhost"
    bind_host: str = "127.0.0.1"
    bind_port: int = 8008
    data_dir: Path = Path("./qasid-data")
    public_baseurl: str = ""
    # Request bodies: JSON endpoints and media uploads are bounded separately.
    max_json_body_bytes: int = 1_048_576 // 2
    max_upload_bytes: int = 50 * 1024 * 1024
    # Password hashing (argon2id). These are OWASP's recommended minimums.
    argon2_time_cost: int = 2
    argon2_memory_kib: int = 19 * 1024
    argon2_parallelism: int = 1
    # Rate limits per user (or per address when unauthenticated).
    rate_login: RateLimit = field(default_factory=lambda: RateLimit(0.5, 5))
    rate_register: RateLimit = field(default_factory=lambda: RateLimit(0.5, 5))
    rate_send: RateLimit = field(default_factory=lambda: RateLimit(50.0, 200))
    rate_join: RateLimit = field(default_factory=lambda: RateLimit(5.0, 20))
    rate_invite: RateLimit = field(default_factory=lambda: RateLimit(5.0, 20))
    rate_create_room: RateLimit = field(default_factory=lambda: RateLimit(2.0, 10))
    rate_limits_enabled: bool = True
    sync_timeline_limit: int = 20
    # A device's long-polls are answered at most once per this many milliseconds: under load an
    # answer carries what arrived meanwhile instead of one event each (0: answer at once).
    sync_pace_ms: int = 20
    log_level: str = "info"
    # Push notifications are the only outbound connections: a pusher may only name a gateway
    # under one of these base URLs (e.g. "https://push.gov.example"); empty means no pushers.
    push_gateway_allowlist: tuple[str, ...] = ()
    # Gateways get event IDs only unless this is on; then a pusher that asks gets content too.
    push_include_content: bool = False
    push_gateway_timeout_ms: int = 10_000
    # A gateway that fails is retried with exponential backoff, at most this far apart.
    push_retry_max_ms: int = 300_000

    @property
    def database_path(self) -> Path:
        return self.data_dir / "qasid.db"

    @property
    def media_dir(self) -> Path:
        return self.data_dir / "media"

    @property
    def signing_key_path(self) -> Path:
        return self.data_dir / "signing.key"

    @property
    def base_url(self) -> str:
        return self.public_baseurl or f"http://{self.bind_host}:{self.bind_port}"


def _coerce(raw: Any, current: Any, name: str) -> Any:
    if isinstance(current, bool):
        if isinstance(raw, bool):
            return raw
        return str(raw).strip().lower() in ("1", "true", "yes", "on")
    if isinstance(current, int):
        return int(raw)
    if isinstance(current, float):
        return float(raw)
    if isinstance(current, Path):
        return Path(raw)
    if isinstance(current, tuple):
        items = raw if isinstance(raw, list | tuple) else str(raw).replace(",", " ").split()
        return tuple(str(item) for item in items)
    if isinstance(current, RateLimit):
        if isinstance(raw, dict):
            return RateLimit(float(raw["per_second"]), int(raw["burst"]))
        per_second, burst = str(raw).split("/")
        return RateLimit(float(per_second), int(burst))
    return str(raw)


def load_settings(
    config_file: Path | None = None,
    environ: dict[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Defaults, then qasid.toml (if present), then QASID_* variables, then explicit overrides."""
    environ = dict(os.environ) if environ is None else environ
    values: dict[str, Any] = {}
    path = config_file or Path(environ.get("QASID_CONFIG", "qasid.toml"))
    if path.exists():
        with path.open("rb") as f:
            import tomllib  # only when there is a file to read: the parser costs ~1.4 MB of resident memory

            values.update(tomllib.load(f))
    defaults = Settings()
    known = {f.name for f in dataclasses.fields(Settings)}
    for key, raw in environ.items():
        if key.startswith("QASID_") and key != "QASID_CONFIG":
            name = key[len("QASID_"):].lower()
            if name in known:
                values[name] = raw
    values.update({k: v for k, v in overrides.items() if v is not None})
    unknown = set(values) - known
    if unknown:
        raise ValueError(f"unknown settings: {', '.join(sorted(unknown))}")
    coerced = {k: _coerce(v, getattr(defaults, k), k) for k, v in values.items()}
    return dataclasses.replace(defaults, **coerced)


def describe_settings() -> str:
    """One line per setting, for `qasid serve --help`."""
    lines = []
    for f in dataclasses.fields(Settings):
        default = getattr(Settings(), f.name)
        if isinstance(default, RateLimit):
            default = f"{default.per_second}/{default.burst}"
        lines.append(f"  QASID_{f.name.upper():<26} {f.name} (default: {default})")
    return "\n".join(lines)
