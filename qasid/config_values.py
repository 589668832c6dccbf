"""Each setting's value checked: its type, range or shape, and the settings that go together.

Every refusal is a SettingsError naming the setting and where its value came from; a secret is never echoed."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from qasid import ldap_rules
from qasid.config import RateLimit, Settings, SettingsError

_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
_WHOLE = re.compile(r"[+-]?[0-9]+")
_SERVER_NAME = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9.-]{0,252})(:[0-9]{1,5})?")
_LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")
_LOG_FORMATS = ("text", "json")
_HOST_PORT = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):([0-9]{1,5})")
# Inclusive bounds of the whole-number settings.
_RANGES: dict[str, tuple[int, int]] = {
    "bind_port": (1, 65535),
    "max_json_body_bytes": (1, 1 << 30),
    "max_upload_bytes": (1, 1 << 40),
    "argon2_time_cost": (1, 100),
    "argon2_memory_kib": (8, 4 * 1024 * 1024),
    "argon2_parallelism": (1, 255),
    "sync_timeline_limit": (1, 1000),
    "sync_pace_ms": (0, 60_000),
    "push_gateway_timeout_ms": (100, 120_000),
    "push_retry_max_ms": (10, 86_400_000),
    "turn_user_lifetime_ms": (60_000, 7 * 86_400_000),
    "max_delay_ms": (1_000, 30 * 86_400_000),
    "max_delayed_events_per_user": (1, 10_000),
    "openid_token_lifetime_ms": (1_000, 86_400_000),
    "disk_free_min_mb": (0, 1 << 30),
    "ldap_timeout_ms": (100, 60_000),
    "ldap_sync_interval_ms": (1_000, 86_400_000),
}
_TURN_URI = re.compile(r"(turns?):(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9.-]*)(:[0-9]{1,5})?(\?transport=(udp|tcp))?")
_SUPPORT_USER = re.compile(r"@[a-z0-9._=/+-]+:[A-Za-z0-9.:\[\]-]+")
_EMAIL = re.compile(r"[^\s@,]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")
_HOST = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]{0,252}(:[0-9]{1,5})?")
# A classification level: shown in brackets at the start of a room's name, so no brackets in it.
_LEVEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _-]{0,30}[A-Za-z0-9]|[A-Za-z0-9]")
MAX_CLASSIFICATION_LEVELS = 16
# Checks of the text settings: why a value is refused, or None.
_TEXT_CHECKS: dict[str, Callable[[str], str | None]] = {
    "server_name": lambda v: None if _SERVER_NAME.fullmatch(v) else "is not a host name (with an optional :port)",
    "bind_host": lambda v: None if v.strip() and " " not in v else "is not an address to listen on",
    "public_baseurl": lambda v: None if not v or re.fullmatch(r"https?://[^\s/]+(/\S*)?", v)
    else "must be empty or an http:// or https:// URL",
    "log_level": lambda v: None if v in _LOG_LEVELS else f"must be one of {', '.join(_LOG_LEVELS)}",
    # coturn's REST-API secret: long enough that the HMAC can't be brute-forced.
    "turn_shared_secret": lambda v: None if not v or (len(v) >= 32 and v.strip() == v)
    else "must be empty or at least 32 characters (e.g. `openssl rand -hex 32`)",
    "livekit_service_url": lambda v: None if not v or re.fullmatch(r"https://[^\s/@?#]+(/[^\s?#]*)?", v)
    else "must be empty or an https:// URL without credentials",
    "jitsi_domain": lambda v: None if not v or _HOST.fullmatch(v) else "must be empty or a host name",
    "map_style_url": lambda v: None if not v or re.fullmatch(r"https://[^\s/@?#]+(/[^\s#]*)?", v)
    else "must be empty or an https:// URL without credentials",
    "support_page": lambda v: None if not v or re.fullmatch(r"https?://[^\s/@?#]+(/[^\s#]*)?", v)
    else "must be empty or an http:// or https:// URL without credentials",
    "log_format": lambda v: None if v in _LOG_FORMATS else f"must be one of {', '.join(_LOG_FORMATS)}",
    "ldap_uri": lambda v: None if not v or re.fullmatch(r"ldaps?://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?/?", v)
    else "must be empty or ldaps://HOST[:PORT] or ldap://HOST[:PORT] (StartTLS)",
    "ldap_bind_dn": lambda v: _dn_problem(v),
    "ldap_base_dn": lambda v: _dn_problem(v),
    "ldap_user_attribute": lambda v: None if re.fullmatch(r"[A-Za-z][A-Za-z0-9-]*", v) else "is not an attribute name",
    "ldap_designation_attribute": lambda v: None if re.fullmatch(r"([A-Za-z][A-Za-z0-9-]*)?", v)
    else "must be empty or an attribute name",
    "ldap_displayname_attribute": lambda v: None if re.fullmatch(r"([A-Za-z][A-Za-z0-9-]*)?", v)
    else "must be empty or an attribute name",
    "ldap_user_filter": lambda v: ldap_rules.check_filter(v) if v else None,
    "ldap_disabled_filter": lambda v: ldap_rules.check_filter(v) if v else None,
    "ldap_user_dn_template": lambda v: ldap_rules.check_dn_template(v) if v else None,
    "ldap_default_unit": lambda v: None if not v or re.fullmatch(r"[^\s=>]{1,64}", v) else "is not a unit code",
    "metrics_bind": lambda v: None if not v or ((m := _HOST_PORT.fullmatch(v)) and 1 <= int(m[2]) <= 65535)
    else "must be empty (no metrics listener) or HOST:PORT, e.g. 127.0.0.1:9108",
}
# Settings never shown in a message or log.
SECRET_SETTINGS = ("turn_shared_secret", "ldap_bind_password", "database_url")


def parse_value(name: str, raw: Any, source: str, typed: bool) -> Any:
    """The value of one setting, strictly checked: text (variables, flags) or typed (qasid.toml: no conversions)."""
    current = getattr(Settings(), name)
    where = f"{name} (from {source})"
    text = raw.strip() if isinstance(raw, str) and not typed else None
    value: Any
    if isinstance(current, bool):
        if isinstance(raw, bool):
            value = raw
        elif text is not None and text.lower() in _TRUE + _FALSE:
            value = text.lower() in _TRUE
        else:
            raise SettingsError(f"{where}: {raw!r} is not a boolean (use true or false)")
    elif isinstance(current, int):
        if isinstance(raw, int) and not isinstance(raw, bool):
            value = raw
        elif text is not None and _WHOLE.fullmatch(text):
            value = int(text)
        else:
            raise SettingsError(f"{where}: {raw!r} is not a whole number")
        lo, hi = _RANGES[name]
        if not lo <= value <= hi:
            raise SettingsError(f"{where}: {value} is out of range ({lo} to {hi})")
    elif isinstance(current, RateLimit):
        value = _rate_limit(raw, where)
    elif isinstance(current, Path):
        if not isinstance(raw, str) or not raw.strip():
            raise SettingsError(f"{where}: {raw!r} is not a folder path")
        value = Path(raw.strip())
    elif name == "classification_levels":
        value = _classification_levels(raw, where, typed)
    elif isinstance(current, tuple):
        # A list in qasid.toml; separated by commas or spaces in a variable (unit rules: by semicolons).
        if name == "ldap_unit_rules":
            items = raw if typed else [item.strip() for item in (text or "").split(";") if item.strip()]
        else:
            items = raw if typed else (text or "").replace(",", " ").split()
        if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
            raise SettingsError(f"{where}: {raw!r} is not a list of text values")
        for item in items:
            if name == "ldap_unit_rules":
                try:
                    ldap_rules.parse_unit_rule(item)
                except ValueError as e:
                    raise SettingsError(f"{where}: {item!r} {e}") from None
            elif name in ("support_admin_contacts", "support_security_contacts"):
                if not (_SUPPORT_USER.fullmatch(item) or _EMAIL.fullmatch(item)):
                    raise SettingsError(f"{where}: {item!r} is neither a Matrix user ID nor an email address")
            elif name == "turn_uris":
                if not _TURN_URI.fullmatch(item):
                    raise SettingsError(f"{where}: {item!r} is not a turn: or turns: URI"
                                        " (e.g. turns:turn.gov.example:5349?transport=tcp)")
            elif not re.fullmatch(r"https?://[^\s/@?#]+(/[^\s?#]*)?", item):
                raise SettingsError(f"{where}: {item!r} is not an http:// or https:// base URL without credentials")
        value = tuple(items)
    else:
        if not isinstance(raw, str):
            raise SettingsError(f"{where}: {raw!r} is not text")
        value = raw
        check = _TEXT_CHECKS.get(name)
        if check is not None and (problem := check(value)) is not None:
            shown = "the value" if name in SECRET_SETTINGS else repr(value)  # a secret is never echoed
            raise SettingsError(f"{where}: {shown} {problem}")
    return value


def _classification_levels(raw: Any, where: str, typed: bool) -> tuple[str, ...]:
    """Levels lowest first: a TOML list, or comma-separated in a variable (a level may hold spaces: "Top Secret")."""
    items = raw if typed else [part.strip() for part in raw.split(",")] if isinstance(raw, str) else None
    if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
        raise SettingsError(f"{where}: {raw!r} is not a list of level names, lowest first")
    if not 1 <= len(items) <= MAX_CLASSIFICATION_LEVELS:
        raise SettingsError(f"{where}: give 1 to {MAX_CLASSIFICATION_LEVELS} levels, lowest first")
    for item in items:
        if not _LEVEL.fullmatch(item):
            raise SettingsError(f"{where}: {item!r} is not a level name (1-32 letters, digits, spaces, '-' or '_',"
                                " starting and ending with a letter or digit)")
    if len({item.casefold() for item in items}) != len(items):
        raise SettingsError(f"{where}: the levels must differ (ignoring case)")
    return tuple(items)


def _rate_limit(raw: Any, where: str) -> RateLimit:
    shape = f"{where}: {raw!r} must be PER_SECOND/BURST (e.g. 0.5/5), or {{per_second = 0.5, burst = 5}} in qasid.toml"
    if isinstance(raw, dict) and set(raw) == {"per_second", "burst"}:
        per_second, burst = raw["per_second"], raw["burst"]
    elif isinstance(raw, str) and raw.count("/") == 1:
        rate_text, burst_text = (part.strip() for part in raw.split("/"))
        try:
            per_second = float(rate_text)
        except ValueError:
            raise SettingsError(shape) from None
        burst = int(burst_text) if _WHOLE.fullmatch(burst_text) else None
    else:
        raise SettingsError(shape)
    if isinstance(per_second, bool) or not isinstance(per_second, (int, float)) \
            or not math.isfinite(per_second) or per_second <= 0:
        raise SettingsError(f"{where}: the rate must be a number of requests per second above 0")
    if isinstance(burst, bool) or not isinstance(burst, int) or not 1 <= burst <= 1_000_000:
        raise SettingsError(f"{where}: the burst must be a whole number from 1 to 1000000")
    return RateLimit(float(per_second), burst)


def check_together(settings: Settings) -> None:
    """Settings that only make sense together, or one against another."""
    if settings.argon2_memory_kib < 8 * settings.argon2_parallelism:
        raise SettingsError("argon2_memory_kib must be at least 8 times argon2_parallelism")
    if bool(settings.turn_uris) != bool(settings.turn_shared_secret):
        raise SettingsError("turn_uris and turn_shared_secret go together: set both (a TURN relay) or neither")
    if bool(settings.tls_certificate) != bool(settings.tls_private_key):
        raise SettingsError("tls_certificate and tls_private_key go together: set both (HTTPS) or neither (HTTP)")
    if settings.database_url and not settings.database_url.startswith(("postgresql://", "postgres://")):
        # Never quoted back: the URL may hold the database password.
        raise SettingsError("database_url must be a postgresql:// URL (empty for the embedded SQLite database)")
    _check_ldap(settings)


def _dn_problem(value: str) -> str | None:
    if not value:
        return None
    try:
        ldap_rules.parse_dn(value)
    except ValueError as e:
        return f"is not a DN ({e})"
    return None


def _check_ldap(settings: Settings) -> None:
    """Directory sign-in needs one way to find users, and new accounts a unit to go to."""
    if not settings.ldap_uri:
        return
    if bool(settings.ldap_bind_dn) != bool(settings.ldap_bind_password):
        raise SettingsError("ldap_bind_dn and ldap_bind_password go together: set both (search mode) or neither")
    if settings.ldap_bind_dn and not settings.ldap_base_dn:
        raise SettingsError("ldap_base_dn is required with a bind account: it is where users are searched")
    if not settings.ldap_bind_dn and not settings.ldap_user_dn_template:
        raise SettingsError("ldap_uri needs either a bind account (ldap_bind_dn, ldap_bind_password, ldap_base_dn)"
                            " or ldap_user_dn_template (direct bind)")
    if settings.ldap_create_accounts and not (settings.ldap_unit_rules or settings.ldap_default_unit):
        raise SettingsError("ldap_create_accounts needs ldap_unit_rules or ldap_default_unit:"
                            " a new account must be placed in a unit")
