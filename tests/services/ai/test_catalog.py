"""ListProviders data: the offline default first and labelled, prices attached, no keys."""

from __future__ import annotations

from pydantic import SecretStr

from avatarchat.ai.v1 import ai_pb2
from services.ai.pricing import DEFAULT_PRICE_TABLE
from services.ai.providers.anthropic_provider import AnthropicProvider
from services.ai.providers.base import ProviderConfig, ProviderKind
from services.ai.providers.catalog import build_provider, list_providers, provider_proto
from services.ai.providers.gemini_provider import GeminiProvider
from services.ai.providers.openai_provider import OpenAIProvider

SECRET = "sk-live-abcdefghijklmnop"


def test_offline_comes_first_with_its_label_and_configured_providers_before_the_rest() -> None:
    configs = [
        ProviderConfig(id="anthropic"),
        ProviderConfig(id="openai", api_key=SecretStr(SECRET)),
        ProviderConfig(
            id="vllm", base_url="http://127.0.0.1:8000/v1", default_model="llama-3.1-8b", kind=ProviderKind.SELF_HOSTED
        ),
    ]
    providers = list_providers(configs)
    assert [p.id for p in providers] == ["offline", "openai", "vllm", "anthropic", "gemini", "vertex"]
    offline = providers[0]
    assert offline.display_name == "offline extractive (no model)"
    assert (offline.configured, offline.offline_default, offline.kind) == (True, True, ProviderKind.OFFLINE)
    assert [p.configured for p in providers] == [True, True, True, False, False, False]
    assert providers[-1].display_name == "Google Vertex AI"
    assert providers[2].models[0].id == "llama-3.1-8b"
    assert SECRET not in repr(providers)


def test_the_proto_carries_prices_and_no_key() -> None:
    providers = list_providers([ProviderConfig(id="openai", api_key=SecretStr(SECRET), default_model="gpt-4o-mini")])
    protos = [provider_proto(p, DEFAULT_PRICE_TABLE) for p in providers]
    offline, openai = protos[0], protos[1]
    assert offline.kind == ai_pb2.PROVIDER_KIND_OFFLINE
    assert offline.models[0].display_name == "offline extractive (no model)"
    assert offline.models[0].input_micros_per_million_tokens == 0
    mini = next(m for m in openai.models if m.id == "gpt-4o-mini")
    assert (mini.input_micros_per_million_tokens, mini.output_micros_per_million_tokens) == (150_000, 600_000)
    assert mini.default_model
    assert SECRET.encode() not in b"".join(p.SerializeToString() for p in protos)


async def test_build_provider_picks_the_sdk_by_id() -> None:
    built = [
        build_provider(ProviderConfig(id=i, api_key=SecretStr(SECRET)))
        for i in ("openai", "anthropic", "gemini", "vertex", "ollama")
    ]
    assert [type(p) for p in built] == [
        OpenAIProvider,
        AnthropicProvider,
        GeminiProvider,
        GeminiProvider,
        OpenAIProvider,
    ]
    assert [p.id for p in built] == ["openai", "anthropic", "gemini", "vertex", "ollama"]
    for provider in built:
        assert SECRET not in repr(provider)
        await provider.aclose()
