"""HTTPS served by qasid itself: one TLS context, its certificate read again on SIGHUP.

A renewed certificate (certbot, an internal CA's rotation) is picked up without a restart:
the context object the listener was built with is loaded again in place, and OpenSSL copies
a context's certificate into each connection when its handshake starts, so new connections
get the new certificate while open ones keep theirs.
"""

from __future__ import annotations

import logging
import signal
import ssl
from pathlib import Path
from typing import Any

log = logging.getLogger("qasid.tls")

# TLS 1.2 only with forward-secret AEAD suites; TLS 1.3's suites are all of that kind already.
_TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20"


class TlsError(Exception):
    """A certificate or key that can't be used; the message names the file and why."""


def server_context(certificate: Path, private_key: Path) -> ssl.SSLContext:
    """A server context for TLS 1.2 and 1.3 only (1.3 whenever the client offers it), certificate loaded."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(_TLS12_CIPHERS)
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE | ssl.OP_NO_RENEGOTIATION
    context.set_alpn_protocols(["http/1.1"])
    _load(context, certificate, private_key)
    return context


def reload_certificate(context: ssl.SSLContext, certificate: Path, private_key: Path) -> None:
    """Load the files again into `context`, for handshakes from now on.

    They are tried in a context of their own first: a half-written renewal or a key that does not
    match its certificate raises TlsError and leaves the serving certificate as it was.
    """
    _load(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER), certificate, private_key)
    _load(context, certificate, private_key)


def reload_on_sighup(context: ssl.SSLContext, certificate: Path, private_key: Path) -> None:
    """Install a SIGHUP handler that reloads the certificate; a failed reload is logged, never fatal."""

    def on_sighup(signum: int, frame: Any) -> None:
        try:
            reload_certificate(context, certificate, private_key)
        except TlsError as e:
            log.error("SIGHUP: certificate not reloaded, still serving the previous one: %s", e)
            return
        log.info("SIGHUP: certificate reloaded from %s", certificate)

    signal.signal(signal.SIGHUP, on_sighup)


def _no_passphrase() -> str:
    # A server restarting unattended can't type one: without this, OpenSSL would prompt on the terminal.
    raise TlsError("the TLS private key is encrypted; qasid needs it unencrypted (readable by its user only)")


def _load(context: ssl.SSLContext, certificate: Path, private_key: Path) -> None:
    for what, path in (("certificate", certificate), ("private key", private_key)):
        if not path.is_file():
            raise TlsError(f"TLS {what} {path} does not exist or is not a file")
    try:
        context.load_cert_chain(certificate, private_key, password=_no_passphrase)
    except ssl.SSLError as e:
        raise TlsError(f"TLS certificate {certificate} and key {private_key} can't be used: {e.reason or e}") from None
    except OSError as e:
        raise TlsError(f"can't read TLS certificate {certificate} or key {private_key}: {e.strerror}") from None
