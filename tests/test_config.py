"""Settings: every value checked by type and range, from every source; errors name the setting and its source."""

from __future__ import annotations

from pathlib import Path

import pytest

from qasid.config import RateLimit, SettingsError
from qasid.config_loading import load_settings

BAD_VARIABLES = [
    ("QASID_RATE_LIMITS_ENABLED", "ture", ("rate_limits_enabled (from environment variable"
                                          " QASID_RATE_LIMITS_ENABLED): 'ture' is not a boolean")),
    ("QASID_BIND_PORT", "abc", "bind_port (from environment variable QASID_BIND_PORT): 'abc' is not a whole number"),
    ("QASID_BIND_PORT", "8019.5", "is not a whole number"),
    ("QASID_BIND_PORT", "70000", "70000 is out of range (1 to 65535)"),
    ("QASID_SYNC_PACE_MS", "-5", "sync_pace_ms (from environment variable QASID_SYNC_PACE_MS): -5 is out of range"),
    ("QASID_RATE_LOGIN", "fast", ("rate_login (from environment variable QASID_RATE_LOGIN): 'fast' must be"
                                 " PER_SECOND/BURST")),
    ("QASID_RATE_LOGIN", "0/5", "the rate must be a number of requests per second above 0"),
    ("QASID_RATE_LOGIN", "1/0", "the burst must be a whole number from 1"),
    ("QASID_RATE_LOGIN", "nan/5", "the rate must be"),
    ("QASID_LOG_LEVEL", "loud", "log_level (from environment variable QASID_LOG_LEVEL): 'loud' must be one of"),
    ("QASID_SERVER_NAME", "gov example", ("server_name (from environment variable QASID_SERVER_NAME):"
                                         " 'gov example' is not a host name")),
    ("QASID_PUBLIC_BASEURL", "matrix.gov", "must be empty or an http:// or https:// URL"),
    ("QASID_DATA_DIR", " ", "is not a folder path"),
    ("QASID_LOG_FORMAT", "xml", "log_format (from environment variable QASID_LOG_FORMAT): 'xml' must be one of text, json"),
    ("QASID_METRICS_BIND", "9108", "metrics_bind (from environment variable QASID_METRICS_BIND): '9108' must be empty"),
    ("QASID_METRICS_BIND", "127.0.0.1:70000", "must be empty (no metrics listener) or HOST:PORT"),
    ("QASID_TLS_CERTIFICATE", "/etc/ssl/qasid.pem", "tls_certificate and tls_private_key go together"),
    ("QASID_CLASSIFICATION_LEVELS", "Open, [Secret]", ("classification_levels (from environment variable"
                                                      " QASID_CLASSIFICATION_LEVELS): '[Secret]' is not a level name")),
    ("QASID_CLASSIFICATION_LEVELS", "Open, Secret, SECRET", "the levels must differ (ignoring case)"),
    ("QASID_CLASSIFICATION_LEVELS", "Open,,Secret", "'' is not a level name"),
    ("QASID_SUPPORT_ADMIN_CONTACTS", "ops", ("support_admin_contacts (from environment variable"
                                            " QASID_SUPPORT_ADMIN_CONTACTS): 'ops' is neither a Matrix user ID")),
    ("QASID_SUPPORT_SECURITY_CONTACTS", "@ops", "'@ops' is neither a Matrix user ID nor an email address"),
    ("QASID_SUPPORT_PAGE", "help.gov.example", ("support_page (from environment variable QASID_SUPPORT_PAGE):"
                                               " 'help.gov.example' must be empty or an http:// or https:// URL")),
    ("QASID_RATE_REPORT", "0/1", "the rate must be a number of requests per second above 0"),
    ("QASID_SERVERNAME", "gov.example", ("unknown environment variable QASID_SERVERNAME;"
                                        " did you mean QASID_SERVER_NAME?")),
]


@pytest.mark.parametrize(("variable", "value", "message"), BAD_VARIABLES)
def test_a_bad_variable_is_an_error_naming_it(variable: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(environ={variable: value})
    assert message in str(caught.value)


@pytest.mark.parametrize(("text", "message"), [
    ("bind_port = 8019.5", "bind_port (from {path}): 8019.5 is not a whole number"),
    ('bind_port = "8019"', "bind_port (from {path}): '8019' is not a whole number"),
    ('rate_login = "fast"', "rate_login (from {path}): 'fast' must be PER_SECOND/BURST"),
    ("rate_login = {per_second = 1}", "rate_login (from {path})"),
    ('rate_limits_enabled = "no"', "rate_limits_enabled (from {path}): 'no' is not a boolean"),
    ("sync_pace_ms = -5", "sync_pace_ms (from {path}): -5 is out of range (0 to 60000)"),
    ("server_name = 5", "server_name (from {path}): 5 is not text"),
    ('support_admin_contacts = "@ops:gov.example"', "support_admin_contacts (from {path})"),
    ('support_security_contacts = ["cert at gov"]', "'cert at gov' is neither a Matrix user ID nor an email"),
    ('servername = "gov.example"', "unknown setting 'servername' in {path}; did you mean server_name?"),
    ("bind_port = ", "configuration file {path} is not valid TOML"),
    ('classification_levels = "Secret"', "classification_levels (from {path}): 'Secret' is not a list of level names"),
    ("classification_levels = []", "classification_levels (from {path}): give 1 to 16 levels"),
])
def test_a_bad_value_in_the_file_is_an_error_naming_it_and_the_file(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "qasid.toml"
    path.write_text(text + "\n")
    with pytest.raises(SettingsError) as caught:
        load_settings(environ={"QASID_CONFIG": str(path)})
    assert message.format(path=path.resolve()) in str(caught.value)


def test_a_named_configuration_file_must_exist(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    for attempt in (lambda: load_settings(config_file=missing, environ={}),
                    lambda: load_settings(environ={"QASID_CONFIG": str(missing)}),
                    lambda: load_settings(environ={"QASID_CONFIG": ""})):
        with pytest.raises(SettingsError, match="nope.toml does not exist|QASID_CONFIG is set but empty"):
            attempt()


def test_good_values_from_every_source_and_their_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_settings(environ={}).server_name == "localhost"  # ./qasid.toml is optional
    path = tmp_path / "qasid.toml"
    path.write_text('server_name = "gov.example"\nbind_port = 9000\nrate_login = {per_second = 2, burst = 3}\n'
                    "rate_limits_enabled = false\n")
    settings = load_settings(environ={"QASID_BIND_PORT": " 9001 ", "QASID_RATE_SEND": "1.5/4",
                                      "QASID_SYNC_PACE_MS": "0", "QASID_TEST_NETWORK_LOG": "x"}, data_dir="/srv/q")
    assert (settings.server_name, settings.bind_port, settings.sync_pace_ms) == ("gov.example", 9001, 0)
    assert (settings.rate_login, settings.rate_send) == (RateLimit(2.0, 3), RateLimit(1.5, 4))
    assert settings.rate_limits_enabled is False and settings.data_dir == Path("/srv/q")
    for text, expected in (("off", False), ("0", False), ("Yes", True), ("1", True)):
        assert load_settings(environ={"QASID_RATE_LIMITS_ENABLED": text}).rate_limits_enabled is expected


def test_a_bad_command_line_value_names_the_command_line() -> None:
    with pytest.raises(SettingsError, match=r"bind_port \(from the command line\): 0 is out of range"):
        load_settings(environ={}, bind_port=0)


def test_classification_levels_keep_their_order_and_spaces() -> None:
    assert load_settings(environ={}).classification_levels == ("Unrestricted", "Restricted", "Confidential", "Secret")
    levels = load_settings(environ={"QASID_CLASSIFICATION_LEVELS": "Public, Official, Top Secret"})
    assert levels.classification_levels == ("Public", "Official", "Top Secret")
