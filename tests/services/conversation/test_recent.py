"""The in-memory newest turns of conversations: extended only by the next position, bounded, retries go to a read."""

from __future__ import annotations

import uuid

from avatarchat.conversation.v1 import conversation_pb2 as pb
from services.conversation.recent import Key, RecentTurns
from services.conversation.store import Turn

VISITOR = pb.MESSAGE_ROLE_VISITOR
ASSISTANT = pb.MESSAGE_ROLE_ASSISTANT


def key() -> Key:
    return (uuid.uuid4(), uuid.uuid4(), uuid.uuid4())


def test_an_append_at_the_next_position_extends_the_entry_within_the_turn_window() -> None:
    recent = RecentTurns(capacity=10, turns=3)
    k = key()
    recent.remember(
        k, visitor_id="v", channel=pb.CHANNEL_WIDGET, count=2, turns=[Turn(VISITOR, "a"), Turn(ASSISTANT, "b")]
    )

    recent.appended(k, 3, Turn(VISITOR, "c"), "req-1")
    recent.appended(k, 4, Turn(ASSISTANT, "d"), "req-1")

    known = recent.get(k)
    assert known is not None
    assert (known.visitor_id, known.channel, known.count) == ("v", pb.CHANNEL_WIDGET, 4)
    assert [t.text for t in known.turns] == ["b", "c", "d"]


def test_an_append_anywhere_else_drops_the_entry() -> None:
    recent = RecentTurns(capacity=10, turns=3)
    ahead, behind = key(), key()
    for k in (ahead, behind):
        recent.remember(k, visitor_id="v", channel=pb.CHANNEL_WIDGET, count=2, turns=[])

    recent.appended(ahead, 4, Turn(VISITOR, "another process wrote position 3"))
    recent.appended(behind, 2, Turn(VISITOR, "an older append finishing late"))

    assert recent.get(ahead) is None
    assert recent.get(behind) is None
    recent.appended(ahead, 3, Turn(VISITOR, "nothing held, nothing extended"))
    assert recent.get(ahead) is None


def test_a_retried_request_id_is_not_answered_from_memory() -> None:
    recent = RecentTurns(capacity=10, turns=3)
    k = key()
    recent.remember(k, visitor_id="v", channel=pb.CHANNEL_WIDGET, count=0, turns=[])
    recent.appended(k, 1, Turn(VISITOR, "hi"), "req-1")

    assert recent.get(k, "req-1") is None
    assert recent.get(k, "req-2") is not None
    assert recent.get(k) is not None


def test_the_least_recently_used_conversation_goes_first_and_zero_capacity_holds_none() -> None:
    recent = RecentTurns(capacity=2, turns=3)
    first, second, third = key(), key(), key()
    for k in (first, second):
        recent.remember(k, visitor_id="v", channel=pb.CHANNEL_WIDGET, count=0, turns=[])
    assert recent.get(first) is not None  # now the most recently used

    recent.remember(third, visitor_id="v", channel=pb.CHANNEL_WIDGET, count=0, turns=[])

    assert len(recent) == 2
    assert recent.get(second) is None
    assert recent.get(first) is not None
    assert recent.get(third) is not None
    none = RecentTurns(capacity=0, turns=3)
    none.remember(first, visitor_id="v", channel=pb.CHANNEL_WIDGET, count=0, turns=[])
    assert none.get(first) is None


def test_forget_drops_the_entry() -> None:
    recent = RecentTurns(capacity=10, turns=3)
    k = key()
    recent.remember(k, visitor_id="v", channel=pb.CHANNEL_WIDGET, count=0, turns=[])
    recent.forget(k)
    recent.forget(k)
    assert recent.get(k) is None
