"""The versioned price table and the cost of usage."""

from __future__ import annotations

import datetime as dt

from services.ai.pricing import DEFAULT_PRICE_TABLE, ModelPrice, PriceTable
from services.ai.providers.base import FinishReason, UsageReport


def usage(provider: str, model: str, input_tokens: int, output_tokens: int) -> UsageReport:
    return UsageReport(provider, model, input_tokens, output_tokens, FinishReason.STOP)


def test_cost_from_usage_in_micros() -> None:
    table = PriceTable(
        "test-1", dt.date(2025, 1, 1), "USD", {("openai", "gpt-4.1-mini"): ModelPrice(400_000, 1_600_000)}
    )
    cost = table.cost(usage("openai", "gpt-4.1-mini", 1_000_000, 500_000))
    assert (cost.micros, cost.currency, cost.price_table_version, cost.priced) == (1_200_000, "USD", "test-1", True)
    # 1000 input + 200 output tokens: 400 + 320 micros.
    assert table.cost(usage("openai", "gpt-4.1-mini", 1000, 200)).micros == 720
    # Fractions of a micro round half up.
    assert table.cost(usage("openai", "gpt-4.1-mini", 3, 0)).micros == 1


def test_dated_snapshots_take_their_familys_price() -> None:
    table = DEFAULT_PRICE_TABLE
    assert table.price("openai", "gpt-4.1-mini-2025-04-14") == table.price("openai", "gpt-4.1-mini")
    assert table.price("openai", "gpt-4o-mini-2024-07-18") == table.price("openai", "gpt-4o-mini")
    assert table.price("anthropic", "claude-haiku-4-5-20251001") == table.price("anthropic", "claude-haiku-4-5")
    assert table.price("gemini", "models/gemini-2.5-flash-lite") == table.price("gemini", "gemini-2.5-flash-lite")
    assert table.price("gemini", "gemini-2.5-flash-lite") != table.price("gemini", "gemini-2.5-flash")


def test_offline_cached_and_unknown_models() -> None:
    table = DEFAULT_PRICE_TABLE
    assert table.cost(usage("offline", "extractive", 5000, 300)).micros == 0
    assert table.cost(usage("openai", "gpt-4.1", 5000, 300), cached=True).micros == 0
    unknown = table.cost(usage("vllm", "llama-3.1-8b", 5000, 300))
    assert (unknown.micros, unknown.priced) == (0, False)


def test_the_default_table_is_versioned() -> None:
    assert DEFAULT_PRICE_TABLE.version == DEFAULT_PRICE_TABLE.effective.isoformat()
    assert DEFAULT_PRICE_TABLE.currency == "USD"
    price = DEFAULT_PRICE_TABLE.price("openai", "gpt-4o-mini")
    assert price == ModelPrice(150_000, 600_000)
