"""The last turns of the conversations this process answers, so a follow-up question needs no read before the AI call.

An entry mirrors one conversation as of its `count` messages: who may write to it, its channel and its newest
turns. It is only ever extended by an append whose stored position comes right after `count`; any other append
drops it. A question answered from an entry is checked by its own append: a position other than `count + 1`
means another process wrote to the conversation meanwhile, and the caller reads the history again.

An `OrderedDict` kept in least-recently-used order is all this needs (no expiry, no cross-process state), so no
cache library is used.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict, deque
from dataclasses import dataclass, field

from services.conversation.store import Turn

#: tenant, chatbot, conversation: a conversation is only ever found under its own tenant and chatbot.
Key = tuple[uuid.UUID, uuid.UUID, uuid.UUID]


@dataclass(frozen=True, slots=True)
class Known:
    """A conversation as this process last saw it: the state a question is answered from."""

    visitor_id: str
    channel: int
    count: int
    turns: tuple[Turn, ...]


@dataclass(slots=True)
class _Entry:
    visitor_id: str
    channel: int
    count: int
    turns: deque[Turn]
    request_ids: set[str] = field(default_factory=set)

    @property
    def chars(self) -> int:
        """Characters of text in its turns."""
        return sum(len(t.text) for t in self.turns)


class RecentTurns:
    """A bounded map from conversation to its newest turns, least recently used first out.

    Bounded twice: by conversations, and by the characters of text held in all of them, since one answer can be
    long.
    """

    def __init__(self, capacity: int, turns: int, max_chars: int) -> None:
        self._capacity = capacity
        self._turns = turns
        self._max_chars = max_chars
        self._chars = 0
        self._entries: OrderedDict[Key, _Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def chars(self) -> int:
        """Characters of text held, over every conversation."""
        return self._chars

    def get(self, key: Key, request_id: str = "") -> Known | None:
        """The conversation as last seen, or None: not held, or `request_id` is a retry of a message it holds.

        A retry goes the way that reads the conversation, which replays the stored answer without calling the AI.
        """
        entry = self._entries.get(key)
        if entry is None or (request_id and request_id in entry.request_ids):
            return None
        self._entries.move_to_end(key)
        return Known(entry.visitor_id, entry.channel, entry.count, tuple(entry.turns))

    def remember(self, key: Key, *, visitor_id: str, channel: int, count: int, turns: list[Turn]) -> None:
        """Holds a conversation read (or created) with `count` messages, the newest of which are `turns`."""
        if self._capacity <= 0:
            return
        self.forget(key)
        entry = _Entry(visitor_id, channel, count, deque(turns, maxlen=self._turns))
        self._entries[key] = entry
        self._chars += entry.chars
        self._trim()

    def appended(self, key: Key, position: int, turn: Turn, request_id: str = "") -> None:
        """Extends the entry by a message stored at `position`; drops it if that is not the next one."""
        entry = self._entries.get(key)
        if entry is None:
            return
        if position != entry.count + 1:
            self.forget(key)
            return
        entry.count = position
        if len(entry.turns) == entry.turns.maxlen:
            self._chars -= len(entry.turns[0].text)
        entry.turns.append(turn)
        self._chars += len(turn.text)
        if request_id:
            entry.request_ids.add(request_id)
        self._trim()

    def forget(self, key: Key) -> None:
        """Drops the entry (the conversation ended, or what it holds is in doubt)."""
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._chars -= entry.chars

    def _trim(self) -> None:
        while self._entries and (len(self._entries) > self._capacity or self._chars > self._max_chars):
            _, entry = self._entries.popitem(last=False)
            self._chars -= entry.chars
