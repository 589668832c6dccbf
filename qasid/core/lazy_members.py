"""Which member events each device was sent, for lazy-loading's "do not send them again".

Held in memory per (user, device), least recently synced dropped first, each room's set
capped. Forgetting is always safe: a device that is not remembered is sent a member event it
may already hold (redundant, never missing). A restart forgets everything the same way.
"""

from __future__ import annotations

from collections import OrderedDict

MAX_DEVICES = 10_000
MAX_MEMBERS_PER_ROOM = 5_000

Device = tuple[str, str]


class LazyMembers:
    """(user, device) → room → {member user ID: the member event ID last sent}."""

    def __init__(self, max_devices: int = MAX_DEVICES, max_members: int = MAX_MEMBERS_PER_ROOM) -> None:
        self._sent: OrderedDict[Device, dict[str, dict[str, str]]] = OrderedDict()
        self.max_devices = max_devices
        self.max_members = max_members

    def was_sent(self, device: Device, room_id: str, member: str, event_id: str) -> bool:
        """Whether this very member event was sent to the device already."""
        rooms = self._sent.get(device)
        return rooms is not None and rooms.get(room_id, {}).get(member) == event_id

    def record(self, device: Device, room_id: str, sent: dict[str, str]) -> None:
        """Remember member events just sent to the device (member → event ID)."""
        if not sent:
            return
        rooms = self._sent.get(device)
        if rooms is None:
            rooms = self._sent[device] = {}
            while len(self._sent) > self.max_devices:
                self._sent.popitem(last=False)
        else:
            self._sent.move_to_end(device)
        members = rooms.setdefault(room_id, {})
        members.update(sent)
        if len(members) > self.max_members:
            members.clear()  # the next syncs resend what they need
            members.update(sent)

    def forget_room(self, device: Device, room_id: str) -> None:
        """The device is being sent the room from scratch: nothing of it counts as sent."""
        rooms = self._sent.get(device)
        if rooms is not None:
            rooms.pop(room_id, None)

    def forget_device(self, device: Device) -> None:
        """An initial sync: the device starts over."""
        self._sent.pop(device, None)
