"""The providers the platform offers (for ListProviders), and building a provider from its config."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from avatarchat.ai.v1 import ai_pb2
from services.ai.pricing import PriceTable
from services.ai.providers.anthropic_provider import AnthropicProvider
from services.ai.providers.base import Provider, ProviderConfig, ProviderKind
from services.ai.providers.gemini_provider import VERTEX_ID, GeminiProvider
from services.ai.providers.offline import OFFLINE_ID, OFFLINE_LABEL, OFFLINE_MODEL
from services.ai.providers.openai_provider import OpenAIProvider


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """One model a provider offers."""

    id: str
    display_name: str
    context_window_tokens: int
    """0 when unknown (a self-hosted server's model)."""


@dataclass(frozen=True, slots=True)
class ProviderInfo:
    """A provider as ListProviders shows it; never carries a key."""

    id: str
    display_name: str
    kind: ProviderKind
    models: tuple[ModelInfo, ...]
    default_model: str
    configured: bool
    offline_default: bool = False


#: Google's models, offered by both the Gemini API and Vertex AI.
_GEMINI_MODELS = (
    ModelInfo("gemini-2.5-flash", "Gemini 2.5 Flash", 1_048_576),
    ModelInfo("gemini-2.5-flash-lite", "Gemini 2.5 Flash-Lite", 1_048_576),
)
_VENDORS: dict[str, tuple[str, tuple[ModelInfo, ...]]] = {
    "openai": (
        "OpenAI",
        (
            ModelInfo("gpt-4.1-mini", "GPT-4.1 mini", 1_047_576),
            ModelInfo("gpt-4.1", "GPT-4.1", 1_047_576),
            ModelInfo("gpt-4o-mini", "GPT-4o mini", 128_000),
            ModelInfo("gpt-5-mini", "GPT-5 mini", 400_000),
        ),
    ),
    "anthropic": (
        "Anthropic",
        (
            ModelInfo("claude-haiku-4-5", "Claude Haiku 4.5", 200_000),
            ModelInfo("claude-sonnet-4-5", "Claude Sonnet 4.5", 200_000),
        ),
    ),
    "gemini": ("Google Gemini", _GEMINI_MODELS),
    VERTEX_ID: ("Google Vertex AI", _GEMINI_MODELS),
}
OFFLINE_INFO = ProviderInfo(
    id=OFFLINE_ID,
    display_name=OFFLINE_LABEL,
    kind=ProviderKind.OFFLINE,
    models=(ModelInfo(OFFLINE_MODEL, OFFLINE_LABEL, 0),),
    default_model=OFFLINE_MODEL,
    configured=True,
    offline_default=True,
)


def build_provider(config: ProviderConfig) -> Provider:
    """The provider for a config: Anthropic, Gemini and Vertex AI by id, anything else speaks the OpenAI API."""
    if config.id == "anthropic":
        return AnthropicProvider(config)
    if config.id in ("gemini", VERTEX_ID):
        return GeminiProvider(config)
    return OpenAIProvider(config)


def describe(config: ProviderConfig) -> ProviderInfo:
    """How ListProviders shows a configured (or known but unconfigured) provider."""
    display_name, models = _VENDORS.get(config.id, (config.id, ()))
    if config.default_model and config.default_model not in {m.id for m in models}:
        models = (ModelInfo(config.default_model, config.default_model, 0), *models)
    default = config.default_model or (models[0].id if models else "")
    return ProviderInfo(
        id=config.id,
        display_name=display_name,
        kind=config.kind,
        models=models,
        default_model=default,
        configured=config.configured,
    )


def list_providers(configs: Sequence[ProviderConfig]) -> list[ProviderInfo]:
    """Every provider, the offline default first, then the configured ones, then known vendors without keys."""
    described = [describe(c) for c in configs if c.id != OFFLINE_ID]
    listed = {d.id for d in described}
    missing = [describe(ProviderConfig(id=vendor)) for vendor in _VENDORS if vendor not in listed]
    return [OFFLINE_INFO, *sorted(described, key=lambda d: not d.configured), *missing]


def provider_proto(info: ProviderInfo, prices: PriceTable) -> ai_pb2.Provider:
    """An ai.v1 Provider with each model's price from the table (offline and unknown models show 0)."""
    models = []
    for model in info.models:
        price = None if info.offline_default else prices.price(info.id, model.id)
        models.append(
            ai_pb2.ProviderModel(
                id=model.id,
                display_name=model.display_name,
                context_window_tokens=model.context_window_tokens,
                input_micros_per_million_tokens=price.input_micros_per_million if price else 0,
                output_micros_per_million_tokens=price.output_micros_per_million if price else 0,
                currency_code=prices.currency,
                default_model=model.id == info.default_model,
            )
        )
    return ai_pb2.Provider(
        id=info.id,
        display_name=info.display_name,
        kind=ai_pb2.ProviderKind.Value(f"PROVIDER_KIND_{info.kind.name}"),
        models=models,
        configured=info.configured,
        offline_default=info.offline_default,
    )
