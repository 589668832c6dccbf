"""Clients find the government's own call service, Jitsi and map tiles, and nothing abroad."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx

from tests.server import ServerProcess

RTC = "/_matrix/client/unstable/org.matrix.msc4143/rtc/transports"
ENV = {"QASID_LIVEKIT_SERVICE_URL": "https://livekit-jwt.gov.example",
       "QASID_JITSI_DOMAIN": "meet.gov.example", "QASID_MAP_STYLE_URL": "https://tiles.gov.example/style.json"}


def test_without_settings_nothing_is_announced(server: ServerProcess) -> None:
    well_known = httpx.get(server.base_url + "/.well-known/matrix/client").json()
    assert set(well_known) == {"m.homeserver", "io.element.e2ee"}
    token = server.register("alice")["access_token"]
    response = httpx.get(server.base_url + RTC, headers={"authorization": f"Bearer {token}"})
    assert (response.status_code, response.json()) == (200, {})


def test_the_operators_services_are_announced(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", env=ENV)
    server.start()
    try:
        well_known = httpx.get(server.base_url + "/.well-known/matrix/client").json()
        focus = [{"type": "livekit", "livekit_service_url": "https://livekit-jwt.gov.example"}]
        assert well_known["org.matrix.msc4143.rtc_foci"] == focus
        assert well_known["io.element.jitsi"] == {"preferredDomain": "meet.gov.example"}
        assert well_known["m.tile_server"] == {"map_style_url": "https://tiles.gov.example/style.json"}
        token = server.register("alice")["access_token"]
        response = httpx.get(server.base_url + RTC, headers={"authorization": f"Bearer {token}"})
        assert response.json() == {"rtc_transports": focus}
        versions = httpx.get(server.base_url + "/_matrix/client/versions").json()["unstable_features"]
        assert versions["org.matrix.msc4140"] is True
    finally:
        server.stop()


def test_element_config_is_hardened(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", env=ENV | {"QASID_PUBLIC_BASEURL": "https://matrix.gov.example"})
    printed = subprocess.run([sys.executable, "-m", "qasid.cli", "element-config"], env=server._env(),
                             capture_output=True, text=True, timeout=60, check=True).stdout
    config = json.loads(printed)
    assert config["default_server_config"]["m.homeserver"] == {"base_url": "https://matrix.gov.example",
                                                               "server_name": server.server_name}
    assert (config["integrations_ui_url"], config["integrations_rest_url"], config["integrations_widgets_urls"]) \
        == ("", "", [])
    assert config["setting_defaults"]["fallbackICEServerAllowed"] is False
    assert config["setting_defaults"]["UIFeature.feedback"] is False
    assert config["jitsi"] == {"preferred_domain": "meet.gov.example"}
    assert config["element_call"] == {"use_exclusively": True}
    assert config["map_style_url"] == "https://tiles.gov.example/style.json"
    for outside in ("bug_report_endpoint_url", "posthog", "piwik", "privacy_policy_url", "element_call.url"):
        assert outside not in config
    # No host but the government's own anywhere in it.
    hosts = {word.split("/")[2] for word in printed.replace('"', " ").split() if word.startswith("https://")}
    assert hosts <= {"matrix.gov.example", "tiles.gov.example"}


def test_call_service_urls_must_be_https(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", env={"QASID_LIVEKIT_SERVICE_URL": "http://livekit.example"})
    out = server.run_cli("token", "list", "--init")
    assert out.returncode == 2 and "livekit_service_url" in out.stderr
