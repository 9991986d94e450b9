"""SQL of the AI service: usage rows per answer, and their sums per chatbot and UTC day."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from services.runtime.db import Database


@dataclass(frozen=True, slots=True)
class UsageRow:
    """What one answer used and cost."""

    chatbot_id: uuid.UUID
    conversation_id: uuid.UUID | None
    request_id: str
    provider: str
    model: str
    input_tokens: int
    output_tokens: int
    cost_micros: int
    currency_code: str
    price_table_version: str
    priced: bool
    cached: bool


@dataclass(frozen=True, slots=True)
class CostBucket:
    """Sums of one chatbot, for the whole period (day None) or one UTC day."""

    chatbot_id: uuid.UUID
    day: dt.datetime | None
    input_tokens: int
    output_tokens: int
    cost_micros: int
    message_count: int
    price_table_versions: tuple[str, ...] = ()
    """The price tables its answers were priced with."""


class UsageStore:
    """Reads and writes ai.usage, always inside one tenant's transaction."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def record(self, tenant_id: uuid.UUID, row: UsageRow) -> None:
        """Appends one answer's usage."""
        async with self._db.tenant_statement(tenant_id) as conn:
            await conn.execute(
                "INSERT INTO ai.usage (tenant_id, chatbot_id, conversation_id, request_id, provider, model,"
                " input_tokens, output_tokens, cost_micros, currency_code, price_table_version, priced, cached)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                tenant_id,
                row.chatbot_id,
                row.conversation_id,
                row.request_id,
                row.provider,
                row.model,
                row.input_tokens,
                row.output_tokens,
                row.cost_micros,
                row.currency_code,
                row.price_table_version,
                row.priced,
                row.cached,
            )

    async def costs(
        self,
        tenant_id: uuid.UUID,
        start: dt.datetime,
        end: dt.datetime,
        chatbot_id: uuid.UUID | None,
        *,
        by_day: bool,
    ) -> list[CostBucket]:
        """Sums per chatbot (and per UTC day when by_day) in [start, end)."""
        day = "date_trunc('day', create_time AT TIME ZONE 'UTC')" if by_day else "NULL::timestamp"
        async with self._db.tenant_tx(tenant_id) as conn:
            rows = await conn.fetch(
                f"SELECT chatbot_id, {day} AS day, sum(input_tokens) AS i, sum(output_tokens) AS o,"
                " sum(cost_micros) AS c, count(*) AS n, array_agg(DISTINCT price_table_version) AS v FROM ai.usage"
                " WHERE tenant_id = $1 AND create_time >= $2 AND create_time < $3"
                " AND ($4::uuid IS NULL OR chatbot_id = $4) GROUP BY 1, 2 ORDER BY 1, 2",
                tenant_id,
                start,
                end,
                chatbot_id,
            )
        return [
            CostBucket(
                chatbot_id=r["chatbot_id"],
                day=r["day"].replace(tzinfo=dt.UTC) if r["day"] is not None else None,
                input_tokens=int(r["i"]),
                output_tokens=int(r["o"]),
                cost_micros=int(r["c"]),
                message_count=int(r["n"]),
                price_table_versions=tuple(r["v"]),
            )
            for r in rows
        ]
