"""StreamResponse's domain: bot and knowledge, prompt, cache, provider failover, events, usage and cost."""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from collections.abc import AsyncGenerator, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass

from avatarchat.ai.v1 import ai_pb2
from services.ai.animation import AnimationChoice, behaviour_for_finish, resolve_clip, select_animation
from services.ai.answer_cache import AnswerCache, CachedAnswer
from services.ai.answer_events import AnswerEvents, Event, duration
from services.ai.bot_directory import Bot, BotDirectory, Knowledge
from services.ai.cache_key import personality_hash, response_cache_key
from services.ai.citations import CitationTracker
from services.ai.failover import Attempt, StreamFailed, provider_chain, stream_with_failover
from services.ai.intent import IntentClassifier, examples_from_proto
from services.ai.passages import Passage, passages_from_results
from services.ai.pricing import PriceTable
from services.ai.prompt import PromptLimits, build_request, turns_from_proto
from services.ai.providers.base import (
    FinishReason,
    GenerationRequest,
    Provider,
    TextDelta,
    UsageReport,
    estimated_usage,
)
from services.ai.providers.errors import AllProvidersFailed
from services.ai.sentiment import SentimentAnalyzer
from services.ai.store import UsageRow, UsageStore
from services.ai.tenant_providers import TenantProviders
from services.runtime import errors

log = logging.getLogger(__name__)
_WORDS = re.compile(r"\S+\s*")


@dataclass(frozen=True, slots=True)
class Opening:
    """The avatar's first behaviour for a message, and the sentiment and intent that chose it."""

    choice: AnimationChoice
    analysis: ai_pb2.QuestionAnalysis

    def events(self, answer: AnswerEvents) -> list[Event]:
        """The analysis, then the opening cue (none for text-only answers) where the answer's text has got to."""
        return [Event(question_analysis=self.analysis), *answer.cue(self.choice, text_offset=len(answer.text))]


@dataclass(frozen=True, slots=True)
class AnswerRequest:
    """A validated StreamResponse or GenerateResponse request."""

    tenant_id: uuid.UUID
    chatbot: str
    chatbot_id: uuid.UUID
    conversation_id: uuid.UUID | None
    message: str
    history: Sequence[ai_pb2.Turn]
    request_id: str
    text_only: bool


def finish_proto(reason: FinishReason) -> ai_pb2.FinishReason.ValueType:
    """The ai.v1 FinishReason of a provider's finish reason."""
    return ai_pb2.FinishReason.Value(f"FINISH_REASON_{reason.name}")


class Answering:
    """Streams one answer as ai.v1 events; closing the stream closes the provider's HTTP stream."""

    def __init__(
        self,
        bots: BotDirectory,
        providers: Mapping[str, Provider],
        offline: Provider,
        *,
        prices: PriceTable,
        cache: AnswerCache | None,
        usage: UsageStore,
        sentiment: SentimentAnalyzer,
        intents: IntentClassifier,
        first_token_timeout: float,
        top_k: int,
        limits: PromptLimits | None = None,
        tenant_providers: TenantProviders | None = None,
    ) -> None:
        self._bots = bots
        self._providers = dict(providers)
        self._offline = offline
        self._prices = prices
        self._cache = cache
        self._usage = usage
        self._sentiment = sentiment
        self._intents = intents
        self._first_token_timeout = first_token_timeout
        self._top_k = top_k
        self._limits = limits or PromptLimits()
        self._tenant_providers = tenant_providers

    async def stream(self, req: AnswerRequest) -> AsyncGenerator[Event, None]:
        """Every event of the answer; failures before the first event raise ServiceError instead."""
        started = time.monotonic()
        # The tenant's providers are looked up first: a Redis check (when the cache cannot vouch for them) overlaps
        # the bot, knowledge and prompt.
        providers = self._providers_now(req.tenant_id)
        try:
            bot = await self._bots.bot(req.tenant_id, req.chatbot)
            personality = bot.chatbot.personality
            knowledge = await self._bots.search(
                req.tenant_id, bot.chatbot.knowledge_bases, req.message, top_k=self._top_k
            )
            history = turns_from_proto(req.history[-20:])
            generation = build_request(
                personality,
                req.message,
                passages_from_results(knowledge.results),
                history,
                bot_name=bot.chatbot.display_name,
                limits=self._limits,
            )
            async for event in self._answer(
                req,
                bot=bot,
                generation=generation,
                knowledge=knowledge,
                providers=providers,
                started=started,
                history_used=bool(history),
            ):
                yield event
        finally:
            providers.cancel()
            if providers.done() and not providers.cancelled():
                providers.exception()  # seen, even when the answer never needed it

    def _providers_now(self, tenant_id: uuid.UUID) -> asyncio.Future[Mapping[str, Provider]]:
        """The tenant's providers: already resolved when nothing needs asking, so awaiting them costs no turn of
        the event loop; otherwise the lookup, running."""
        tenants = self._tenant_providers
        known: Mapping[str, Provider] | None
        if tenants is None:
            known = self._providers
        else:
            known = tenants.known(tenant_id)
            if known is None:
                return asyncio.ensure_future(tenants.for_tenant(tenant_id))
        future: asyncio.Future[Mapping[str, Provider]] = asyncio.get_running_loop().create_future()
        future.set_result(known)
        return future

    async def _answer(
        self,
        req: AnswerRequest,
        *,
        bot: Bot,
        generation: GenerationRequest,
        knowledge: Knowledge,
        providers: asyncio.Future[Mapping[str, Provider]],
        started: float,
        history_used: bool,
    ) -> AsyncGenerator[Event, None]:
        """The cached answer, or the providers' in failover order."""
        personality = bot.chatbot.personality
        # Only stand-alone questions are cached: an answer that leans on earlier turns is not reusable.
        key = None
        if self._cache is not None and not history_used and knowledge.available:
            key = response_cache_key(req.chatbot, knowledge.version, req.message, personality_hash(personality))
            cached = await self._cache.get(key)
            if cached is not None:
                async for event in self._replay(req, cached, await self._opening(req.message, bot), started):
                    yield event
                return
        events = AnswerEvents(CitationTracker(generation.context.passages), text_only=req.text_only)
        chain = provider_chain(personality.providers, await providers, self._offline)
        # Sentiment and intent of the question pick the opening cue while the provider answers. The task is made
        # only once the providers are known, so its work never holds back their lookup.
        opening = asyncio.ensure_future(self._opening(req.message, bot))
        try:
            async for event in self._provider_answer(
                req,
                bot=bot,
                generation=generation,
                events=events,
                chain=chain,
                opening=opening,
                started=started,
                key=key,
            ):
                yield event
        finally:
            opening.cancel()

    async def _provider_answer(
        self,
        req: AnswerRequest,
        *,
        bot: Bot,
        generation: GenerationRequest,
        events: AnswerEvents,
        chain: Sequence[Attempt],
        opening: asyncio.Future[Opening],
        started: float,
        key: str | None,
    ) -> AsyncGenerator[Event, None]:
        """The providers' answer in failover order, then its closing events, usage and done."""
        run = AnswerRun(events, started, opening)
        try:
            async with aclosing(
                stream_with_failover(generation, chain, first_token_timeout=self._first_token_timeout)
            ) as answer:
                async for item in answer:
                    for event in run.take(item):
                        yield event
        except AllProvidersFailed as exc:
            log.warning("no provider could answer", extra={"chatbot": req.chatbot, "detail": exc.message})
            raise errors.Unavailable("no answer provider is available right now") from None
        for event in await run.opened():
            yield event
        for event in run.events.finish():
            yield event
        if run.failed is not None:
            failed = run.failed
            partial = estimated_usage(failed.provider, "", generation, failed.partial_text, FinishReason.STOP)
            await self._record(req, partial, cached=False)
            yield Event(
                error=ai_pb2.StreamError(
                    code=failed.code, reason=failed.reason, message=failed.message, partial_text=failed.partial_text
                )
            )
            return
        async for event in self._complete(req, bot, run, key):
            yield event

    async def _complete(
        self, req: AnswerRequest, bot: Bot, run: AnswerRun, key: str | None
    ) -> AsyncGenerator[Event, None]:
        """The closing gesture, usage and done of a finished answer; then it is cached."""
        usage = run.usage
        if usage is None:
            raise errors.Unavailable("the provider ended without a usage report")
        gesture = behaviour_for_finish(usage.finish_reason)
        if gesture is not None:
            clip, clip_behaviour = resolve_clip(gesture, bot.animation_map)
            choice = AnimationChoice(gesture, clip, clip_behaviour, intensity=0.8, changed=True)
            for event in run.events.cue(choice, text_offset=len(run.events.text), seconds=1.5):
                yield event
        cost = await self._record(req, usage, cached=False)
        yield Event(usage=self._usage_proto(usage, cost, cached=False, first_token=run.first_token))
        yield Event(done=self._done(finish_proto(usage.finish_reason), run.events.text))
        if key is not None and self._cache is not None:
            answer = CachedAnswer(
                text=run.events.text,
                finish_reason=finish_proto(usage.finish_reason),
                provider=usage.provider,
                model=usage.model,
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
                citations=tuple(run.events.cited),
            )
            await self._cache.put(key, answer)

    async def _replay(
        self, req: AnswerRequest, cached: CachedAnswer, opening: Opening, started: float
    ) -> AsyncGenerator[Event, None]:
        """A cached answer streams like a fresh one: cue, word deltas with citations and visemes, usage, done."""
        passages = [
            Passage(c.index, c.snippet, c.chunk_id, c.document, c.title, c.url, c.score) for c in cached.citations
        ]
        events = AnswerEvents(CitationTracker(passages), text_only=req.text_only)
        first_token = time.monotonic() - started
        for event in opening.events(events):
            yield event
        for word in _WORDS.findall(cached.text):
            for event in events.delta(word):
                yield event
        for event in events.finish():
            yield event
        report = UsageReport(cached.provider, cached.model, 0, 0, FinishReason.STOP)
        cost = await self._record(req, report, cached=True)
        yield Event(usage=self._usage_proto(report, cost, cached=True, first_token=first_token))
        yield Event(done=self._done(ai_pb2.FinishReason.ValueType(cached.finish_reason), cached.text))

    def _done(self, finish_reason: ai_pb2.FinishReason.ValueType, text: str) -> ai_pb2.StreamDone:
        """The end of a finished answer, with how the whole answer reads (VADER: well under a millisecond)."""
        return ai_pb2.StreamDone(finish_reason=finish_reason, sentiment=self._sentiment.analyze(text).to_proto())

    async def _opening(self, message: str, bot: Bot) -> Opening:
        """How the avatar meets the visitor's message: its sentiment and intent pick a behaviour."""
        sentiment = self._sentiment.analyze(message)
        examples = examples_from_proto(bot.chatbot.personality.intent_examples)
        intent = await self._intents.classify(message, examples)
        analysis = ai_pb2.QuestionAnalysis(
            sentiment=sentiment.to_proto(), intent=intent.intent.to_proto(), confidence=intent.confidence
        )
        return Opening(select_animation(sentiment.score, intent.intent, bot.animation_map), analysis)

    async def _record(self, req: AnswerRequest, usage: UsageReport, *, cached: bool) -> int:
        cost = self._prices.cost(usage, cached=cached)
        await self._usage.record(
            req.tenant_id,
            UsageRow(
                chatbot_id=req.chatbot_id,
                conversation_id=req.conversation_id,
                request_id=req.request_id,
                provider=usage.provider,
                model=usage.model,
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
                cost_micros=cost.micros,
                currency_code=cost.currency,
                price_table_version=cost.price_table_version,
                priced=cost.priced,
                cached=cached,
            ),
        )
        return cost.micros

    def _usage_proto(self, usage: UsageReport, cost: int, *, cached: bool, first_token: float) -> ai_pb2.Usage:
        return ai_pb2.Usage(
            provider=usage.provider,
            model=usage.model,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cost_micros=cost,
            currency_code=self._prices.currency,
            cached=cached,
            first_token_latency=duration(first_token),
        )


class AnswerRun:
    """The state of one provider answer while it streams."""

    def __init__(self, events: AnswerEvents, started: float, opening: asyncio.Future[Opening]) -> None:
        self.events = events
        self.started = started
        self.first_token = 0.0
        self.usage: UsageReport | None = None
        self.failed: StreamFailed | None = None
        self._opening = opening
        self._opened = False

    def take(self, item: TextDelta | UsageReport | StreamFailed) -> list[Event]:
        """The events of one failover item, then the opening cue once it is known (text never waits for it)."""
        if isinstance(item, UsageReport):
            self.usage = item
            return []
        if isinstance(item, StreamFailed):
            self.failed = item
            return []
        if not self.events.parts:
            self.first_token = time.monotonic() - self.started
        # The cue is placed where this delta starts but sent after it: each event is a write on every hop, and the
        # visitor waits for the text, not for the gesture.
        opening = self._opening_events() if not self._opened and self._opening.done() else []
        return self.events.delta(item.text) + opening

    async def opened(self) -> list[Event]:
        """The opening's events if they have not gone out yet, waiting for them: the answer has ended."""
        if self._opened:
            return []
        await asyncio.wait([self._opening])
        return self._opening_events()

    def _opening_events(self) -> list[Event]:
        self._opened = True
        failure = None if self._opening.cancelled() else self._opening.exception()
        if self._opening.cancelled() or failure is not None:
            # Sentiment and intent only decorate the answer; losing them must not lose the answer.
            log.warning("the opening cue could not be chosen", exc_info=failure)
            return []
        return self._opening.result().events(self.events)
