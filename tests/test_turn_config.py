"""`qasid turn-config`: a coturn configuration that matches qasid's settings and is safe by default."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SECRET = "f" * 64


def turn_config(tmp_path: Path, *args: str, secret: str = SECRET) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QASID_")}
    env.update({"QASID_TURN_URIS": "turns:turn.gov.example:5349?transport=tcp", "QASID_TURN_SHARED_SECRET": secret,
                "QASID_SERVER_NAME": "gov.example", "QASID_CONFIG": str(tmp_path / "none.toml")})
    (tmp_path / "none.toml").touch()
    return subprocess.run([sys.executable, "-m", "qasid.cli", "turn-config", *args], env=env,
                          capture_output=True, text=True, timeout=60, check=False)


def test_defaults_share_the_secret_and_deny_internal_peers(tmp_path: Path) -> None:
    out = turn_config(tmp_path)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    for line in ("use-auth-secret", f"static-auth-secret={SECRET}", "realm=gov.example", "no-cli",
                 "denied-peer-ip=127.0.0.0-127.255.255.255", "denied-peer-ip=10.0.0.0-10.255.255.255",
                 "denied-peer-ip=172.16.0.0-172.31.255.255", "denied-peer-ip=192.168.0.0-192.168.255.255",
                 "denied-peer-ip=169.254.0.0-169.254.255.255", "denied-peer-ip=::1",
                 "denied-peer-ip=fe80::-febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "no-tls"):
        assert line in lines, line
    assert not any(line.startswith(("allowed-peer-ip", "allow-loopback-peers", "cli-password")) for line in lines)


def test_tls_lines_with_a_certificate_and_opened_ranges(tmp_path: Path) -> None:
    out = turn_config(tmp_path, "--cert", "/etc/ssl/turn.pem", "--pkey", "/etc/ssl/turn.key",
                      "--allow-peer", "10.20.0.0/16")
    lines = out.stdout.splitlines()
    assert {"tls-listening-port=5349", "cert=/etc/ssl/turn.pem", "pkey=/etc/ssl/turn.key", "no-tlsv1"} <= set(lines)
    assert "no-tls" not in lines and "allowed-peer-ip=10.20.0.0-10.20.255.255" in lines
    assert "allow-loopback-peers" not in lines
    assert "allow-loopback-peers" in turn_config(tmp_path, "--allow-loopback-peers").stdout.splitlines()


def test_without_a_secret_there_is_nothing_to_configure(tmp_path: Path) -> None:
    env_free = turn_config(tmp_path, secret="")
    assert env_free.returncode == 2
    assert "turn_uris and turn_shared_secret go together" in env_free.stderr
    bad = turn_config(tmp_path, "--allow-peer", "not-an-address")
    assert bad.returncode == 2 and "not an IP address" in bad.stderr
