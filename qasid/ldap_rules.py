"""Directory sign-in rules, pure: the unit rules of the settings, DN comparison, what "disabled" means.

Below config and gov alike (config checks the rules when it reads them; gov applies them).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

# An RDN's attribute type: a name (ou, dc, cn) or a dotted OID.
_ATTRIBUTE = re.compile(r"[A-Za-z][A-Za-z0-9-]*|[0-9]+(\.[0-9]+)+")
_UNIT_CODE = re.compile(r"[^\s=>]{1,64}")
# Active Directory's userAccountControl flag ACCOUNTDISABLE.
AD_ACCOUNT_DISABLED = 0x2
# What the directory is asked for about a user, besides the attributes the settings name.
STATE_ATTRIBUTES = ("userAccountControl", "pwdAccountLockedTime")

DN = tuple[tuple[str, str], ...]


def parse_dn(text: str) -> DN:
    """A DN as (type, value) pairs, leaf first, types and values lower-cased, for comparing; ValueError if malformed.

    Escaped commas and equals signs (\\, \\=) stay inside their value.
    """
    if not text or not text.strip():
        raise ValueError("empty DN")
    rdns: list[tuple[str, str]] = []
    for part in re.split(r"(?<!\\),", text):
        if "=" not in part:
            raise ValueError(f"{part.strip()!r} is not TYPE=VALUE")
        kind, value = (piece.strip() for piece in re.split(r"(?<!\\)=", part, maxsplit=1))
        if not _ATTRIBUTE.fullmatch(kind) or not value:
            raise ValueError(f"{part.strip()!r} is not TYPE=VALUE")
        rdns.append((kind.lower(), value.lower()))
    return tuple(rdns)


def dn_within(dn: DN, base: DN) -> bool:
    """True if `dn` is `base` itself or an entry below it."""
    return len(dn) >= len(base) and dn[len(dn) - len(base):] == base


@dataclass(frozen=True)
class UnitRule:
    """`SUBTREE-DN => CODE` (entries under that DN) or `attribute:value => CODE` (an attribute holding that value)."""

    unit_code: str
    subtree: DN | None = None
    attribute: str | None = None
    value: str | None = None

    def matches(self, dn: DN, attributes: Mapping[str, Sequence[str]]) -> bool:
        """Whether an entry with this DN and these attributes belongs to the rule's unit."""
        if self.subtree is not None:
            return dn_within(dn, self.subtree)
        wanted = (self.value or "").lower()
        values = next((v for k, v in attributes.items() if k.lower() == self.attribute), [])
        for value in values:
            if value.lower() == wanted:
                return True
            try:  # a DN-valued attribute (memberOf) compares as a DN
                if "=" in wanted and parse_dn(value) == parse_dn(wanted):
                    return True
            except ValueError:
                continue
        return False


def parse_unit_rule(text: str) -> UnitRule:
    """One rule of ldap_unit_rules; ValueError saying what is wrong."""
    if text.count("=>") != 1:
        raise ValueError("must be `DN => UNIT_CODE` or `attribute:value => UNIT_CODE`")
    left, code = (piece.strip() for piece in text.split("=>"))
    if not _UNIT_CODE.fullmatch(code):
        raise ValueError(f"{code!r} is not a unit code")
    head = re.match(r"([A-Za-z][A-Za-z0-9-]*):", left)
    if head:
        value = left[head.end():].strip()
        if not value:
            raise ValueError("an attribute rule needs a value after the colon")
        return UnitRule(code, attribute=head[1].lower(), value=value)
    return UnitRule(code, subtree=parse_dn(left))


def unit_for(rules: Sequence[UnitRule], dn: str, attributes: Mapping[str, Sequence[str]],
             default: str = "") -> str | None:
    """The unit code of the first rule the entry matches; else the default; None if neither."""
    parsed = parse_dn(dn)
    for rule in rules:
        if rule.matches(parsed, attributes):
            return rule.unit_code
    return default or None


def entry_disabled(attributes: Mapping[str, Sequence[str]]) -> bool:
    """Disabled in the directory: Active Directory's ACCOUNTDISABLE bit, or an OpenLDAP ppolicy lock."""
    lowered = {k.lower(): v for k, v in attributes.items()}
    for flags in lowered.get("useraccountcontrol", []):
        try:
            if int(flags) & AD_ACCOUNT_DISABLED:
                return True
        except ValueError:
            return True  # unreadable: never treat as enabled
    return bool(lowered.get("pwdaccountlockedtime"))


def check_filter(text: str) -> str | None:
    """Why an LDAP filter from the settings is unusable, or None (parenthesised and balanced)."""
    if not (text.startswith("(") and text.endswith(")")):
        return "must be an LDAP filter in parentheses, e.g. (objectClass=person)"
    depth = 0
    for i, char in enumerate(text):
        if char == "(" and (i == 0 or text[i - 1] != "\\"):
            depth += 1
        elif char == ")" and text[i - 1] != "\\":
            depth -= 1
            if depth == 0 and i != len(text) - 1:
                return "must be one filter: wrap several in (&...)"
        if depth < 0:
            return "has unbalanced parentheses"
    return None if depth == 0 else "has unbalanced parentheses"


def check_dn_template(text: str) -> str | None:
    """Why a user DN template is unusable, or None: a DN with {username} once, e.g. uid={username},ou=people,dc=gov."""
    if text.count("{username}") != 1 or re.search(r"\{(?!username\})", text):
        return "must contain {username} exactly once and no other braces"
    try:
        parse_dn(text.replace("{username}", "x"))
    except ValueError as e:
        return f"is not a DN ({e})"
    return None
