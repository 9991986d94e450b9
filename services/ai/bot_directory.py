"""What the AI service asks other services: a chatbot's settings and animation map, and knowledge passages."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import grpc

from avatarchat.chatbot.v1 import chatbot_pb2, chatbot_pb2_grpc
from avatarchat.knowledge.v1 import knowledge_pb2, knowledge_pb2_grpc
from services.ai.animation import Behaviour
from services.runtime import errors, status
from services.runtime.names import tenant_name
from services.runtime.tokens import ServiceTokens

log = logging.getLogger(__name__)

#: Codes that mean "the knowledge service is not there (yet)"; answers go on without passages.
_KNOWLEDGE_ABSENT = frozenset(
    {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.UNIMPLEMENTED, grpc.StatusCode.DEADLINE_EXCEEDED}
)


@dataclass(frozen=True, slots=True)
class Bot:
    """A chatbot as answering needs it."""

    chatbot: chatbot_pb2.Chatbot
    animation_map: dict[Behaviour, str]


@dataclass(frozen=True, slots=True)
class Knowledge:
    """Search results and the knowledge version they come from ("" when nothing was searched)."""

    results: Sequence[knowledge_pb2.SearchResult]
    version: str
    available: bool


class BotDirectory:
    """Calls ChatbotService and KnowledgeService as this service, for one tenant per call.

    Bots are cached for a few seconds: every streamed answer needs one, and a personality edit may take that
    long (plus one answer) to reach answers. A knowledge service that is down is skipped for a while instead of
    being retried on every question, so answers keep their latency without passages.
    """

    def __init__(
        self,
        chatbots: chatbot_pb2_grpc.ChatbotServiceAsyncStub,
        knowledge: knowledge_pb2_grpc.KnowledgeServiceAsyncStub,
        tokens: ServiceTokens,
        *,
        timeout: float,
        bot_ttl_seconds: float = 5.0,
        knowledge_retry_seconds: float = 10.0,
    ) -> None:
        self._chatbots = chatbots
        self._knowledge = knowledge
        self._tokens = tokens
        self._timeout = timeout
        self._bot_ttl = bot_ttl_seconds
        self._knowledge_retry = knowledge_retry_seconds
        self._bots: dict[str, tuple[float, Bot]] = {}
        self._refreshing: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._knowledge_down_until = 0.0

    async def bot(self, tenant_id: uuid.UUID, name: str) -> Bot:
        """The chatbot `name`; NOT_FOUND (from the chatbot service) when it does not exist.

        A cached bot past its time is still answered with while a fresh copy is fetched in the background, so
        only a bot's first question waits for the chatbot service (and, through it, the avatar service).
        """
        hit = self._bots.get(name)
        if hit is None:
            return await self._fetch(tenant_id, name)
        if hit[0] <= time.monotonic() and name not in self._refreshing:
            self._refreshing.add(name)
            task = asyncio.get_running_loop().create_task(self._refresh(tenant_id, name))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return hit[1]

    async def _refresh(self, tenant_id: uuid.UUID, name: str) -> None:
        try:
            await self._fetch(tenant_id, name)
        except errors.NotFound:
            self._bots.pop(name, None)
        except Exception:
            log.warning("refreshing a chatbot failed; the cached copy stays", exc_info=True)
        finally:
            self._refreshing.discard(name)

    async def _fetch(self, tenant_id: uuid.UUID, name: str) -> Bot:
        metadata = self._tokens.metadata(tenant_id)
        try:
            response = await self._chatbots.GetChatbot(
                chatbot_pb2.GetChatbotRequest(name=name), metadata=metadata, timeout=self._timeout
            )
        except grpc.aio.AioRpcError as exc:
            raise status.from_rpc_error(exc) from None
        bot = Bot(response.chatbot, await self._animation_map(response.chatbot, metadata))
        if len(self._bots) > 10_000:
            self._bots.clear()
        self._bots[name] = (time.monotonic() + self._bot_ttl, bot)
        return bot

    async def _animation_map(
        self, chatbot: chatbot_pb2.Chatbot, metadata: tuple[tuple[str, str], ...]
    ) -> dict[Behaviour, str]:
        # The embed config carries the avatar's clip per behaviour, exactly what the widget will play.
        try:
            response = await self._chatbots.GetEmbedConfig(
                chatbot_pb2.GetEmbedConfigRequest(embed_id=chatbot.embed_id), metadata=metadata, timeout=self._timeout
            )
        except grpc.aio.AioRpcError as exc:
            log.info("no embed config for animations", extra={"chatbot": chatbot.name, "code": exc.code().name})
            return {}
        mapped: dict[Behaviour, str] = {}
        for binding in response.embed_config.animations:
            behaviour = Behaviour.from_proto(binding.behaviour)
            if behaviour is not None and binding.clip:
                mapped[behaviour] = binding.clip
        return mapped

    async def search(
        self,
        tenant_id: uuid.UUID,
        knowledge_bases: Sequence[str],
        query: str,
        *,
        top_k: int,
        mode: knowledge_pb2.SearchMode.ValueType = knowledge_pb2.SEARCH_MODE_UNSPECIFIED,
        min_score: float = 0.0,
    ) -> Knowledge:
        """The best chunks over the knowledge bases; no results (available=False) when the service is absent."""
        if not knowledge_bases:
            return Knowledge((), "", available=True)
        if time.monotonic() < self._knowledge_down_until:
            return Knowledge((), "", available=False)
        request = knowledge_pb2.SearchRequest(
            parent=tenant_name(tenant_id),
            knowledge_bases=list(knowledge_bases),
            query=query,
            top_k=top_k,
            mode=mode,
            min_score=min_score,
        )
        try:
            response = await self._knowledge.Search(
                request, metadata=self._tokens.metadata(tenant_id), timeout=self._timeout, wait_for_ready=False
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() not in _KNOWLEDGE_ABSENT:
                raise status.from_rpc_error(exc) from None
            self._knowledge_down_until = time.monotonic() + self._knowledge_retry
            log.warning("knowledge service unavailable; answering without passages", extra={"code": exc.code().name})
            return Knowledge((), "", available=False)
        version = json.dumps(dict(sorted(response.knowledge_versions.items())), separators=(",", ":"))
        return Knowledge(tuple(response.results), version, available=True)
