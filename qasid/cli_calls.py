"""`qasid turn-config` and `qasid element-config`: configuration for the components beside qasid."""

from __future__ import annotations

import argparse
import ipaddress
import json
from pathlib import Path
from typing import Any

from qasid.config import Settings, SettingsError
from qasid.config_loading import load_settings

# Peers a relay must never reach unless the operator opens them: a TURN server that relays to
# loopback, link-local or private addresses lets any caller probe the network it stands in.
DENIED_PEER_RANGES = (
    "0.0.0.0-0.255.255.255",
    "10.0.0.0-10.255.255.255",
    "100.64.0.0-100.127.255.255",
    "127.0.0.0-127.255.255.255",
    "169.254.0.0-169.254.255.255",
    "172.16.0.0-172.31.255.255",
    "192.0.0.0-192.0.0.255",
    "192.0.2.0-192.0.2.255",
    "192.88.99.0-192.88.99.255",
    "192.168.0.0-192.168.255.255",
    "198.18.0.0-198.19.255.255",
    "198.51.100.0-198.51.100.255",
    "203.0.113.0-203.0.113.255",
    "240.0.0.0-255.255.255.255",
    "::1",
    "64:ff9b::-64:ff9b::ffff:ffff",
    "::ffff:0.0.0.0-::ffff:255.255.255.255",
    "100::-100::ffff:ffff:ffff:ffff",
    "2001::-2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff",
    "2002::-2002:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    "fc00::-fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    "fe80::-febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
)


def _peer_range(text: str) -> str:
    """An address or CIDR network for --allow-peer, as coturn's FROM-TO range."""
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an IP address or CIDR network") from None
    if network.num_addresses == 1:
        return str(network.network_address)
    return f"{network.network_address}-{network.broadcast_address}"


def turn_config(settings: Settings, args: Any) -> str:
    """A coturn configuration that accepts exactly the credentials qasid hands out."""
    if not settings.turn_shared_secret:
        raise SettingsError("turn_shared_secret is not set: qasid and coturn must share it"
                            " (set turn_shared_secret and turn_uris, e.g. in qasid.toml)")
    if bool(args.cert) != bool(args.pkey):
        raise SettingsError("--cert and --pkey go together")
    lines = [
        f"# coturn for {settings.server_name}, written by `qasid turn-config`.",
        "# Relays media only with the time-limited credentials qasid issues at /voip/turnServer.",
        f"listening-port={args.port}",
        *(f"listening-ip={ip}" for ip in args.listening_ip),
        *(f"relay-ip={ip}" for ip in args.relay_ip),
        *([f"external-ip={args.external_ip}"] if args.external_ip else []),
        f"min-port={args.min_port}",
        f"max-port={args.max_port}",
        "use-auth-secret",
        f"static-auth-secret={settings.turn_shared_secret}",
        f"realm={settings.server_name}",
        "fingerprint",
        "no-cli",
        "no-multicast-peers",
        "no-tcp-relay",
        "stale-nonce=600",
        f"user-quota={args.user_quota}",
        f"total-quota={args.total_quota}",
    ]
    if args.cert:
        lines += [f"tls-listening-port={args.tls_port}", f"cert={args.cert}", f"pkey={args.pkey}",
                  "no-tlsv1", "no-tlsv1_1", "cipher-list=ECDHE+AESGCM:ECDHE+CHACHA20"]
    else:
        lines += ["# No --cert given: plain TURN only (turn: URIs); give --cert/--pkey for turns:.",
                  "no-tls", "no-dtls"]
    lines += ["# Peers the relay may not reach (loopback, link-local, private and reserved ranges)."]
    lines += [f"denied-peer-ip={peer}" for peer in DENIED_PEER_RANGES]
    opened = list(args.allow_peer)
    if args.allow_loopback_peers:
        lines += ["# --allow-loopback-peers: a test or lab on one machine, never a server in service.",
                  "allow-loopback-peers"]
        opened += ["127.0.0.1", "::1"]
    if opened:
        lines += ["# Opened by the operator (allowed-peer-ip overrides denied-peer-ip)."]
        lines += [f"allowed-peer-ip={peer}" for peer in opened]
    if args.log_file:
        # verbose: each allocation is logged with its user, which is what an audit of calls needs.
        lines += [f"log-file={args.log_file}", "simple-log", "verbose"]
    if args.pidfile:
        lines += [f"pidfile={args.pidfile}"]
    return "\n".join(lines) + "\n"


def cmd_turn_config(args: argparse.Namespace) -> int:
    settings = load_settings(config_file=Path(args.config) if args.config else None,
                             server_name=args.server_name)
    print(turn_config(settings, args), end="")
    return 0


def element_config(settings: Settings) -> dict[str, Any]:
    """A hardened Element Web config.json for this server: nothing reaches outside the government's hosts.

    No integration manager, no analytics, no bug reports or feedback, no identity server or third-party
    IDs, no fallback ICE server (calls use qasid's TURN relay only); group calls only through the
    operator's MatrixRTC service or Jitsi; location sharing only with the operator's tile server.
    """
    setting_defaults: dict[str, Any] = {
        "fallbackICEServerAllowed": False,
        "UIFeature.feedback": False,
        "UIFeature.identityServer": False,
        "UIFeature.thirdPartyId": False,
        "UIFeature.registration": False,
        "UIFeature.passwordReset": False,
        "UIFeature.widgets": bool(settings.jitsi_domain),
        "UIFeature.locationSharing": bool(settings.map_style_url),
        "UIFeature.voip": True,
    }
    config: dict[str, Any] = {
        "default_server_config": {"m.homeserver": {"base_url": settings.base_url,
                                                   "server_name": settings.server_name}},
        "disable_custom_urls": True,
        "disable_guests": True,
        "disable_3pid_login": True,
        "default_federate": False,
        "room_directory": {"servers": [settings.server_name]},
        "integrations_ui_url": "",
        "integrations_rest_url": "",
        "integrations_widgets_urls": [],
        "show_labs_settings": False,
        "setting_defaults": setting_defaults,
    }
    if settings.jitsi_domain:
        config["jitsi"] = {"preferred_domain": settings.jitsi_domain}
    if settings.livekit_service_url:
        # Group calls through MatrixRTC (Element Call on the operator's LiveKit) and nothing else.
        config["features"] = {"feature_group_calls": True}
        config["element_call"] = {"use_exclusively": True}
    if settings.map_style_url:
        config["map_style_url"] = settings.map_style_url
    return config


def cmd_element_config(args: argparse.Namespace) -> int:
    settings = load_settings(config_file=Path(args.config) if args.config else None,
                             server_name=args.server_name)
    print(json.dumps(element_config(settings), indent=2))
    return 0


def add_calls_parsers(sub: Any) -> None:
    """The call-component commands, beside `serve` and `admin`."""
    turn = sub.add_parser(
        "turn-config", help="print a coturn configuration matching qasid's TURN settings (contains the secret)")
    turn.add_argument("--server-name", help="the Matrix server name (default: from the settings)")
    turn.add_argument("--port", type=int, default=3478, help="TURN listening port (default 3478)")
    turn.add_argument("--tls-port", type=int, default=5349, help="TURN over TLS port, with --cert (default 5349)")
    turn.add_argument("--cert", help="TLS certificate chain (PEM) for turns:")
    turn.add_argument("--pkey", help="TLS private key (PEM) for turns:")
    turn.add_argument("--listening-ip", action="append", default=[], help="address to listen on (repeatable)")
    turn.add_argument("--relay-ip", action="append", default=[], help="address to relay from (repeatable)")
    turn.add_argument("--external-ip", help="public address, when coturn is behind 1:1 NAT (PUBLIC[/PRIVATE])")
    turn.add_argument("--min-port", type=int, default=49152, help="lowest relay port (default 49152)")
    turn.add_argument("--max-port", type=int, default=65535, help="highest relay port (default 65535)")
    turn.add_argument("--user-quota", type=int, default=12, help="concurrent allocations per user (default 12)")
    turn.add_argument("--total-quota", type=int, default=1200, help="concurrent allocations in all (default 1200)")
    turn.add_argument("--allow-peer", action="append", default=[], type=_peer_range,
                      help="open a denied address or CIDR network to relaying (repeatable)")
    turn.add_argument("--allow-loopback-peers", action="store_true",
                      help="relay to 127.0.0.1 and ::1: for a test or lab on one machine ONLY, never in service")
    turn.add_argument("--log-file", help="coturn's log file")
    turn.add_argument("--pidfile", help="coturn's pid file")
    turn.set_defaults(func=cmd_turn_config)
    element = sub.add_parser(
        "element-config", help="print a hardened Element Web config.json for this server (for whoever hosts Element Web)")
    element.add_argument("--server-name", help="the Matrix server name (default: from the settings)")
    element.set_defaults(func=cmd_element_config)
