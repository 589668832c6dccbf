"""`qasid doctor`: checks a configuration and its data folder and says what to fix. It changes nothing.

Each check gives findings: `fix` (the server is unsafe or won't work: doctor exits 1), `warn` (worth
a look) or `ok`. Nothing here opens an SQLite database: a doctor run as root must not leave root-owned
WAL files behind that the server's own user could not open. A PostgreSQL database is asked for its
schema version, over a connection of its own.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import pwd
import re
import shutil
import ssl
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from qasid.config import Settings

FIX, WARN, OK = "fix", "warn", "ok"
CERTIFICATE_WARN_DAYS = 21


@dataclass(frozen=True)
class Finding:
    """One result: its severity (fix, warn, ok), what it is about, and what to do."""

    severity: str
    subject: str
    message: str

    def line(self) -> str:
        return f"{self.severity.upper():<4}  {self.subject}: {self.message}"


def examine(settings: Settings, config_file: Path | None) -> list[Finding]:
    """Every check, in the order an operator would fix things."""
    findings: list[Finding] = []
    if config_file is not None:
        findings += check_config_file(config_file)
    findings += check_data_folder(settings)
    if settings.database_url:
        findings += check_postgres(settings.database_url)
    findings += check_public_baseurl(settings)
    tls = {f.name: getattr(settings, f.name) for f in dataclasses.fields(settings)
           if re.fullmatch(r"tls_\w*(key|cert|chain|file|path)\w*", f.name)}
    findings += check_tls_files(tls)
    findings += check_disk_space(settings)
    return findings


def check_config_file(path: Path) -> list[Finding]:
    """A configuration file others can write lets them change the server's settings."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o022:
        return [Finding(FIX, "configuration", f"{path} can be changed by other users ({mode:04o}): chmod go-w {path}")]
    return [Finding(OK, "configuration", f"{path}")]


def _name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _user(uid: int) -> str:
    name = _name(uid)
    return f"uid {uid}" if name == str(uid) else f"{name} (uid {uid})"


def check_data_folder(settings: Settings) -> list[Finding]:
    """The folder exists, is an initialised data folder, private (0700/0600) and owned by one user."""
    folder = settings.data_dir
    subject = "data folder"
    if not folder.exists():
        return [Finding(FIX, subject, f"{folder} does not exist: point data_dir (or --data-dir) at the server's"
                        " folder, or start `qasid serve` once to create it")]
    if not folder.is_dir():
        return [Finding(FIX, subject, f"{folder} is not a folder")]
    findings: list[Finding] = []
    owner = folder.stat().st_uid
    if owner != os.geteuid():
        severity = WARN if os.geteuid() == 0 else FIX
        findings.append(Finding(severity, subject, f"{folder} belongs to {_user(owner)}, not to you"
                                f" ({_user(os.geteuid())}): run qasid and its commands as its owner"
                                f" (sudo -u {_name(owner)} qasid …)"))
    for path, what in ((folder, "data folder"), (settings.database_path, "database"),
                       (settings.signing_key_path, "signing key")):
        findings += _private(path, what, owner)
    on_postgres = bool(settings.database_url)
    if not on_postgres and not settings.database_path.is_file():
        findings.append(Finding(FIX, "database", f"{folder} holds no qasid.db: not a qasid data folder"
                                " (or the server has never started on it)"))
    if not settings.signing_key_path.exists() and (on_postgres or settings.database_path.is_file()):
        findings.append(Finding(WARN, "signing key", f"{settings.signing_key_path} is missing: the server"
                                " makes a new one at its next start, and events it signed before no longer verify"))
    loose, foreign = [], []
    for root, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            path = Path(root) / name
            st = path.lstat()
            if stat.S_ISLNK(st.st_mode) or path in (settings.database_path, settings.signing_key_path):
                continue
            if stat.S_IMODE(st.st_mode) & 0o077:
                loose.append(path)
            if st.st_uid != owner:
                foreign.append(path)
    if loose:
        findings.append(Finding(FIX, subject, f"{len(loose)} entries are open to other users (first:"
                                f" {loose[0]}): chmod -R go-rwx {folder} (qasid serve also does this at start)"))
    if foreign:
        findings.append(Finding(FIX, subject, f"{len(foreign)} entries belong to another user than the folder"
                                f" (first: {foreign[0]}, {_user(foreign[0].lstat().st_uid)}), so the server may not"
                                f" open them: chown -R {_name(owner)}: {folder}"))
    if not any(f.severity == FIX and f.subject in (subject, "database", "signing key") for f in findings):
        findings.append(Finding(OK, subject, f"{folder}: private, owned by {_user(owner)}"))
    return findings


def check_postgres(url: str) -> list[Finding]:
    """The PostgreSQL database answers and its schema is this build's."""
    from qasid.store.postgres.engine import PgDatabase

    problem = PgDatabase.problem_at(url)
    if problem is not None:
        return [Finding(FIX, "database", f"PostgreSQL (database_url): {problem}")]
    return [Finding(OK, "database", "PostgreSQL (database_url) answers; schema up to date")]


def _private(path: Path, what: str, owner: int) -> list[Finding]:
    try:
        st = path.lstat()
    except FileNotFoundError:
        return []
    mode = stat.S_IMODE(st.st_mode)
    if stat.S_ISLNK(st.st_mode):
        return [Finding(FIX, what, f"{path} is a symbolic link: keep the real file in the data folder")]
    found = []
    if mode & 0o077:
        wanted = "700" if stat.S_ISDIR(st.st_mode) else "600"
        found.append(Finding(FIX, what, f"{path} is open to other users ({mode:04o}): chmod {wanted} {path}"))
    if st.st_uid != owner:
        found.append(Finding(FIX, what, f"{path} belongs to {_user(st.st_uid)}, not the folder's owner"
                             f" {_user(owner)}: chown {_name(owner)}: {path}"))
    return found


def check_public_baseurl(settings: Settings) -> list[Finding]:
    """The URL clients are told to use: set, https (unless only this machine uses it), and plain."""
    subject = "public_baseurl"
    url = settings.public_baseurl
    if not url:
        return [Finding(FIX, subject, f"not set, so clients are told {settings.base_url}: set it to the https://"
                        " address clients reach this server at (e.g. https://matrix.gov.example)")]
    parts = urlsplit(url)
    host = parts.hostname or ""
    findings = []
    if parts.username is not None or parts.password is not None:
        findings.append(Finding(FIX, subject, f"{url} holds credentials: every client would be shown them"))
    if parts.query or parts.fragment:
        findings.append(Finding(FIX, subject, f"{url} has a query or fragment: a base URL has neither"))
    if _unspecified(host):
        findings.append(Finding(FIX, subject, f"{url} names {host}, which no client can connect to"))
    elif parts.scheme == "http" and not _loopback(host):
        findings.append(Finding(FIX, subject, f"{url} is plain http: passwords and access tokens would cross the"
                                " network in the clear; use https:// (TLS here or at a proxy in front)"))
    elif parts.scheme == "http":
        findings.append(Finding(WARN, subject, f"{url} is on this machine only: clients elsewhere can't reach it"))
    return findings or [Finding(OK, subject, url)]


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost" or host.endswith(".localhost")


def _unspecified(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False


def check_tls_files(tls_settings: dict[str, Any]) -> list[Finding]:
    """TLS files named by tls_*key/cert/chain/file/path settings: present, the private key private, the certificate current and matching."""
    findings: list[Finding] = []
    keys, certificates = [], []
    for name, value in sorted(tls_settings.items()):
        if not isinstance(value, (str, Path)) or not str(value):
            continue
        path = Path(value)
        if not path.is_file():
            findings.append(Finding(FIX, name, f"{path} does not exist"))
        elif not os.access(path, os.R_OK):
            findings.append(Finding(FIX, name, f"{path} can't be read by {_user(os.geteuid())}"))
        elif "key" in name:
            keys.append(path)
            mode = stat.S_IMODE(path.stat().st_mode)
            if mode & 0o007:
                findings.append(Finding(FIX, name, f"private key {path} is readable by every user ({mode:04o}):"
                                        f" chmod 600 {path}"))
            elif mode & 0o070:
                findings.append(Finding(WARN, name, f"private key {path} is readable by its group ({mode:04o})"))
        elif "cert" in name or "chain" in name:
            certificates.append(path)
            findings += _certificate_dates(name, path)
    if len(keys) == 1 and len(certificates) == 1:
        try:
            ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(certificates[0], keys[0])
        except (ssl.SSLError, OSError) as e:
            findings.append(Finding(FIX, "tls", f"{certificates[0]} and {keys[0]} don't make a pair: {e}"))
    if (keys or certificates) and not any(f.severity == FIX for f in findings):
        findings.append(Finding(OK, "tls", ", ".join(str(p) for p in certificates + keys)))
    return findings


def _certificate_dates(name: str, path: Path) -> list[Finding]:
    try:
        # The standard library's own PEM reader; it has no public name.
        decoded = ssl._ssl._test_decode_cert(str(path))  # type: ignore[attr-defined]
        not_after = ssl.cert_time_to_seconds(decoded["notAfter"])
    except (ssl.SSLError, ValueError, KeyError, AttributeError) as e:
        return [Finding(FIX, name, f"{path} is not a PEM certificate: {e}")]
    days = (not_after - time.time()) / 86400
    if days < 0:
        return [Finding(FIX, name, f"{path} expired on {decoded['notAfter']}: renew it")]
    if days < CERTIFICATE_WARN_DAYS:
        return [Finding(WARN, name, f"{path} expires in {int(days)} days ({decoded['notAfter']}): renew it")]
    return []


def check_disk_space(settings: Settings) -> list[Finding]:
    """Free space on the data folder's filesystem, against disk_free_min_mb."""
    place = settings.data_dir
    while not place.exists() and place != place.parent:
        place = place.parent
    free_mb = shutil.disk_usage(place).free // (1024 * 1024)
    if free_mb < settings.disk_free_min_mb:
        return [Finding(FIX, "disk space", f"{free_mb} MiB free where {settings.data_dir} is, under"
                        f" disk_free_min_mb ({settings.disk_free_min_mb}): the database stops taking writes"
                        " when the disk fills; free space or grow the filesystem")]
    return [Finding(OK, "disk space", f"{free_mb} MiB free (disk_free_min_mb: {settings.disk_free_min_mb})")]
