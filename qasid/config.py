"""One typed settings object, read from qasid.toml and QASID_* environment variables.

Reading them is `config_loading.load_settings`; checking each value, `config_values`."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path


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
    # PostgreSQL in place of the embedded SQLite file (postgresql://user:password@host:port/db):
    # several workers, on several hosts, share it. Empty: SQLite in the data folder.
    database_url: str = ""
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
    # TURN credentials and OpenID tokens for the call service (each a new time-limited secret).
    rate_calls: RateLimit = field(default_factory=lambda: RateLimit(1.0, 10))
    # Delayed-event management (list, cancel, restart, send), per user or, unauthenticated, per address.
    rate_delayed_events: RateLimit = field(default_factory=lambda: RateLimit(10.0, 50))
    # Reports of events, rooms and users (each one row an admin reads), per user.
    rate_report: RateLimit = field(default_factory=lambda: RateLimit(0.2, 10))
    # Server-side search (an FTS query and a visibility pass per request), per user.
    rate_search: RateLimit = field(default_factory=lambda: RateLimit(2.0, 20))
    rate_limits_enabled: bool = True
    sync_timeline_limit: int = 20
    # A device's long-polls are answered at most once per this many milliseconds: under load an
    # answer carries what arrived meanwhile instead of one event each (0: answer at once).
    sync_pace_ms: int = 20
    log_level: str = "info"
    # "text" for people reading a terminal, "json" (one object a line) for a log collector.
    log_format: str = "text"
    # One log line per answered request (request ID, method, route template, status, duration).
    log_requests: bool = False
    # HTTPS served by qasid itself (no reverse proxy): PEM certificate chain and private key,
    # read again on SIGHUP. Both empty: plain HTTP, as behind nginx.
    tls_certificate: str = ""
    tls_private_key: str = ""
    # Prometheus metrics on a listener of their own, HOST:PORT; empty turns it off.
    metrics_bind: str = "127.0.0.1:9108"
    # Push notifications are the only outbound connections: a pusher may only name a gateway
    # under one of these base URLs (e.g. "https://push.gov.example"); empty means no pushers.
    push_gateway_allowlist: tuple[str, ...] = ()
    # Gateways get event IDs only unless this is on; then a pusher that asks gets content too.
    push_include_content: bool = False
    push_gateway_timeout_ms: int = 10_000
    # A gateway that fails is retried with exponential backoff, at most this far apart.
    push_retry_max_ms: int = 300_000
    # Calls. The government's own TURN relay (coturn with use-auth-secret): the URIs clients are
    # given, e.g. "turns:turn.gov.example:5349?transport=tcp", and the secret shared with coturn.
    turn_uris: tuple[str, ...] = ()
    turn_shared_secret: str = ""
    turn_user_lifetime_ms: int = 86_400_000
    # Group calls (MatrixRTC): the operator's LiveKit JWT-service URL, announced as the call focus.
    livekit_service_url: str = ""
    # Legacy Element calls and location sharing kept inside the border: the operator's own Jitsi
    # domain and map style URL, announced in /.well-known/matrix/client.
    jitsi_domain: str = ""
    map_style_url: str = ""
    # Delayed events (MSC4140): the longest delay a client may ask for, and how many one user may
    # have pending at once.
    max_delay_ms: int = 86_400_000
    max_delayed_events_per_user: int = 100
    # How long an OpenID token (proving a user to the call service) stays valid.
    openid_token_lifetime_ms: int = 3_600_000
    # Whom users should contact about the server (MSC1929, /.well-known/matrix/support): Matrix
    # user IDs or email addresses, by role, and a support page. All empty: that document is 404.
    support_admin_contacts: tuple[str, ...] = ()
    support_security_contacts: tuple[str, ...] = ()
    support_page: str = ""
    # `qasid doctor` asks for at least this much free space where the data folder is.
    disk_free_min_mb: int = 1024
    # Room classification levels, lowest first: a room is marked with one, an official is cleared to
    # one, and nobody joins a room above their clearance. The first is every unmarked room's level.
    classification_levels: tuple[str, ...] = ("Unrestricted", "Restricted", "Confidential", "Secret")
    # Sign-in with the government directory (Active Directory, OpenLDAP); README "Directory sign-in".
    # ldaps://host[:port] or ldap://host[:port] (always upgraded with StartTLS); empty: off.
    ldap_uri: str = ""
    ldap_ca_file: str = ""
    # Search mode: a bind account finds the user under ldap_base_dn, then qasid binds as the found DN.
    ldap_bind_dn: str = ""
    ldap_bind_password: str = ""
    ldap_base_dn: str = ""
    ldap_user_attribute: str = "uid"
    ldap_user_filter: str = ""
    # Direct-bind mode (no bind account): the user's DN, e.g. uid={username},ou=people,dc=gov,dc=example.
    ldap_user_dn_template: str = ""
    # An entry matching this filter counts as disabled (besides AD's flag and an OpenLDAP ppolicy lock).
    ldap_disabled_filter: str = ""
    ldap_unit_rules: tuple[str, ...] = ()
    ldap_default_unit: str = ""
    ldap_designation_attribute: str = ""
    ldap_displayname_attribute: str = "displayName"
    ldap_create_accounts: bool = False
    ldap_timeout_ms: int = 5_000
    ldap_sync_interval_ms: int = 300_000

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
        scheme = "https" if self.tls_certificate else "http"
        return self.public_baseurl or f"{scheme}://{self.bind_host}:{self.bind_port}"


class SettingsError(Exception):
    """A configuration file, setting or variable that can't be used; the message names it and its source."""


def describe_settings() -> str:
    """One line per setting, for `qasid serve --help`."""
    lines = []
    for f in dataclasses.fields(Settings):
        default = getattr(Settings(), f.name)
        if isinstance(default, RateLimit):
            default = f"{default.per_second}/{default.burst}"
        lines.append(f"  QASID_{f.name.upper():<26} {f.name} (default: {default})")
    return "\n".join(lines)
