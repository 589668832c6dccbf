"""The room version 11 authorization rules, as a pure function of (event, auth state).

Rule numbers in comments refer to the "Authorization rules" list of the Room
Version 11 specification. Every server in a room must reach the same verdict
on the same event, so the code follows the spec's wording closely even where
a rule looks redundant.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from signedjson.key import decode_verify_key_bytes
from signedjson.sign import SignatureVerifyException, verify_signed_json
from unpaddedbase64 import decode_base64

from qasid.core.errors import MatrixError
from qasid.core.pdu import ROOM_VERSION, compute_event_id
from qasid.core.power_levels import (
    LEVEL_KEYS,
    POWER_LEVELS,
    PowerLevels,
)
from qasid.core.power_levels import (
    as_int as _int,
)
from qasid.core.power_levels import (
    content_of as _content,
)
from qasid.core.power_levels import (
    is_int_map as _is_int_map,
)
from qasid.core.power_levels import (
    mapping as _mapping,
)

StateKey = tuple[str, str]
AuthState = Mapping[StateKey, Mapping[str, Any]]

CREATE = "m.room.create"
MEMBER = "m.room.member"
JOIN_RULES = "m.room.join_rules"
THIRD_PARTY_INVITE = "m.room.third_party_invite"

# We implement only v11's rules; a create event naming another version is for
# a room whose events this module cannot judge, so it is not "recognised".
RECOGNISED_ROOM_VERSIONS = frozenset({ROOM_VERSION})

_MAX_USER_ID_BYTES = 255


class AuthError(MatrixError):
    """An event refused by the authorization rules; str(error) is the reason."""

    def __init__(self, reason: str) -> None:
        # A MatrixError so that api/ renders a refusal as M_FORBIDDEN unaided.
        super().__init__(403, "M_FORBIDDEN", reason)


def auth_types_for_event(event: Mapping[str, Any]) -> list[StateKey]:
    """The (type, state_key) pairs of current state that authorise `event`."""
    if event.get("type") == CREATE:
        return []
    wanted: list[StateKey] = [(CREATE, ""), (POWER_LEVELS, "")]
    sender = event.get("sender")
    if isinstance(sender, str):
        wanted.append((MEMBER, sender))
    if event.get("type") == MEMBER:
        content = _content(event)
        membership = content.get("membership")
        state_key = event.get("state_key")
        if isinstance(state_key, str):
            wanted.append((MEMBER, state_key))
        if membership in ("join", "invite", "knock"):
            wanted.append((JOIN_RULES, ""))
        third_party_invite = content.get("third_party_invite")
        if membership == "invite" and isinstance(third_party_invite, Mapping):
            signed = third_party_invite.get("signed")
            if isinstance(signed, Mapping) and isinstance(signed.get("token"), str):
                wanted.append((THIRD_PARTY_INVITE, signed["token"]))
        authoriser = content.get("join_authorised_via_users_server")
        if membership == "join" and isinstance(authoriser, str):
            wanted.append((MEMBER, authoriser))
    return list(dict.fromkeys(wanted))  # de-duplicated, order kept


def check_event_auth(event: Mapping[str, Any], auth_state: AuthState) -> None:
    """Raise AuthError unless room v11's rules allow `event` given `auth_state`."""
    event_type = event.get("type")
    sender = event.get("sender")
    if not isinstance(event_type, str) or not isinstance(sender, str):
        raise AuthError("event has no string type or sender")
    if event_type == CREATE:
        _check_create(event, sender)
        return

    # Rule 2: duplicates and the selection of auth_events are the caller's to
    # check (they need event IDs and rejection status); a mapping cannot hold
    # duplicates. We check what the state itself can tell us.
    create = auth_state.get((CREATE, ""))
    if create is None:
        raise AuthError("no m.room.create event among the auth events")  # 2.4
    for (auth_type, auth_key), auth_event in auth_state.items():
        if auth_event.get("room_id") != event.get("room_id"):  # 2.5
            raise AuthError(f"auth event ({auth_type}, {auth_key!r}) is of another room")

    # Rule 3: m.federate is moot for us but kept so we agree with other servers.
    creator_domain = _domain(str(create.get("sender")))
    if _content(create).get("m.federate", True) is False and _domain(sender) != creator_domain:
        raise AuthError("room is not federated and sender is from another server")

    levels = PowerLevels(auth_state, create)
    if event_type == MEMBER:
        _check_membership(event, sender, auth_state, create, levels)  # rule 4
        return

    if _membership(auth_state, sender) != "join":  # rule 5
        raise AuthError(f"{sender} is not joined to the room")
    sender_level = levels.user_level(sender)
    if event_type == THIRD_PARTY_INVITE:  # rule 6
        if sender_level < levels.level("invite"):
            raise AuthError(f"{sender} may not invite (power {sender_level})")
        return
    required = levels.send_level(event_type, is_state="state_key" in event)
    if required > sender_level:  # rule 7
        raise AuthError(f"sending {event_type} needs power {required}; {sender} has {sender_level}")
    state_key = event.get("state_key")
    if isinstance(state_key, str) and state_key.startswith("@") and state_key != sender:
        raise AuthError("a state_key starting with '@' must be the sender")  # rule 8
    if event_type == POWER_LEVELS:
        _check_power_levels(event, sender, sender_level, auth_state)  # rule 9


def check_redaction_applies(
    redaction: Mapping[str, Any], redacted_event: Mapping[str, Any], auth_state: AuthState
) -> None:
    """Raise AuthError unless an accepted redaction may be applied to its target."""
    # Not an auth rule since room v3 (the auth rules always accept
    # m.room.redaction): this is the "Handling redactions" check, run when
    # both events are known, deciding whether the target is actually redacted.
    if redaction.get("room_id") != redacted_event.get("room_id"):
        raise AuthError("redaction and redacted event are in different rooms")
    sender = str(redaction.get("sender"))
    create = auth_state.get((CREATE, ""))
    if create is None:
        raise AuthError("no m.room.create event in the room state")
    levels = PowerLevels(auth_state, create)
    if levels.user_level(sender) >= levels.level("redact"):
        return
    if _domain(sender) == _domain(str(redacted_event.get("sender"))):
        return
    raise AuthError(f"{sender} may not redact events of other servers' users")


# --- the rules ----------------------------------------------------------------


def _check_create(event: Mapping[str, Any], sender: str) -> None:
    if event.get("prev_events"):  # 1.1
        raise AuthError("m.room.create must have no prev_events")
    if _domain(str(event.get("room_id"))) != _domain(sender):  # 1.2
        raise AuthError("room_id and sender of m.room.create are on different servers")
    content = _content(event)
    if "room_version" in content and content["room_version"] not in RECOGNISED_ROOM_VERSIONS:  # 1.3
        raise AuthError(f"unrecognised room_version {content['room_version']!r}")
    # v11 dropped v1's rule 1.4 (content.creator): the creator is the sender.


def _check_membership(
    event: Mapping[str, Any],
    sender: str,
    auth_state: AuthState,
    create: Mapping[str, Any],
    levels: PowerLevels,
) -> None:
    content = _content(event)
    target = event.get("state_key")
    membership = content.get("membership")
    if not isinstance(target, str) or not isinstance(membership, str):  # 4.1
        raise AuthError("m.room.member needs a state_key and content.membership")

    # 4.2 (the authorising user's server must have signed) needs that server's
    # keys, so it belongs with the other signature checks done on receipt of a
    # PDU; our own joins are checked here before we sign them.
    authoriser = content.get("join_authorised_via_users_server")

    sender_membership = _membership(auth_state, sender)
    target_membership = _membership(auth_state, target)
    join_rule = _join_rule(auth_state)

    if membership == "join":  # 4.3
        # 4.3.1, literally: the creator's own first join needs no other check.
        if target == create.get("sender") and event.get("prev_events") == [compute_event_id(create)]:
            return
        if sender != target:
            raise AuthError("a join's sender must be its state_key")
        if sender_membership == "ban":
            raise AuthError(f"{sender} is banned")
        if join_rule in ("invite", "knock") and sender_membership in ("invite", "join"):
            return
        if join_rule in ("restricted", "knock_restricted"):
            if sender_membership in ("join", "invite"):
                return
            if not (
                isinstance(authoriser, str)
                and _membership(auth_state, authoriser) == "join"
                and levels.user_level(authoriser) >= levels.level("invite")
            ):
                raise AuthError(
                    "restricted join needs join_authorised_via_users_server to name"
                    " a joined member who may invite"
                )
            return
        if join_rule == "public":
            return
        raise AuthError(f"join rule {join_rule!r} does not let {sender} join")

    if membership == "invite":  # 4.4
        if "third_party_invite" in content:
            _check_third_party_invite(event, sender, target, auth_state)
            return
        if sender_membership != "join":
            raise AuthError(f"{sender} is not joined and may not invite")
        if target_membership in ("join", "ban"):
            raise AuthError(f"{target} may not be invited while {target_membership!r}")
        if levels.user_level(sender) < levels.level("invite"):
            raise AuthError(f"{sender} lacks the power to invite")
        return

    if membership == "leave":  # 4.5
        if sender == target:
            if sender_membership in ("invite", "join", "knock"):
                return
            raise AuthError(f"{sender} cannot leave from {sender_membership!r}")
        if sender_membership != "join":
            raise AuthError(f"{sender} is not joined and may not kick")
        sender_level = levels.user_level(sender)
        if target_membership == "ban" and sender_level < levels.level("ban"):
            raise AuthError(f"{sender} lacks the power to unban")
        if sender_level >= levels.level("kick") and levels.user_level(target) < sender_level:
            return
        raise AuthError(f"{sender} lacks the power to kick {target}")

    if membership == "ban":  # 4.6
        if sender_membership != "join":
            raise AuthError(f"{sender} is not joined and may not ban")
        sender_level = levels.user_level(sender)
        if sender_level >= levels.level("ban") and levels.user_level(target) < sender_level:
            return
        raise AuthError(f"{sender} lacks the power to ban {target}")

    if membership == "knock":  # 4.7
        if join_rule not in ("knock", "knock_restricted"):
            raise AuthError(f"join rule {join_rule!r} does not allow knocking")
        if sender != target:
            raise AuthError("a knock's sender must be its state_key")
        if sender_membership in ("ban", "invite", "join"):
            raise AuthError(f"{sender} cannot knock while {sender_membership!r}")
        return

    raise AuthError(f"unknown membership {membership!r}")  # 4.8


def _check_third_party_invite(
    event: Mapping[str, Any], sender: str, target: str, auth_state: AuthState
) -> None:
    if _membership(auth_state, target) == "ban":  # 4.4.1.1
        raise AuthError(f"{target} is banned")
    third_party_invite = _content(event)["third_party_invite"]
    signed = third_party_invite.get("signed") if isinstance(third_party_invite, Mapping) else None
    if not isinstance(signed, Mapping):  # 4.4.1.2
        raise AuthError("third_party_invite has no signed object")
    mxid, token = signed.get("mxid"), signed.get("token")
    if not isinstance(mxid, str) or not isinstance(token, str):  # 4.4.1.3
        raise AuthError("third_party_invite.signed needs mxid and token")
    if mxid != target:  # 4.4.1.4
        raise AuthError("third_party_invite.signed.mxid is not the state_key")
    invite_event = auth_state.get((THIRD_PARTY_INVITE, token))
    if invite_event is None:  # 4.4.1.5
        raise AuthError("no m.room.third_party_invite for this token")
    if invite_event.get("sender") != sender:  # 4.4.1.6
        raise AuthError("the sender did not send the m.room.third_party_invite")
    if _signed_by_any(signed, _public_keys(_content(invite_event))):  # 4.4.1.7
        return
    raise AuthError("third_party_invite.signed matches none of the invite's keys")


def _public_keys(invite_content: Mapping[str, Any]) -> list[str]:
    # One key in `public_key`, and/or a list of {"public_key": ...} in `public_keys`.
    listed = invite_content.get("public_keys")
    entries = [invite_content, *(listed if isinstance(listed, list) else [])]
    return [
        e["public_key"] for e in entries if isinstance(e, Mapping) and isinstance(e.get("public_key"), str)
    ]


def _signed_by_any(signed: Mapping[str, Any], public_keys: list[str]) -> bool:
    # Pure ed25519 arithmetic, so we can do it here: the keys come from the
    # m.room.third_party_invite event itself, not from the network.
    signatures = signed.get("signatures")
    if not isinstance(signatures, Mapping):
        return False
    for signer, by_key_id in signatures.items():
        if not isinstance(by_key_id, Mapping):
            continue
        for key_id in by_key_id:
            for public_key in public_keys:
                try:
                    verify_key = decode_verify_key_bytes(str(key_id), decode_base64(public_key))
                    verify_signed_json(dict(signed), str(signer), verify_key)
                except (ValueError, SignatureVerifyException):
                    continue  # unsupported algorithm, bad key or no match
                return True
    return False


def _check_power_levels(
    event: Mapping[str, Any], sender: str, sender_level: int, auth_state: AuthState
) -> None:
    new = _content(event)
    for key in LEVEL_KEYS:  # 9.1 (v10: strings are no longer accepted)
        if key in new and _int(new[key]) is None:
            raise AuthError(f"power level {key!r} must be an integer")
    for key in ("events", "notifications"):  # 9.2
        if key in new and not _is_int_map(new[key]):
            raise AuthError(f"power levels {key!r} must map to integers")
    # 9.3; an absent `users` means no one is listed, as in Synapse.
    users = new.get("users", {})
    if not _is_int_map(users) or not all(map(_is_user_id, users)):
        raise AuthError("power levels 'users' must map user IDs to integers")

    current_event = auth_state.get((POWER_LEVELS, ""))
    if current_event is None:  # 9.4
        return
    old = _content(current_event)
    old_top, new_top = ({key: content.get(key) for key in LEVEL_KEYS} for content in (old, new))
    _check_level_changes("", old_top, new_top, sender, sender_level)  # 9.5
    for key in ("events", "notifications"):  # 9.6 and 9.7
        _check_level_changes(key, _mapping(old.get(key)), _mapping(new.get(key)), sender, sender_level)
    _check_level_changes("users", _mapping(old.get("users")), users, sender, sender_level)  # 9.8, 9.9


def _check_level_changes(
    where: str, before: Mapping[str, Any], after: Mapping[str, Any], sender: str, sender_level: int
) -> None:
    # One loop for rules 9.5 to 9.9: a level being changed must not be above
    # the sender's before, nor after. Other users' entries are the exception:
    # the sender may not touch one equal to their own (9.8), but may lower
    # their own.
    for name in sorted(before.keys() | after.keys()):
        old_level, new_level = _int(before.get(name)), _int(after.get(name))
        if old_level == new_level:
            continue
        label = f"{where}[{name!r}]" if where else repr(name)
        if old_level is not None:
            if where == "users" and name != sender and old_level >= sender_level:
                raise AuthError(f"{sender} may not change {label}: it is not below theirs")
            if old_level > sender_level:
                raise AuthError(f"{sender} may not change {label}: it is above theirs")
        if new_level is not None and new_level > sender_level:
            raise AuthError(f"{sender} may not set {label} above their own level")


# --- reading state ------------------------------------------------------------


def _membership(auth_state: AuthState, user_id: str) -> str:
    member_event = auth_state.get((MEMBER, user_id))
    if member_event is None:
        return "leave"  # never having been a member counts as having left
    return str(_content(member_event).get("membership", "leave"))


def _join_rule(auth_state: AuthState) -> str:
    join_rules = auth_state.get((JOIN_RULES, ""))
    # The spec names no default; "invite" is what Synapse assumes, and every
    # server must agree on it.
    if join_rules is None:
        return "invite"
    return str(_content(join_rules).get("join_rule", "invite"))


def _domain(identifier: str) -> str:
    return identifier.split(":", 1)[1] if ":" in identifier else ""


def _is_user_id(value: Any) -> bool:
    if not isinstance(value, str) or not value.startswith("@"):
        return False
    localpart, _, server_name = value[1:].partition(":")
    too_long = len(value.encode()) > _MAX_USER_ID_BYTES
    return bool(localpart) and bool(server_name) and not too_long
