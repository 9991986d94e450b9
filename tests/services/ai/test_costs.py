"""AiService.GetCosts: usage and cost per chatbot and UTC day over a period, priced when each answer was stored."""

from __future__ import annotations

import datetime as dt
import uuid

from avatarchat.ai.v1 import ai_pb2
from avatarchat.chatbot.v1 import chatbot_pb2
from services.ai.pricing import DEFAULT_PRICE_TABLE
from services.runtime.db import Database
from services.runtime.settings import RuntimeSettings
from tests.services.ai.wire_formats import openai_stream
from tests.services.conftest import Account, Stack
from tests.services.conversation.helpers import create_bot
from tests.services.conversation.platform_env import LocalPlatform, _clear_routes, local

__all__ = ["_clear_routes", "local"]


async def test_get_costs_sums_usage_per_chatbot_and_day(stack: Stack, local: LocalPlatform) -> None:
    account = await stack.new_tenant("cost")
    prefs = [chatbot_pb2.ProviderPreference(provider="openai")]
    paid = await create_bot(stack, account, personality=chatbot_pb2.Personality(providers=prefs))
    free = await create_bot(stack, account, display_name="Free")
    local.gateway.routes["openai"] = openai_stream(["Hi."], prompt_tokens=1_000_000, completion_tokens=10)
    for bot, text in ((paid, "first question"), (paid, "second question"), (free, "hello")):
        await local.ai.GenerateResponse(
            ai_pb2.GenerateResponseRequest(chatbot=bot.name, message=text), metadata=account.metadata
        )
    request = ai_pb2.GetCostsRequest(parent=account.tenant, grouping=ai_pb2.COST_GROUPING_DAY)
    now = dt.datetime.now(dt.UTC)
    request.start_time.FromDatetime(now - dt.timedelta(days=1))
    request.end_time.FromDatetime(now + dt.timedelta(days=1))

    costs = await local.ai.GetCosts(request, metadata=account.metadata)

    assert [c.chatbot for c in costs.chatbots] == [paid.name, free.name]
    assert costs.chatbots[0].totals.message_count == 2
    assert costs.chatbots[0].totals.input_tokens == 2_000_000
    assert costs.chatbots[0].totals.cost_micros == 2 * (400_000 + 16)
    assert len(costs.chatbots[0].days) == 1
    assert costs.chatbots[1].totals.cost_micros == 0
    assert costs.totals.message_count == 3
    assert costs.price_table_version
    only = ai_pb2.GetCostsRequest(parent=account.tenant, chatbot=free.name)
    only.start_time.CopyFrom(request.start_time)
    only.end_time.CopyFrom(request.end_time)
    assert [c.chatbot for c in (await local.ai.GetCosts(only, metadata=account.metadata)).chatbots] == [free.name]


async def record_usage(
    settings: RuntimeSettings,
    account: Account,
    chatbot: str,
    at: dt.datetime,
    *,
    cost_micros: int,
    version: str = DEFAULT_PRICE_TABLE.version,
    tokens: tuple[int, int] = (1000, 10),
) -> None:
    """An ai.usage row of an openai answer as the AI service stores one, dated `at`."""
    # Written as the AI service's role: an answer through the service is always dated now, periods reach back.
    db = await Database.connect(settings, "ai")
    try:
        async with db.tenant_tx(account.tenant_id) as conn:
            await conn.execute(
                "INSERT INTO ai.usage (tenant_id, chatbot_id, provider, model, input_tokens, output_tokens,"
                " cost_micros, currency_code, price_table_version, priced, cached, create_time)"
                " VALUES ($1, $2, 'openai', 'gpt-4.1-mini', $3, $4, $5, 'USD', $6, true, false, $7)",
                account.tenant_id,
                uuid.UUID(chatbot.rsplit("/", 1)[1]),
                *tokens,
                cost_micros,
                version,
                at,
            )
    finally:
        await db.close()


async def stored_usage(settings: RuntimeSettings, account: Account) -> list[tuple[str, int, bool]]:
    """(price table version, cost, priced) of the tenant's ai.usage rows, oldest first."""
    db = await Database.connect(settings, "ai")
    try:
        async with db.tenant_tx(account.tenant_id) as conn:
            rows = await conn.fetch(
                "SELECT price_table_version, cost_micros, priced FROM ai.usage WHERE tenant_id = $1 ORDER BY id",
                account.tenant_id,
            )
    finally:
        await db.close()
    return [(r["price_table_version"], r["cost_micros"], r["priced"]) for r in rows]


def costs_request(account: Account, start: dt.datetime, end: dt.datetime) -> ai_pb2.GetCostsRequest:
    """GetCosts of the tenant over [start, end), per day."""
    request = ai_pb2.GetCostsRequest(parent=account.tenant, grouping=ai_pb2.COST_GROUPING_DAY)
    request.start_time.FromDatetime(start)
    request.end_time.FromDatetime(end)
    return request


async def test_get_costs_counts_only_usage_inside_the_half_open_period(
    stack: Stack, local: LocalPlatform, settings: RuntimeSettings
) -> None:
    account = await stack.new_tenant("period")
    bot = (await create_bot(stack, account)).name
    day = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0) - dt.timedelta(days=30)
    earlier = day - dt.timedelta(days=10) + dt.timedelta(hours=12)  # its day starts at midnight, not at the row
    for at, cost in ((earlier, 1), (day, 20), (day + dt.timedelta(days=1), 300)):
        await record_usage(settings, account, bot, at, cost_micros=cost)

    one_day = await local.ai.GetCosts(
        costs_request(account, day, day + dt.timedelta(days=1)), metadata=account.metadata
    )
    wide = await local.ai.GetCosts(
        costs_request(account, day - dt.timedelta(days=15), day + dt.timedelta(days=2)), metadata=account.metadata
    )
    now = dt.datetime.now(dt.UTC)
    recent = await local.ai.GetCosts(
        costs_request(account, now - dt.timedelta(days=1), now + dt.timedelta(days=1)), metadata=account.metadata
    )

    # The start is inside the period and the end is not.
    assert (one_day.totals.message_count, one_day.totals.cost_micros) == (1, 20)
    assert (wide.totals.message_count, wide.totals.cost_micros) == (3, 321)
    days = [(d.start_time.ToDatetime(dt.UTC), d.totals.cost_micros) for d in wide.chatbots[0].days]
    assert days == [(day - dt.timedelta(days=10), 1), (day, 20), (day + dt.timedelta(days=1), 300)]
    assert not recent.chatbots
    assert recent.totals.message_count == 0


async def test_usage_keeps_the_price_and_table_version_it_was_stored_with(
    stack: Stack, local: LocalPlatform, settings: RuntimeSettings
) -> None:
    account = await stack.new_tenant("version")
    prefs = [chatbot_pb2.ProviderPreference(provider="openai")]
    bot = (await create_bot(stack, account, personality=chatbot_pb2.Personality(providers=prefs))).name
    local.gateway.routes["openai"] = openai_stream(["Hi."], prompt_tokens=1000, completion_tokens=10)
    await local.ai.GenerateResponse(
        ai_pb2.GenerateResponseRequest(chatbot=bot, message="hello"), metadata=account.metadata
    )
    now = dt.datetime.now(dt.UTC)
    period = costs_request(account, now - dt.timedelta(days=1), now + dt.timedelta(days=1))

    fresh = await local.ai.GetCosts(period, metadata=account.metadata)
    # An answer of the same size priced under an older table, at a price the current one no longer has.
    await record_usage(settings, account, bot, now - dt.timedelta(hours=1), cost_micros=123, version="2025-01-01")
    both = await local.ai.GetCosts(period, metadata=account.metadata)

    # gpt-4.1-mini in the current table: 1000 * 0.40 + 10 * 1.60 dollars per million tokens.
    assert await stored_usage(settings, account) == [
        (DEFAULT_PRICE_TABLE.version, 416, True),
        ("2025-01-01", 123, True),
    ]
    assert (fresh.totals.cost_micros, fresh.price_table_version) == (416, DEFAULT_PRICE_TABLE.version)
    assert fresh.price_table_versions == [DEFAULT_PRICE_TABLE.version]
    assert both.totals.cost_micros == 416 + 123, "stored costs are summed, never repriced with the current table"
    # The report names both tables its costs come from, and still the current one.
    assert both.price_table_versions == ["2025-01-01", DEFAULT_PRICE_TABLE.version]
    assert both.price_table_version == DEFAULT_PRICE_TABLE.version
