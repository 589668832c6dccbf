"""The government's answers to core's policy hooks (qasid.core.policy.Policy).

Policy governs officials (accounts placed in a unit). Accounts outside the tree — the
operator's own — behave as on a plain homeserver: their rooms carry no policy marker. An
official's own policy goes with them into such rooms: who must encrypt sends no plaintext
and joins no unencrypted room, whoever created it.

Rooms carry the policy they were created under as an `io.qasid.policy` state event
(`encryption_required`, `retention_seconds`): fixed at creation, visible to clients, and
read back by the append-path check and the retention purge.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from qasid.core.device_sessions import hash_token
from qasid.core.errors import MatrixError
from qasid.core.pdu import compute_event_id
from qasid.core.policy import AlsoWrite
from qasid.gov.clearance import Clearance
from qasid.gov.directive_rooms import DIRECTIVE_EVENT
from qasid.gov.lifecycle import Lifecycle
from qasid.gov.org import Organisation
from qasid.gov.rules import (
    CALL_MEMBER_EVENT,
    CALLS_OFF,
    DEFAULTS,
    MEGOLM,
    ROOM_POLICY_EVENT,
    UNIT_REQUIRES,
    check_encryption_change,
    password_policy_json,
    password_problem,
    plaintext_problem,
    room_policy_looser,
    room_policy_problem,
    stricter_room_policy,
)
from qasid.store.sqlite.gov import place_official

if TYPE_CHECKING:
    from qasid.gov.directives import Directives

StateMap = dict[tuple[str, str], dict[str, Any]]
SCOPE_WORDS = {"unit": "their own unit", "ministry": "their own ministry"}


class GovPolicy:
    """Implements core's Policy from the organisation tree and its per-unit policies."""

    def __init__(self, org: Organisation, lifecycle: Lifecycle, clearance: Clearance) -> None:
        self.org = org
        self.lifecycle = lifecycle
        # Set by Government once directives exist: their rooms have a few rules of their own.
        self.directives: Directives | None = None
        self.clearance = clearance

    # --- rooms -----------------------------------------------------------------------------

    def room_policy_for(self, creator: str) -> dict[str, Any]:
        """The io.qasid.policy content a room created by `creator` now carries."""
        policy = self.org.policy_of_user(creator)
        days = policy["retention_days"]
        # Event contents are canonical JSON: integers only, so retention travels in whole seconds.
        seconds = max(1, round(days * 86_400)) if days is not None else None
        return {"encryption_required": policy["encryption_required"], "retention_seconds": seconds}

    async def check_create_room(self, creator: str, request: dict[str, Any]) -> dict[str, Any]:
        """Add the room's policy marker and, where required, m.room.encryption; refuse weak encryption;
        put the room's classification first and its marking in the name."""
        request = self.clearance.adjust_create_room(creator, request)
        initial = request.get("initial_state")
        if initial is not None and not isinstance(initial, list):
            return request  # core refuses the malformed request
        if self.org.store.official(creator) is None:
            return request  # accounts outside the organisation (operators) create plain rooms
        state = [item for item in initial or []
                 if not (isinstance(item, dict) and item.get("type") == ROOM_POLICY_EVENT)]
        room_policy = self.room_policy_for(creator)
        encryption = [item for item in state if isinstance(item, dict) and item.get("type") == "m.room.encryption"]
        for item in encryption:
            content = item.get("content")
            if isinstance(content, dict) and (problem := check_encryption_change(None, content)):
                raise MatrixError(403, "M_FORBIDDEN", problem)
        if room_policy["encryption_required"] and not encryption:
            state.append({"type": "m.room.encryption", "state_key": "", "content": {"algorithm": MEGOLM}})
        state.insert(0, {"type": ROOM_POLICY_EVENT, "state_key": "", "content": room_policy})
        return {**request, "initial_state": state}

    async def check_event(
        self, sender: str, room_state: StateMap, event_type: str, content: dict[str, Any], state_key: str | None,
    ) -> None:
        """Refuse plaintext where encryption is required, any weakening of the room's policy or
        classification, and anyone entering a room above their clearance."""
        await self.clearance.check_event(sender, room_state, event_type, content, state_key)
        marker = room_state.get((ROOM_POLICY_EVENT, ""))
        notices = self.directives.notices if self.directives is not None else None
        if event_type == DIRECTIVE_EVENT and sender != notices:
            raise MatrixError(403, "M_FORBIDDEN", "Only the server sets a directive's metadata")
        if sender == notices and event_type == "m.room.message" and content.get("msgtype") == "m.notice":
            return  # the server's reminder: metadata only, and clients mark it as unencrypted
        if event_type == ROOM_POLICY_EVENT:
            if marker is not None or state_key != "" or (
                    content != self.room_policy_for(sender) and not self._carried_policy(sender, room_state, content)):
                raise MatrixError(403, "M_FORBIDDEN", "A room's policy is fixed when it is created")
            return
        current = room_state.get(("m.room.encryption", ""))
        if event_type == "m.room.encryption" and state_key == "":
            if current is not None or (marker and marker["content"].get("encryption_required")):
                problem = check_encryption_change(current["content"] if current else None, content)
                if problem:
                    raise MatrixError(403, "M_FORBIDDEN", problem)
            return
        if event_type == CALL_MEMBER_EVENT and content:
            # Joining a group call; leaving it (empty content) is always allowed.
            await self.check_calls(sender)
            return
        if event_type == "m.room.member":
            # The one place every membership change passes: /invite, createRoom's invite list and
            # initial_state, a raw PUT of the member state, /join, and any route added later.
            if content.get("membership") == "invite" and state_key not in (None, sender, notices):
                await self._check_invite(sender, state_key)
            if content.get("membership") == "join" and state_key == sender and current is None:
                self._check_join_unencrypted(sender, room_state)
            authoriser = content.get("join_authorised_via_users_server")
            if content.get("membership") == "join" and state_key == sender and isinstance(authoriser, str) \
                    and room_state.get(("m.room.member", sender), {}).get("content", {}).get("membership") != "join":
                # A restricted join lets the user in on a member's word, as an invitation does.
                await self._check_invite(authoriser, sender)
            return
        if event_type == "m.room.redaction":
            protected = {compute_event_id(pdu) for pdu in (marker, current) if pdu is not None}
            if content.get("redacts") in protected | self.clearance.protected_event_ids(room_state):
                raise MatrixError(403, "M_FORBIDDEN",
                                  "The room's encryption, policy, classification and marked name can't be redacted")
        if state_key is not None:
            return
        # Encryption follows the room (its marker) and the official (their unit's policy), whoever made the room.
        room_requires = bool(marker and marker["content"].get("encryption_required"))
        if room_requires and (problem := plaintext_problem(event_type, content)):
            raise MatrixError(403, "M_FORBIDDEN", problem)
        if self._must_encrypt(sender) and (problem := plaintext_problem(event_type, content, UNIT_REQUIRES)):
            raise MatrixError(403, "M_FORBIDDEN", problem)

    def _carried_policy(self, sender: str, room_state: StateMap, content: dict[str, Any]) -> bool:
        """Whether a new room's marker is one an upgrade may carry: the room names a predecessor and
        the marker is well formed and, from an official, no looser than their own policy."""
        create = room_state.get(("m.room.create", ""), {}).get("content", {})
        if "predecessor" not in create or room_policy_problem(content):
            return False
        return self.org.store.official(sender) is None or not room_policy_looser(content, self.room_policy_for(sender))

    async def upgrade_state(self, upgrader: str, old_state: StateMap) -> list[tuple[str, str, dict[str, Any]]]:
        """What an upgraded room carries of the government's state: every io.qasid.* state event, the
        policy marker as strict as the old room's and (from an official) as their own unit's policy,
        and m.room.encryption where that marker requires it."""
        carried = [(key[0], key[1], dict(pdu["content"])) for key, pdu in sorted(old_state.items())
                   if key[0].startswith("io.qasid.") and key != (ROOM_POLICY_EVENT, "")]
        old_marker = old_state.get((ROOM_POLICY_EVENT, ""))
        marker = dict(old_marker["content"]) if old_marker else None
        if marker is not None and room_policy_problem(marker):
            marker = None
        if self.org.store.official(upgrader) is not None:
            own = self.room_policy_for(upgrader)
            marker = own if marker is None else stricter_room_policy(marker, own)
        if marker is None:
            return carried
        state = [(ROOM_POLICY_EVENT, "", marker)]
        if marker["encryption_required"] and ("m.room.encryption", "") not in old_state:
            state.append(("m.room.encryption", "", {"algorithm": MEGOLM}))
        return state + carried

    def _must_encrypt(self, user_id: str) -> bool:
        """Whether `user_id` is an official whose unit's policy requires end-to-end encryption."""
        return self.org.store.official(user_id) is not None and bool(
            self.org.policy_of_user(user_id)["encryption_required"])

    def _check_join_unencrypted(self, user_id: str, room_state: StateMap) -> None:
        """An official who must encrypt can't join a room without m.room.encryption (a membership they
        already hold, e.g. a profile change, is not a join)."""
        if room_state.get(("m.room.member", user_id), {}).get("content", {}).get("membership") == "join":
            return
        if set(room_state) == {("m.room.create", "")}:
            return  # the creator's own join in createRoom: check_create_room adds the encryption after it
        if self._must_encrypt(user_id):
            raise MatrixError(403, "M_FORBIDDEN",
                              f"{UNIT_REQUIRES}: this room is not encrypted, so you can't join it")

    async def after_event(self, sender: str, room_id: str, event_type: str, state_key: str | None) -> None:
        """A room's new classification: recorded, its name marked, the members below it removed."""
        await self.clearance.after_event(sender, room_id, event_type, state_key)

    async def encryption_forced(self) -> bool:
        """True only if every account must encrypt: no active account outside the tree (those are not
        governed) and every unit's policy requires encryption."""
        if not DEFAULTS["encryption_required"] or self.org.store.active_accounts_outside_tree():
            return False
        return all(self.org.policy_of_unit(unit_id)["encryption_required"] for unit_id in self.org.store.units())

    # --- people ----------------------------------------------------------------------------

    def _reaches(self, scope: str, from_user: str, to_user: str) -> bool:
        if scope == "anyone":
            return True
        source, target = self.org.store.official(from_user), self.org.store.official(to_user)
        if source is None or target is None:
            return False
        if scope == "unit":
            return source.unit_id == target.unit_id
        return self.org.ministry_of(source.unit_id) == self.org.ministry_of(target.unit_id)

    async def _check_invite(self, inviter: str, invitee: str) -> None:
        """An official may invite within the scope their unit's policy allows."""
        if self.org.store.official(inviter) is None:
            return  # accounts outside the organisation (operators) are not restricted
        scope = self.org.policy_of_user(inviter)["invite_scope"]
        if not self._reaches(scope, inviter, invitee):
            raise MatrixError(403, "M_FORBIDDEN",
                              f"Your unit's policy lets you invite only members of {SCOPE_WORDS[scope]}")

    async def event_writes(self, room_state: StateMap, event_id: str, pdu: dict[str, Any]) -> list[Any]:
        """In a directive's room, the directive's message and its acknowledgements, recorded with the event."""
        return self.directives.event_writes(room_state, event_id, pdu) if self.directives is not None else []

    async def visible_in_directory(self, searcher: str, user_id: str) -> bool:
        """Whom an official finds in the directory, and whose profile and presence they see, follows their unit's
        directory scope (core adds whoever shares a room with them)."""
        if self.org.store.official(searcher) is None:
            return True
        return self._reaches(self.org.policy_of_user(searcher)["directory_scope"], searcher, user_id)

    async def profile_fields(self, user_id: str) -> dict[str, Any]:
        """An official's unit and designation, shown in their profile and directory entries."""
        official = self.org.store.official(user_id)
        if official is None:
            return {}
        unit = self.org.store.units().get(official.unit_id)
        fields: dict[str, Any] = {"io.qasid.designation": official.designation}
        if unit is not None:
            fields["io.qasid.unit"] = {"code": unit.code, "name": unit.name}
        return fields

    # --- accounts --------------------------------------------------------------------------

    def _policy_for_registration(self, user_id: str | None, registration_token: str | None) -> dict[str, Any]:
        if user_id is not None:
            return self.org.policy_of_user(user_id)
        bound = self.org.store.enrollment_tokens(hash_token(registration_token)) if registration_token else []
        return self.org.policy_of_unit(bound[0].unit_id if bound else None)

    async def check_password(self, password: str, *, user_id: str | None, registration_token: str | None) -> None:
        """Refuse a password that breaks the rules of the unit it is for (M_WEAK_PASSWORD)."""
        problem = password_problem(self._policy_for_registration(user_id, registration_token), password)
        if problem:
            raise MatrixError(400, "M_WEAK_PASSWORD", problem)

    async def password_policy(self, user_id: str | None) -> dict[str, Any]:
        """The password rules for this user (the defaults for an anonymous client)."""
        return password_policy_json(self.org.policy_of_user(user_id) if user_id else self.org.policy_of_unit(None))

    async def registration_writes(self, user_id: str, registration_token: str | None) -> Sequence[AlsoWrite]:
        """An enrollment token places the new account in its unit with its designation and name, in the
        account's own transaction."""
        bound = self.org.store.enrollment_tokens(hash_token(registration_token)) if registration_token else []
        if not bound:
            return ()
        token = bound[0]
        return [place_official(user_id, token.unit_id, token.designation or "", token.person_name,
                               self.org.clock.now_ms())]

    async def after_registration(self, user_id: str) -> None:
        """Once an enrolled account is committed, the directive rooms of its unit take it in."""
        if self.directives is not None:
            await self.directives.official_changed(user_id)

    async def check_new_device(self, user_id: str, existing_devices: int) -> None:
        """Refuse a login that would pass the unit's device cap."""
        cap = self.org.policy_of_user(user_id)["max_devices"]
        if cap is not None and existing_devices >= cap:
            raise MatrixError(403, "M_FORBIDDEN",
                              f"Your unit's policy allows at most {cap} devices; sign one out first")

    async def client_well_known(self) -> dict[str, Any]:
        """The io.element.e2ee hints, from the policy at the root of the tree."""
        policy = self.org.policy_of_unit(None)
        return {"io.element.e2ee": {"default": policy["encryption_required"],
                                    "secure_backup_required": policy["secure_backup_required"]}}

    async def upload_limit(self, user_id: str) -> int | None:
        """An official's largest upload, from their unit's max_upload_bytes (accounts outside the tree: none)."""
        if self.org.store.official(user_id) is None:
            return None
        limit: int | None = self.org.policy_of_user(user_id)["max_upload_bytes"]
        return limit

    async def check_calls(self, user_id: str) -> None:
        """Refuse calls to an official whose unit's policy switches them off."""
        if not self.org.policy_of_user(user_id)["calls_enabled"]:
            raise MatrixError(403, "M_FORBIDDEN", CALLS_OFF)

    async def administers(self, admin: str, is_server_admin: bool, user_id: str) -> bool:
        """A national admin administers everyone; a unit admin the officials official_in_scope
        lets them reach (in their units, below their rank); anyone else nobody."""
        scope = self.org.admin_scope(admin, is_server_admin)
        if scope is None:
            return False
        try:
            await self.lifecycle.official_in_scope(scope, user_id, acting=False)
        except MatrixError:
            return False
        return True
