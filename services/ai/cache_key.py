"""Keys for the answer cache: the same question to the same bot, knowledge and personality gets the same key."""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata

from avatarchat.chatbot.v1 import chatbot_pb2

#: Bumped when the key's recipe changes, so old entries are never read with a new meaning.
KEY_VERSION = "v1"
_SPACE = re.compile(r"\s+")
_EDGE_PUNCTUATION = " \t\n?!.,;:¿¡…\"'“”‘’"


def normalize_question(question: str) -> str:
    """Case, width, spacing and surrounding punctuation do not change what was asked."""
    text = unicodedata.normalize("NFKC", question).casefold()
    return _SPACE.sub(" ", text).strip(_EDGE_PUNCTUATION)


def personality_hash(personality: chatbot_pb2.Personality) -> str:
    """A digest of everything in a personality that can change an answer (greeting and intent examples cannot)."""
    relevant = chatbot_pb2.Personality()
    relevant.CopyFrom(personality)
    relevant.ClearField("greeting")
    relevant.ClearField("intent_examples")
    return hashlib.sha256(relevant.SerializeToString(deterministic=True)).hexdigest()[:32]


def response_cache_key(chatbot: str, knowledge_version: str, question: str, personality_digest: str) -> str:
    """The cache key of an answer; it changes with the bot, its knowledge version, the question or personality.

    Only stand-alone questions may be cached: an answer that depends on earlier turns must not be keyed this way.
    """
    material = json.dumps(
        [KEY_VERSION, chatbot, knowledge_version, normalize_question(question), personality_digest],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    digest = hashlib.sha256(material.encode()).hexdigest()
    # The chatbot in clear lets the cache drop one bot's answers by prefix.
    return f"ai:answer:{KEY_VERSION}:{chatbot}:{digest}"
