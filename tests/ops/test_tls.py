"""qasid serving HTTPS itself: TLS 1.2+ only, and a renewed certificate picked up on SIGHUP."""

from __future__ import annotations

import signal
import socket
import ssl
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.ops.certs import write_self_signed
from tests.server import ServerProcess


class TlsServer(ServerProcess):
    """A qasid server process serving HTTPS with a self-signed certificate from `tls_dir`."""

    def __init__(self, data_dir: Path, tls_dir: Path) -> None:
        tls_dir.mkdir(parents=True, exist_ok=True)
        self.certificate, self.private_key = tls_dir / "fullchain.pem", tls_dir / "privkey.pem"
        self.certificate_der = write_self_signed(self.certificate, self.private_key, "first")
        super().__init__(data_dir, env={
            "QASID_TLS_CERTIFICATE": str(self.certificate), "QASID_TLS_PRIVATE_KEY": str(self.private_key)})
        self.base_url = self.base_url.replace("http://", "https://")
        self.verify = ssl.create_default_context(cafile=self.certificate)


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[TlsServer]:
    server = TlsServer(tmp_path / "data", tmp_path / "tls")
    server.start()
    yield server
    server.stop()


def _handshake(port: int, context: ssl.SSLContext) -> tuple[str, bytes]:
    """The protocol version and the server's certificate (DER) of one new connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, context.wrap_socket(raw) as tls:
        return str(tls.version()), tls.getpeercert(binary_form=True) or b""


def _client(version: ssl.TLSVersion | None = None) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # each test compares the certificate itself
    if version is not None:
        # Lowered security level: this client really offers the old version, so the refusal is the server's.
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
        context.minimum_version = context.maximum_version = version
    return context


def test_https_serves_the_client_api_over_tls_1_3(tls_server: TlsServer) -> None:
    versions = httpx.get(tls_server.base_url + "/_matrix/client/versions", verify=tls_server.verify)
    assert versions.status_code == 200 and "v1.11" in versions.json()["versions"]
    protocol, certificate = _handshake(tls_server.port, _client())
    assert protocol == "TLSv1.3" and certificate == tls_server.certificate_der
    assert _handshake(tls_server.port, _client(ssl.TLSVersion.TLSv1_2))[0] == "TLSv1.2"
    # Plain HTTP on the HTTPS port gets no answer from the API.
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{tls_server.port}/_matrix/client/versions", timeout=3)


def test_tls_1_1_and_older_are_refused(tls_server: TlsServer) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # naming the old versions is the point
        for old in (ssl.TLSVersion.TLSv1_1, ssl.TLSVersion.TLSv1):
            with pytest.raises(ssl.SSLError) as refused:
                _handshake(tls_server.port, _client(old))
            # The server answers the ClientHello with a protocol_version alert, or (uvloop's TLS)
            # closes the connection: either way it never agrees. The client did offer it (see _client).
            assert refused.value.reason in ("TLSV1_ALERT_PROTOCOL_VERSION", "UNEXPECTED_EOF_WHILE_READING")
    # The same server and client code, with a version the server takes: the refusal above is about the version.
    assert _handshake(tls_server.port, _client(ssl.TLSVersion.TLSv1_2))[0] == "TLSv1.2"


def test_sighup_serves_a_renewed_certificate_without_a_restart(tls_server: TlsServer) -> None:
    assert tls_server.proc is not None
    pid = tls_server.proc.pid
    renewed = write_self_signed(tls_server.certificate, tls_server.private_key, "renewed")
    assert _handshake(tls_server.port, _client())[1] == tls_server.certificate_der  # not before the signal
    tls_server.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 5
    while _handshake(tls_server.port, _client())[1] != renewed and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _handshake(tls_server.port, _client())[1] == renewed
    assert tls_server.proc.poll() is None and tls_server.proc.pid == pid
    fresh = ssl.create_default_context(cafile=tls_server.certificate)
    assert httpx.get(tls_server.base_url + "/_matrix/client/versions", verify=fresh).status_code == 200


def test_sighup_with_a_broken_renewal_keeps_the_current_certificate(tls_server: TlsServer) -> None:
    assert tls_server.proc is not None
    tls_server.private_key.write_text("half a key")
    tls_server.proc.send_signal(signal.SIGHUP)
    time.sleep(0.5)
    assert tls_server.proc.poll() is None
    assert _handshake(tls_server.port, _client())[1] == tls_server.certificate_der
    assert "certificate not reloaded" in tls_server.log_path.read_text()


def test_a_missing_certificate_is_a_clear_error_at_start(tmp_path: Path) -> None:
    server = TlsServer(tmp_path / "data", tmp_path / "tls")
    server.certificate.unlink()
    with pytest.raises(RuntimeError) as failed:
        server.start()
    assert f"TLS certificate {server.certificate} does not exist" in str(failed.value)
