"""Answer cache keys."""

from __future__ import annotations

from avatarchat.chatbot.v1 import chatbot_pb2
from services.ai.cache_key import normalize_question, personality_hash, response_cache_key

BOT = "tenants/t1/chatbots/c1"
PERSONALITY = chatbot_pb2.Personality(display_name="Ava", instructions="Be helpful.", tone=chatbot_pb2.TONE_FRIENDLY)


def key(question: str = "When do you open?", knowledge: str = "kv-1", bot: str = BOT) -> str:
    return response_cache_key(bot, knowledge, question, personality_hash(PERSONALITY))


def test_the_same_question_in_other_words_spacing_or_case_shares_a_key() -> None:
    assert key("When do you open?") == key("  when DO you   open ")
    assert key("When do you open?") == key("When do you open")
    assert normalize_question("  ＷＨＥＮ  do\tyou open?! ") == "when do you open"
    assert key("When do you open?") != key("When do you close?")


def test_the_key_changes_with_the_knowledge_version_and_the_bot() -> None:
    assert key(knowledge="kv-1") != key(knowledge="kv-2")
    assert key(bot="tenants/t1/chatbots/c2") != key()
    assert key().startswith(f"ai:answer:v1:{BOT}:")


def test_the_personality_hash_follows_what_changes_answers() -> None:
    base = personality_hash(PERSONALITY)
    changed = chatbot_pb2.Personality()
    changed.CopyFrom(PERSONALITY)
    changed.tone = chatbot_pb2.TONE_CONCISE
    assert personality_hash(changed) != base
    greeting_only = chatbot_pb2.Personality()
    greeting_only.CopyFrom(PERSONALITY)
    greeting_only.greeting = "Welcome!"
    assert personality_hash(greeting_only) == base
