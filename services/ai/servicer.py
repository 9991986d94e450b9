"""AiService: thin RPC methods over answering, analysis, animation, knowledge search and cost reports."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

import grpc

from avatarchat.ai.v1 import ai_pb2, ai_pb2_grpc
from services.ai import validate
from services.ai.animation import Behaviour, select_animation
from services.ai.answering import Answering, AnswerRequest
from services.ai.bot_directory import BotDirectory
from services.ai.cost_report import cost_report
from services.ai.credentials import ProviderCredentials, credential_name, credential_proto
from services.ai.intent import Intent, IntentClassifier, examples_from_proto
from services.ai.pricing import PriceTable
from services.ai.providers.base import ProviderConfig
from services.ai.providers.catalog import list_providers, provider_proto
from services.ai.sentiment import SentimentAnalyzer
from services.ai.store import UsageStore
from services.ai.validate_credentials import api_key, base_url, callable_base_url, credential
from services.runtime import errors
from services.runtime.context import Principal, current_principal
from services.runtime.names import parse
from services.runtime.validation import Checks

Context = grpc.aio.ServicerContext[Any, Any]


class AiServicer(ai_pb2_grpc.AiServiceServicer):
    """Implements avatarchat.ai.v1.AiService."""

    def __init__(
        self,
        answering: Answering,
        bots: BotDirectory,
        *,
        sentiment: SentimentAnalyzer,
        intents: IntentClassifier,
        usage: UsageStore,
        prices: PriceTable,
        provider_configs: Sequence[ProviderConfig],
        knowledge_top_k: int,
        credentials: ProviderCredentials,
        allow_private_base_urls: bool = False,
    ) -> None:
        self._answering = answering
        self._bots = bots
        self._sentiment = sentiment
        self._intents = intents
        self._usage = usage
        self._prices = prices
        self._configs = tuple(provider_configs)
        self._top_k = knowledge_top_k
        self._credentials = credentials
        self._allow_private_base_urls = allow_private_base_urls

    def _answer_request(
        self, request: ai_pb2.StreamResponseRequest | ai_pb2.GenerateResponseRequest, *, text_only: bool
    ) -> AnswerRequest:
        tenant_id, chatbot_id = validate.chatbot(request.chatbot)
        checks = Checks()
        conversation_id = validate.conversation(checks, request.conversation, request.chatbot)
        validate.answer_request(checks, request.message, request.history, request.request_id)
        checks.done()
        return AnswerRequest(
            tenant_id=tenant_id,
            chatbot=request.chatbot,
            chatbot_id=chatbot_id,
            conversation_id=conversation_id,
            message=request.message,
            history=list(request.history),
            request_id=request.request_id,
            text_only=text_only,
        )

    async def StreamResponse(
        self, request: ai_pb2.StreamResponseRequest, context: Context
    ) -> AsyncIterator[ai_pb2.StreamResponseResponse]:
        """Streams the answer's events as the provider produces them; cancelling closes the provider stream."""
        answer = self._answer_request(request, text_only=request.text_only)
        async for event in self._answering.stream(answer):
            yield event

    async def GenerateResponse(
        self, request: ai_pb2.GenerateResponseRequest, context: Context
    ) -> ai_pb2.GenerateResponseResponse:
        """The same answer as StreamResponse, collected."""
        answer = self._answer_request(request, text_only=False)
        response = ai_pb2.GenerateResponseResponse()
        parts: list[str] = []
        async for event in self._answering.stream(answer):
            kind = event.WhichOneof("event")
            if kind == "text_delta":
                parts.append(event.text_delta.text)
                response.viseme_cues.extend(event.text_delta.visemes)
            elif kind == "citation":
                response.citations.append(event.citation)
            elif kind == "animation_cue":
                response.animation_cues.append(event.animation_cue)
            elif kind == "viseme_cues":
                response.viseme_cues.extend(event.viseme_cues.cues)
            elif kind == "usage":
                response.usage.CopyFrom(event.usage)
            elif kind == "done":
                response.finish_reason = event.done.finish_reason
            elif kind == "error":
                raise errors.Unavailable(event.error.message)
        response.text = "".join(parts)
        return response

    async def AnalyzeSentiment(
        self, request: ai_pb2.AnalyzeSentimentRequest, context: Context
    ) -> ai_pb2.AnalyzeSentimentResponse:
        """VADER sentiment of the text."""
        tenant_id, _ = validate.chatbot(request.chatbot)
        checks = Checks()
        validate.text(checks, "text", request.text)
        checks.done()
        await self._bots.bot(tenant_id, request.chatbot)
        return ai_pb2.AnalyzeSentimentResponse(sentiment=self._sentiment.analyze(request.text).to_proto())

    async def ClassifyIntent(
        self, request: ai_pb2.ClassifyIntentRequest, context: Context
    ) -> ai_pb2.ClassifyIntentResponse:
        """The intent of a message over the built-in, the chatbot's and the request's examples."""
        tenant_id, _ = validate.chatbot(request.chatbot)
        checks = Checks()
        validate.text(checks, "text", request.text)
        validate.extra_examples(checks, request.extra_examples)
        checks.done()
        bot = await self._bots.bot(tenant_id, request.chatbot)
        examples = [
            *examples_from_proto(bot.chatbot.personality.intent_examples),
            *examples_from_proto(request.extra_examples),
        ]
        result = await self._intents.classify(request.text, examples)
        return ai_pb2.ClassifyIntentResponse(
            intent=result.intent.to_proto(),
            confidence=result.confidence,
            scores=[ai_pb2.IntentScore(intent=i.to_proto(), confidence=c) for i, c in result.scores],
        )

    async def SelectAnimation(
        self, request: ai_pb2.SelectAnimationRequest, context: Context
    ) -> ai_pb2.SelectAnimationResponse:
        """The behaviour and clip for the moment, with hysteresis against the previous behaviour."""
        tenant_id, _ = validate.chatbot(request.chatbot)
        checks = Checks()
        if request.previous_elapsed.seconds < 0 or request.previous_elapsed.nanos < 0:
            checks.fail("previous_elapsed", "must not be negative")
        if request.sentiment.score < -1 or request.sentiment.score > 1:
            checks.fail("sentiment.score", "between -1 and 1")
        checks.done()
        bot = await self._bots.bot(tenant_id, request.chatbot)
        choice = select_animation(
            request.sentiment.score,
            Intent.from_proto(request.intent),
            bot.animation_map,
            previous=Behaviour.from_proto(request.previous_behaviour),
            previous_elapsed=request.previous_elapsed.ToTimedelta().total_seconds(),
        )
        return ai_pb2.SelectAnimationResponse(
            behaviour=choice.behaviour.to_proto(), clip=choice.clip, intensity=choice.intensity, changed=choice.changed
        )

    async def ListProviders(
        self, request: ai_pb2.ListProvidersRequest, context: Context
    ) -> ai_pb2.ListProvidersResponse:
        """Every provider, offline default first; keys are never part of the answer."""
        infos = list_providers(self._configs)
        return ai_pb2.ListProvidersResponse(providers=[provider_proto(i, self._prices) for i in infos])

    async def SearchKnowledge(
        self, request: ai_pb2.SearchKnowledgeRequest, context: Context
    ) -> ai_pb2.SearchKnowledgeResponse:
        """KnowledgeService.Search over the chatbot's knowledge bases."""
        tenant_id, _ = validate.chatbot(request.chatbot)
        checks = Checks()
        validate.text(checks, "query", request.query, validate.MAX_QUERY)
        if request.top_k < 0 or request.top_k > 50:
            checks.fail("top_k", "between 0 and 50")
        checks.done()
        bot = await self._bots.bot(tenant_id, request.chatbot)
        found = await self._bots.search(
            tenant_id,
            bot.chatbot.knowledge_bases,
            request.query,
            top_k=request.top_k or 5,
            mode=request.mode,
            min_score=request.min_score,
        )
        if not found.available:
            raise errors.Unavailable("the knowledge service is not available")
        return ai_pb2.SearchKnowledgeResponse(results=list(found.results))

    async def GetCosts(self, request: ai_pb2.GetCostsRequest, context: Context) -> ai_pb2.GetCostsResponse:
        """Usage and cost per chatbot (and UTC day) over a period, highest cost first."""
        tenant_id = validate.tenant(request.parent)
        checks = Checks()
        start, end = validate.period(
            checks,
            request.start_time,
            request.end_time,
            has_start=request.HasField("start_time"),
            has_end=request.HasField("end_time"),
        )
        chatbot_id: uuid.UUID | None = None
        if request.chatbot:
            try:
                chatbot_id = parse(request.chatbot, validate.CHATBOT_PATTERN, "chatbot")["chatbot"]
            except errors.InvalidArgument as exc:
                checks.violations.extend(exc.violations)
            else:
                if not request.chatbot.startswith(request.parent + "/"):
                    checks.fail("chatbot", "must be a chatbot of parent")
        checks.done()
        by_day = request.grouping == ai_pb2.COST_GROUPING_DAY
        buckets = await self._usage.costs(tenant_id, start, end, chatbot_id, by_day=by_day)
        return cost_report(request.parent, buckets, self._prices, by_day=by_day)

    async def SetProviderCredential(
        self, request: ai_pb2.SetProviderCredentialRequest, context: Context
    ) -> ai_pb2.SetProviderCredentialResponse:
        """Seals and stores the tenant's key for a provider; the response describes it without the key."""
        tenant_id, provider = credential(request.name)
        checks = Checks()
        api_key(checks, request.api_key, provider)
        url = base_url(checks, request.base_url)
        checks.done()
        if url:
            await callable_base_url(url, self._allow_private_base_urls)
        row = await self._credentials.set(tenant_id, provider, request.api_key, url, _actor(current_principal()))
        return ai_pb2.SetProviderCredentialResponse(provider_credential=credential_proto(tenant_id, row))

    async def ListProviderCredentials(
        self, request: ai_pb2.ListProviderCredentialsRequest, context: Context
    ) -> ai_pb2.ListProviderCredentialsResponse:
        """The tenant's credentials without key material."""
        tenant_id = validate.tenant(request.parent)
        rows = await self._credentials.rows(tenant_id)
        credentials = [credential_proto(tenant_id, r) for r in rows]
        return ai_pb2.ListProviderCredentialsResponse(provider_credentials=credentials)

    async def DeleteProviderCredential(
        self, request: ai_pb2.DeleteProviderCredentialRequest, context: Context
    ) -> ai_pb2.DeleteProviderCredentialResponse:
        """Deletes the tenant's key for a provider; NOT_FOUND when it has none."""
        tenant_id, provider = credential(request.name)
        if not await self._credentials.delete(tenant_id, provider):
            raise errors.NotFound(credential_name(tenant_id, provider))
        return ai_pb2.DeleteProviderCredentialResponse()


def _actor(principal: Principal) -> str:
    """Who set a credential, as a resource name."""
    if principal.kind == "user" and principal.tenant_id is not None:
        return f"tenants/{principal.tenant_id}/users/{principal.subject}"
    return f"{principal.kind}s/{principal.subject}"
