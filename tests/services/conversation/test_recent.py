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
    recent = RecentTurns(capacity=10, turns=3, max_chars=10_000)
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
    recent = RecentTurns(capacity=10, turns=3, max_chars=10_000)
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
    recent = RecentTurns(capacity=10, turns=3, max_chars=10_000)
    k = key()
    recent.remember(k, visitor_id="v", channel=pb.CHANNEL_WIDGET, count=0, turns=[])
    recent.appended(k, 1, Turn(VISITOR, "hi"), "req-1")

    assert recent.get(k, "req-1") is None
    assert recent.get(k, "req-2") is not None
    assert recent.get(k) is not None


def test_the_least_recently_used_conversation_goes_first_and_zero_capacity_holds_none() -> None:
    recent = RecentTurns(capacity=2, turns=3, max_chars=10_000)
    first, second, third = key(), key(), key()
    for k in (first, second):
        recent.remember(k, visitor_id="v", channel=pb.CHANNEL_WIDGET, count=0, turns=[])
    assert recent.get(first) is not None  # now the most recently used

    recent.remember(third, visitor_id="v", channel=pb.CHANNEL_WIDGET, count=0, turns=[])

    assert len(recent) == 2
    assert recent.get(second) is None
    assert recent.get(first) is not None
    assert recent.get(third) is not None
    none = RecentTurns(capacity=0, turns=3, max_chars=10_000)
    none.remember(first, visitor_id="v", channel=pb.CHANNEL_WIDGET, count=0, turns=[])
    assert none.get(first) is None


def test_forget_drops_the_entry() -> None:
    recent = RecentTurns(capacity=10, turns=3, max_chars=10_000)
    k = key()
    recent.remember(k, visitor_id="v", channel=pb.CHANNEL_WIDGET, count=0, turns=[])
    recent.forget(k)
    recent.forget(k)
    assert recent.get(k) is None


def test_the_text_held_is_bounded_and_counted_as_turns_come_and_go() -> None:
    recent = RecentTurns(capacity=10, turns=2, max_chars=25)
    old, new = key(), key()
    recent.remember(old, visitor_id="v", channel=pb.CHANNEL_WIDGET, count=1, turns=[Turn(VISITOR, "a" * 10)])
    recent.appended(old, 2, Turn(ASSISTANT, "b" * 5))
    recent.appended(old, 3, Turn(VISITOR, "c" * 3))  # the window of two drops the 10 a's
    assert recent.chars == 8

    recent.remember(new, visitor_id="v", channel=pb.CHANNEL_WIDGET, count=0, turns=[])
    recent.appended(new, 1, Turn(VISITOR, "d" * 20))  # 28 > 25: the least recently used goes

    assert recent.get(old) is None
    assert recent.get(new) is not None
    assert recent.chars == 20
    recent.forget(new)
    assert recent.chars == 0
    recent.remember(new, visitor_id="v", channel=pb.CHANNEL_WIDGET, count=0, turns=[Turn(VISITOR, "e" * 30)])
    assert recent.get(new) is None  # larger than the whole budget on its own
    assert recent.chars == 0
