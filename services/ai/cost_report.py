"""Turns summed usage rows into a GetCosts answer: per chatbot, optionally per UTC day, highest cost first."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from google.protobuf.timestamp_pb2 import Timestamp

from avatarchat.ai.v1 import ai_pb2
from services.ai.pricing import PriceTable
from services.ai.store import CostBucket


def cost_report(
    parent: str, buckets: Sequence[CostBucket], prices: PriceTable, *, by_day: bool
) -> ai_pb2.GetCostsResponse:
    """The GetCosts response of `buckets` (rows per chatbot, or per chatbot and day)."""
    per_bot: dict[uuid.UUID, ai_pb2.ChatbotCosts] = {}
    for bucket in buckets:
        entry = per_bot.get(bucket.chatbot_id)
        if entry is None:
            entry = ai_pb2.ChatbotCosts(
                chatbot=f"{parent}/chatbots/{bucket.chatbot_id}",
                totals=ai_pb2.CostTotals(currency_code=prices.currency),
            )
            per_bot[bucket.chatbot_id] = entry
        _add(entry.totals, bucket)
        if by_day and bucket.day is not None:
            start = Timestamp()
            start.FromDatetime(bucket.day)
            day = ai_pb2.DailyCosts(start_time=start, totals=ai_pb2.CostTotals(currency_code=prices.currency))
            _add(day.totals, bucket)
            entry.days.append(day)
    chatbots = sorted(per_bot.values(), key=lambda c: (-c.totals.cost_micros, c.chatbot))
    totals = ai_pb2.CostTotals(currency_code=prices.currency)
    for entry in chatbots:
        totals.input_tokens += entry.totals.input_tokens
        totals.output_tokens += entry.totals.output_tokens
        totals.cost_micros += entry.totals.cost_micros
        totals.message_count += entry.totals.message_count
    versions = sorted({v for bucket in buckets for v in bucket.price_table_versions})
    return ai_pb2.GetCostsResponse(
        chatbots=chatbots, totals=totals, price_table_version=prices.version, price_table_versions=versions
    )


def _add(totals: ai_pb2.CostTotals, bucket: CostBucket) -> None:
    totals.input_tokens += bucket.input_tokens
    totals.output_tokens += bucket.output_tokens
    totals.cost_micros += bucket.cost_micros
    totals.message_count += bucket.message_count
