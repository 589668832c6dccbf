"""A real OpenLDAP server for the directory sign-in tests: Debian's slapd, started by the test.

Its own configuration file, database and test CA in a temporary folder, on free loopback ports
(ldap:// with StartTLS, and ldaps://); the package's own service is never used. One OU per ministry.
"""

from __future__ import annotations

import datetime
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from ldap3 import MODIFY_ADD, MODIFY_DELETE, MODIFY_REPLACE, Connection, Server, Tls

from tests.ops.certs import write_self_signed
from tests.server import free_port

SLAPD = shutil.which("slapd") or ("/usr/sbin/slapd" if Path("/usr/sbin/slapd").exists() else None)
SUFFIX = "dc=gov,dc=example"
ROOT_DN = f"cn=admin,{SUFFIX}"
ROOT_PASSWORD = "root-Directory-pw-1"
BIND_DN = f"cn=qasid,ou=services,{SUFFIX}"
BIND_PASSWORD = "service-Directory-pw-1"
# Users: uid -> (OU, password, extra attributes). carol is disabled from the start.
USERS = {
    "alice": ("Finance", "alice-Directory-pw-1", {"title": "Deputy Secretary", "displayName": "Alice Akhtar"}),
    "bilal": ("People", "bilal-Directory-pw-1", {"title": "Director", "departmentNumber": "Health"}),
    "carol": ("Finance", "carol-Directory-pw-1", {"title": "Clerk", "employeeType": "disabled"}),
    "dawood": ("Finance", "dawood-Directory-pw-1", {"title": "Analyst"}),
}
DISABLED_FILTER = "(employeeType=disabled)"


def user_dn(uid: str) -> str:
    return f"uid={uid},ou={USERS[uid][0]},{SUFFIX}"


def _ldif() -> str:
    blocks = [f"dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\no: gov\ndc: gov"]
    for ou in ("Finance", "People", "services"):
        blocks.append(f"dn: ou={ou},{SUFFIX}\nobjectClass: organizationalUnit\nou: {ou}")
    blocks.append(f"dn: {BIND_DN}\nobjectClass: person\nobjectClass: simpleSecurityObject\ncn: qasid\nsn: qasid\n"
                  f"userPassword: {BIND_PASSWORD}")
    for uid, (_, password, extra) in USERS.items():
        lines = [f"dn: {user_dn(uid)}", "objectClass: inetOrgPerson", f"uid: {uid}", f"cn: {uid}", f"sn: {uid}",
                 f"userPassword: {password}", *(f"{k}: {v}" for k, v in extra.items())]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


class Slapd:
    """slapd in the foreground on two free ports; stop() and start() again on the same data."""

    def __init__(self, folder: Path, certificate_names: list[str] | None = None) -> None:
        if SLAPD is None:
            pytest.skip("needs slapd: apt-get install slapd (Debian's OpenLDAP server)")
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "db").mkdir(exist_ok=True)
        self.ca_file = folder / "ca.pem"
        if certificate_names is None:
            write_self_signed(self.ca_file, folder / "key.pem")
        else:
            write_certificate_for(self.ca_file, folder / "key.pem", certificate_names)
        self.port, self.ldaps_port = free_port(), free_port()
        self.uri = f"ldap://127.0.0.1:{self.port}"
        self.ldaps_uri = f"ldaps://127.0.0.1:{self.ldaps_port}"
        self.config = folder / "slapd.conf"
        self.config.write_text(f"""
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
pidfile {folder}/slapd.pid
modulepath /usr/lib/ldap
moduleload back_mdb
TLSCACertificateFile {self.ca_file}
TLSCertificateFile {self.ca_file}
TLSCertificateKeyFile {folder / "key.pem"}
database mdb
suffix "{SUFFIX}"
rootdn "{ROOT_DN}"
rootpw {ROOT_PASSWORD}
directory {folder / "db"}
access to attrs=userPassword by self write by anonymous auth by * none
access to * by dn.exact="{BIND_DN}" read by self read by * none
""")
        (folder / "data.ldif").write_text(_ldif())
        subprocess.run([SLAPD_ADD, "-f", str(self.config), "-l", str(folder / "data.ldif")],
                       check=True, capture_output=True, timeout=60)
        self.proc: subprocess.Popen[bytes] | None = None
        self.ous = {uid: ou for uid, (ou, _, _) in USERS.items()}  # where each user is now

    def dn(self, uid: str) -> str:
        return f"uid={uid},ou={self.ous[uid]},{SUFFIX}"

    def start(self) -> None:
        log = (self.folder / "slapd.log").open("ab")
        assert SLAPD is not None
        self.proc = subprocess.Popen(
            [SLAPD, "-f", str(self.config), "-h", f"{self.uri}/ {self.ldaps_uri}/", "-d", "0"],
            stdout=log, stderr=log)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"slapd exited:\n{(self.folder / 'slapd.log').read_text()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("slapd did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def _admin(self) -> Connection:
        tls = Tls(ca_certs_file=str(self.ca_file))
        conn = Connection(Server("127.0.0.1", port=self.port, tls=tls), ROOT_DN, ROOT_PASSWORD)
        conn.open()
        assert conn.start_tls() and conn.bind(), conn.result
        return conn

    def set_disabled(self, uid: str, disabled: bool) -> None:
        """Disable (or enable) the user's entry the way the tests' directory reads it: employeeType=disabled."""
        conn = self._admin()
        change = (MODIFY_ADD if disabled else MODIFY_DELETE, ["disabled"])
        assert conn.modify(self.dn(uid), {"employeeType": [change]}), conn.result
        conn.unbind()

    def replace(self, uid: str, attribute: str, value: str) -> None:
        conn = self._admin()
        assert conn.modify(self.dn(uid), {attribute: [(MODIFY_REPLACE, [value])]}), conn.result
        conn.unbind()

    def delete(self, uid: str) -> None:
        conn = self._admin()
        assert conn.delete(self.dn(uid)), conn.result
        conn.unbind()

    def move(self, uid: str, ou: str) -> None:
        """Move the entry to another OU (a reorganisation): its DN changes, its name does not."""
        conn = self._admin()
        assert conn.modify_dn(self.dn(uid), f"uid={uid}", new_superior=f"ou={ou},{SUFFIX}"), conn.result
        conn.unbind()
        self.ous[uid] = ou


def write_certificate_for(certificate: Path, private_key: Path, names: list[str]) -> None:
    """A self-signed certificate (its own CA) valid only for these DNS names."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    private_key.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    certificate.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


SLAPD_ADD = str(Path(SLAPD).with_name("slapadd")) if SLAPD else "slapadd"
