"""Composition root of the AI service."""

from __future__ import annotations

import redis.asyncio as aioredis

from avatarchat.ai.v1 import ai_pb2, ai_pb2_grpc
from avatarchat.chatbot.v1 import chatbot_pb2_grpc
from avatarchat.knowledge.v1 import knowledge_pb2_grpc
from services.ai.answer_cache import AnswerCache
from services.ai.answering import Answering
from services.ai.batching import BatchingEmbedder
from services.ai.bot_directory import BotDirectory
from services.ai.credential_store import CredentialStore
from services.ai.credential_watch import CredentialWatch
from services.ai.credentials import CredentialStamps, ProviderCredentials
from services.ai.hashed_words import HashedWordsEmbedder
from services.ai.intent import IntentClassifier
from services.ai.pricing import DEFAULT_PRICE_TABLE
from services.ai.providers.base import Provider, ProviderConfig, ProviderKind
from services.ai.providers.catalog import build_provider
from services.ai.providers.offline import OfflineConfig, OfflineProvider
from services.ai.sentiment import SentimentAnalyzer
from services.ai.servicer import AiServicer
from services.ai.settings import AiSettings
from services.ai.similarity import TextEmbedder
from services.ai.store import UsageStore
from services.ai.tenant_providers import TenantProviders
from services.runtime.clients import Clients
from services.runtime.db import Database
from services.runtime.remote_auth import remote_authenticator
from services.runtime.sealing import Sealer
from services.runtime.server import HostedService, ServiceHost, build_host, run
from services.runtime.tokens import ServiceTokens

NAME = "ai"
SETTINGS = AiSettings


def provider_configs(settings: AiSettings) -> list[ProviderConfig]:
    """The platform-wide providers of the settings (tenants' own keys come from TenantProviders)."""
    return [
        ProviderConfig(
            id=p.id,
            api_key=p.api_key,
            base_url=p.base_url,
            default_model=p.default_model,
            kind=ProviderKind(p.kind),
            read_timeout=settings.ai_first_token_timeout_seconds,
            location=p.location,
        )
        for p in settings.ai_providers
    ]


def intent_embedder(settings: AiSettings) -> TextEmbedder:
    """The embedder the intent classifier uses."""
    if settings.ai_intent_embedder == "minilm":
        from services.knowledge.minilm import MiniLmEmbedder

        # Messages arriving together share one model call: far cheaper per message than one call each.
        return BatchingEmbedder(MiniLmEmbedder())
    return HashedWordsEmbedder()


async def build(settings: AiSettings, *, port: int | None = None) -> ServiceHost:
    """Opens the database, Redis and clients, builds the providers and wires the servicer."""
    tokens = ServiceTokens(settings.resolved_internal_secret(), NAME)
    db = await Database.connect(settings, NAME)
    clients = Clients(settings)
    redis = aioredis.Redis.from_url(settings.redis_url)
    configs = provider_configs(settings)
    providers: dict[str, Provider] = {c.id: build_provider(c) for c in configs if c.configured}
    offline = OfflineProvider(OfflineConfig(pace_seconds=settings.ai_offline_pace_seconds))
    bots = BotDirectory(
        chatbot_pb2_grpc.ChatbotServiceStub(clients.channel("chatbot")),
        knowledge_pb2_grpc.KnowledgeServiceStub(clients.channel("knowledge")),
        tokens,
        timeout=settings.ai_dependency_timeout_seconds,
    )
    usage = UsageStore(db)
    sealer = Sealer.from_settings(
        settings.ai_credential_key,
        settings.resolved_internal_secret(),
        setting="AVATARCHAT_AI_CREDENTIAL_KEY",
        info=b"avatarchat ai provider credentials v1",
    )
    credentials = ProviderCredentials(
        CredentialStore(db), sealer, CredentialStamps(redis, settings.ai_credential_stamp_ttl_seconds)
    )
    # Its own connection to the service's Redis: a subscribed connection can carry no other command.
    watch = CredentialWatch(settings.redis_url)
    tenant_providers = TenantProviders(
        configs, providers, credentials, read_timeout=settings.ai_first_token_timeout_seconds, watch=watch
    )
    cache = AnswerCache(redis, settings.ai_cache_ttl_seconds)
    sentiment = SentimentAnalyzer()
    intents = IntentClassifier(intent_embedder(settings))
    answering = Answering(
        bots,
        providers,
        offline,
        prices=DEFAULT_PRICE_TABLE,
        cache=cache,
        usage=usage,
        sentiment=sentiment,
        intents=intents,
        first_token_timeout=settings.ai_first_token_timeout_seconds,
        top_k=settings.ai_knowledge_top_k,
        tenant_providers=tenant_providers,
    )
    servicer = AiServicer(
        answering,
        bots,
        sentiment=sentiment,
        intents=intents,
        usage=usage,
        prices=DEFAULT_PRICE_TABLE,
        provider_configs=configs,
        knowledge_top_k=settings.ai_knowledge_top_k,
        credentials=credentials,
        allow_private_base_urls=settings.ai_allow_private_base_urls,
    )
    service = HostedService(
        ai_pb2.DESCRIPTOR.services_by_name["AiService"],
        lambda server: ai_pb2_grpc.add_AiServiceServicer_to_server(servicer, server),
    )
    host = build_host(NAME, settings, [service], remote_authenticator(clients, tokens), port=port)

    async def close_providers() -> None:
        await tenant_providers.aclose()
        for provider in providers.values():
            await provider.aclose()

    # Closed in reverse: the watcher stops first, before the Redis client and the providers' clients go.
    host.closers += [clients.close, db.close, cache.close, close_providers, watch.stop]
    watch.start()
    return host


def main() -> None:
    """Runs the AI service until SIGTERM."""
    run(NAME, build, AiSettings())
