"""Answers to stand-alone questions kept in Redis, keyed by bot, knowledge version, question and personality."""

from __future__ import annotations

import base64
import json
import logging
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from avatarchat.ai.v1 import ai_pb2

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CachedAnswer:
    """A complete answer as it was streamed the first time."""

    text: str
    finish_reason: int
    provider: str
    model: str
    input_tokens: int
    output_tokens: int
    citations: tuple[ai_pb2.Citation, ...]


class AnswerCache:
    """Best effort: a Redis outage means a provider answers again, never a failed answer."""

    def __init__(self, redis: aioredis.Redis, ttl_seconds: int) -> None:
        self._redis = redis
        self._ttl = ttl_seconds

    async def get(self, key: str) -> CachedAnswer | None:
        """The cached answer for `key`, if any."""
        try:
            raw = await self._redis.get(key)
        except RedisError:
            log.warning("answer cache unavailable", exc_info=True)
            return None
        if raw is None:
            return None
        data = json.loads(raw)
        return CachedAnswer(
            text=data["text"],
            finish_reason=data["finish_reason"],
            provider=data["provider"],
            model=data["model"],
            input_tokens=data["input_tokens"],
            output_tokens=data["output_tokens"],
            citations=tuple(ai_pb2.Citation.FromString(base64.b64decode(c)) for c in data["citations"]),
        )

    async def put(self, key: str, answer: CachedAnswer) -> None:
        """Stores a complete answer."""
        data = {
            "text": answer.text,
            "finish_reason": answer.finish_reason,
            "provider": answer.provider,
            "model": answer.model,
            "input_tokens": answer.input_tokens,
            "output_tokens": answer.output_tokens,
            "citations": [base64.b64encode(c.SerializeToString()).decode() for c in answer.citations],
        }
        try:
            await self._redis.set(key, json.dumps(data), ex=self._ttl)
        except RedisError:
            log.warning("answer cache unavailable", exc_info=True)

    async def close(self) -> None:
        """Closes the Redis connection pool."""
        await self._redis.aclose()
