"""Directory sign-in settings and rules: the strict checks, and the pure rules that map and read entries."""

from __future__ import annotations

from pathlib import Path

import pytest

from qasid.config import SettingsError
from qasid.config_loading import load_settings
from qasid.ldap_rules import (
    check_dn_template,
    check_filter,
    entry_disabled,
    parse_dn,
    parse_unit_rule,
    unit_for,
)

SEARCH = {"QASID_LDAP_URI": "ldaps://ldap.gov.example", "QASID_LDAP_BIND_DN": "cn=qasid,dc=gov,dc=example",
          "QASID_LDAP_BIND_PASSWORD": "s3cret-bind", "QASID_LDAP_BASE_DN": "dc=gov,dc=example"}

BAD = [
    ({"QASID_LDAP_URI": "http://ldap.gov.example"}, "ldap_uri (from environment variable QASID_LDAP_URI)"),
    ({"QASID_LDAP_URI": "ldaps://ldap.gov.example/dc=x"}, "must be empty or ldaps://HOST[:PORT]"),
    ({"QASID_LDAP_URI": "ldaps://ldap.gov.example"}, "needs either a bind account"),
    ({**SEARCH, "QASID_LDAP_BIND_PASSWORD": ""}, "ldap_bind_dn and ldap_bind_password go together"),
    ({**SEARCH, "QASID_LDAP_BASE_DN": ""}, "ldap_base_dn is required with a bind account"),
    ({**SEARCH, "QASID_LDAP_BASE_DN": "gov.example"}, "ldap_base_dn (from environment variable"),
    ({**SEARCH, "QASID_LDAP_USER_FILTER": "objectClass=person"}, "must be an LDAP filter in parentheses"),
    ({**SEARCH, "QASID_LDAP_DISABLED_FILTER": "(a=b)(c=d)"}, "must be one filter"),
    ({**SEARCH, "QASID_LDAP_USER_DN_TEMPLATE": "uid=alice,dc=gov"}, "must contain {username} exactly once"),
    ({**SEARCH, "QASID_LDAP_USER_ATTRIBUTE": "uid)(x"}, "is not an attribute name"),
    ({**SEARCH, "QASID_LDAP_UNIT_RULES": "ou=Finance,dc=gov MOF"}, "'ou=Finance,dc=gov MOF' must be `DN => UNIT_CODE`"),
    ({**SEARCH, "QASID_LDAP_UNIT_RULES": "Finance => MOF"}, "is not TYPE=VALUE"),
    ({**SEARCH, "QASID_LDAP_UNIT_RULES": "department: => MOF"}, "needs a value after the colon"),
    ({**SEARCH, "QASID_LDAP_CREATE_ACCOUNTS": "true"}, "ldap_create_accounts needs ldap_unit_rules or ldap_default_unit"),
    ({**SEARCH, "QASID_LDAP_TIMEOUT_MS": "0"}, "out of range (100 to 60000)"),
    ({**SEARCH, "QASID_LDAP_SYNC_INTERVAL_MS": "10"}, "out of range"),
]


@pytest.mark.parametrize(("environ", "message"), BAD)
def test_bad_directory_settings_are_errors_naming_them(environ: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(environ=environ, config_file=None)
    assert message in str(caught.value)
    assert "s3cret-bind" not in str(caught.value)


def test_the_bind_password_is_never_echoed() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(environ={**SEARCH, "QASID_LDAP_BIND_PASSWORD": 5}, config_file=None)  # type: ignore[dict-item]
    assert "s3cret" not in str(caught.value)


def test_good_directory_settings_from_a_file_and_variables(tmp_path: Path) -> None:
    config = tmp_path / "qasid.toml"
    config.write_text('ldap_uri = "ldap://ldap.gov.example:389"\nldap_user_dn_template = "uid={username},ou=people,dc=gov"\n'
                      'ldap_unit_rules = ["ou=Finance,dc=gov,dc=example => MOF", "memberOf:cn=health,ou=groups,dc=gov => MOH"]\n'
                      "ldap_create_accounts = true\n")
    settings = load_settings(config_file=config, environ={"QASID_LDAP_DESIGNATION_ATTRIBUTE": "title"})
    assert settings.ldap_unit_rules == ("ou=Finance,dc=gov,dc=example => MOF", "memberOf:cn=health,ou=groups,dc=gov => MOH")
    from_variable = load_settings(environ={**SEARCH, "QASID_LDAP_UNIT_RULES": "ou=A,dc=gov => A; title:Minister => CAB",
                                           "QASID_LDAP_CREATE_ACCOUNTS": "yes"})
    assert from_variable.ldap_unit_rules == ("ou=A,dc=gov => A", "title:Minister => CAB")


RULES = [parse_unit_rule(r) for r in (
    "ou=Finance, dc=gov,dc=example => MOF",
    "memberOf:cn=Health,ou=groups,dc=gov,dc=example => MOH",
    "departmentNumber:Interior => MOI",
)]
# (DN, attributes, default, expected unit code)
MAPPING = [
    ("uid=a,ou=Finance,dc=gov,dc=example", {}, "", "MOF"),
    ("UID=a, OU=finance, DC=Gov, DC=Example", {}, "", "MOF"),  # case and spaces don't matter
    ("ou=Finance,dc=gov,dc=example", {}, "", "MOF"),  # the OU itself
    ("uid=a,ou=Finance2,dc=gov,dc=example", {}, "", None),  # a sibling with a longer name is not under it
    ("uid=a,ou=Finance,dc=other,dc=example", {}, "", None),
    ("uid=a,ou=People,dc=gov,dc=example", {"memberOf": ["CN=health,OU=Groups,DC=gov,DC=example"]}, "", "MOH"),
    ("uid=a,ou=People,dc=gov,dc=example", {"departmentnumber": ["interior"]}, "", "MOI"),
    ("uid=a,ou=People,dc=gov,dc=example", {"departmentNumber": ["Interior Affairs"]}, "CAB", "CAB"),
    ("uid=a,ou=Finance,dc=gov,dc=example", {"departmentNumber": ["Interior"]}, "", "MOF"),  # first rule wins
    ("uid=a\\,b,ou=Finance,dc=gov,dc=example", {}, "", "MOF"),  # an escaped comma stays in its value
]


@pytest.mark.parametrize(("dn", "attributes", "default", "expected"), MAPPING)
def test_unit_rules_map_entries(dn: str, attributes: dict[str, list[str]], default: str, expected: str | None) -> None:
    assert unit_for(RULES, dn, attributes, default) == expected


DISABLED = [
    ({}, False),
    ({"userAccountControl": ["512"]}, False),  # NORMAL_ACCOUNT
    ({"userAccountControl": ["514"]}, True),  # NORMAL_ACCOUNT | ACCOUNTDISABLE
    ({"useraccountcontrol": ["66050"]}, True),  # ... | DONT_EXPIRE_PASSWORD
    ({"userAccountControl": ["66048"]}, False),
    ({"userAccountControl": ["garbage"]}, True),  # unreadable is never enabled
    ({"pwdAccountLockedTime": ["000001010000Z"]}, True),  # OpenLDAP ppolicy: locked by an admin
    ({"pwdAccountLockedTime": []}, False),
]


@pytest.mark.parametrize(("attributes", "disabled"), DISABLED)
def test_what_disabled_means(attributes: dict[str, list[str]], disabled: bool) -> None:
    assert entry_disabled(attributes) is disabled


@pytest.mark.parametrize(("text", "ok"), [
    ("(objectClass=person)", True), ("(&(a=b)(!(c=d)))", True), ("(a=\\29)", True),
    ("a=b", False), ("(a=b", False), ("(a=b))", False), ("(a=b)(c=d)", False),
])
def test_filters_from_the_settings(text: str, ok: bool) -> None:
    assert (check_filter(text) is None) is ok


@pytest.mark.parametrize(("text", "ok"), [
    ("uid={username},ou=people,dc=gov", True), ("{username}@gov.example", False),
    ("uid={username},{username}", False), ("uid={user},dc=gov", False), ("uid=x,dc=gov", False),
])
def test_dn_templates(text: str, ok: bool) -> None:
    assert (check_dn_template(text) is None) is ok


def test_dns_compare_without_case_or_spaces() -> None:
    assert parse_dn("CN=A , DC=Gov") == parse_dn("cn=a,dc=gov")
    for bad in ("", "dc", "=x", "dc=gov,,dc=x"):
        with pytest.raises(ValueError):
            parse_dn(bad)
