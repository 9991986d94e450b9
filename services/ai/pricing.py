"""A versioned table of model prices, and the cost of an answer's usage."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from services.ai.providers.base import UsageReport
from services.ai.providers.offline import OFFLINE_ID

_MILLION = 1_000_000


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """What one million tokens of a model cost, in micro-units of the table's currency."""

    input_micros_per_million: int
    output_micros_per_million: int


@dataclass(frozen=True, slots=True)
class Cost:
    """The cost of one answer."""

    micros: int
    """Micro-units of currency."""
    currency: str
    price_table_version: str
    priced: bool
    """False when the model is not in the table (self-hosted or new): the cost is 0 but unknown, not free."""


@dataclass(frozen=True, slots=True)
class PriceTable:
    """Prices per provider and model id, valid from `effective` on; `version` is stored with every cost."""

    version: str
    effective: dt.date
    currency: str
    prices: Mapping[tuple[str, str], ModelPrice] = field(default_factory=dict)
    free_providers: frozenset[str] = frozenset({OFFLINE_ID})
    """Providers that never cost anything (the offline extractive one)."""

    def price(self, provider: str, model: str) -> ModelPrice | None:
        """The price of a model; dated snapshots ("gpt-4.1-mini-2025-04-14") take their family's price."""
        model = model.removeprefix("models/")
        exact = self.prices.get((provider, model))
        if exact is not None:
            return exact
        # The longest listed id that the reported model starts with: the snapshot's family.
        family = [m for (p, m) in self.prices if p == provider and model.startswith(f"{m}-")]
        return self.prices[(provider, max(family, key=len))] if family else None

    def cost(self, usage: UsageReport, *, cached: bool = False) -> Cost:
        """The cost of an answer; cached and offline answers cost nothing."""
        if cached or usage.provider in self.free_providers:
            return Cost(0, self.currency, self.version, priced=True)
        price = self.price(usage.provider, usage.model)
        if price is None:
            return Cost(0, self.currency, self.version, priced=False)
        total = (
            usage.input_tokens * price.input_micros_per_million + usage.output_tokens * price.output_micros_per_million
        )
        # Round half up to whole micros: exact enough (a millionth of a cent) and the same in every service.
        return Cost((total + _MILLION // 2) // _MILLION, self.currency, self.version, priced=True)


def _usd(input_dollars: str, output_dollars: str) -> ModelPrice:
    """A price from dollars per million tokens as the vendors' price pages state them."""
    return ModelPrice(_micros(input_dollars), _micros(output_dollars))


def _micros(dollars: str) -> int:
    whole, _, fraction = dollars.partition(".")
    return int(whole) * _MILLION + int((fraction + "000000")[:6])


#: List prices (standard tier, no batch or cache discounts) as the vendors published them on the effective date.
DEFAULT_PRICE_TABLE = PriceTable(
    version="2025-11-01",
    effective=dt.date(2025, 11, 1),
    currency="USD",
    prices=MappingProxyType(
        {
            ("openai", "gpt-4.1-mini"): _usd("0.40", "1.60"),
            ("openai", "gpt-4.1"): _usd("2.00", "8.00"),
            ("openai", "gpt-4o-mini"): _usd("0.15", "0.60"),
            ("openai", "gpt-4o"): _usd("2.50", "10.00"),
            ("openai", "gpt-5-mini"): _usd("0.25", "2.00"),
            ("openai", "gpt-5-nano"): _usd("0.05", "0.40"),
            ("anthropic", "claude-haiku-4-5"): _usd("1.00", "5.00"),
            ("anthropic", "claude-sonnet-4-5"): _usd("3.00", "15.00"),
            ("anthropic", "claude-3-5-haiku"): _usd("0.80", "4.00"),
            ("gemini", "gemini-2.5-flash"): _usd("0.30", "2.50"),
            ("gemini", "gemini-2.5-flash-lite"): _usd("0.10", "0.40"),
            ("gemini", "gemini-2.0-flash"): _usd("0.10", "0.40"),
            # Vertex AI's list prices for these two equal the Gemini API's (its gemini-2.0-flash does not).
            ("vertex", "gemini-2.5-flash"): _usd("0.30", "2.50"),
            ("vertex", "gemini-2.5-flash-lite"): _usd("0.10", "0.40"),
        }
    ),
)
