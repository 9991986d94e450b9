"""The vector ranking's SQL: filtered by tenant and knowledge base inside the ranked scan, never a sequential scan."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from avatarchat.knowledge.v1 import knowledge_pb2
from services.knowledge.search_store import VECTOR_SQL, SearchStore
from services.runtime.db import Database
from services.runtime.settings import RuntimeSettings
from tests.services.conftest import Account
from tests.services.knowledge.service_env import Knowledge

READY = knowledge_pb2.DOCUMENT_STATE_READY
VECTOR = knowledge_pb2.SEARCH_MODE_VECTOR
TIDES = b"High tide at Scheveningen comes twice a day; the harbour master posts the tide table each morning."
FERRIES = [
    b"The ferry to Texel leaves Den Helder every hour; the crossing takes twenty minutes.",
    b"Tide tables for the Wadden Sea islands are printed at the ferry terminal in Harlingen.",
    b"Low tide uncovers the mudflats, where guided walks to Ameland start at the dike.",
]


@pytest.fixture
async def db(settings: RuntimeSettings, knowledge: Knowledge) -> AsyncIterator[Database]:
    """The knowledge service's database as the service reaches it (its role, row-level security)."""
    database = Database("knowledge", {"default": settings.database_url}, max_size=1)
    yield database
    await database.close()


def ranked_scan(plan: dict[str, Any], under_limit: bool = False) -> dict[str, Any] | None:
    """The scan of the chunks table under the plan's Limit: the part that ranks by distance."""
    if under_limit and plan.get("Relation Name") == "chunks":
        return plan
    for child in plan.get("Plans", []):
        found = ranked_scan(child, under_limit or plan["Node Type"] == "Limit")
        if found is not None:
            return found
    return None


async def test_vector_search_keeps_to_the_knowledge_base_asked(knowledge: Knowledge, account: Account) -> None:
    wanted, other = await knowledge.new_kb(account), await knowledge.new_kb(account)
    docs = [await knowledge.upload(account, wanted.name, TIDES, "text/plain")]
    docs += [await knowledge.upload(account, other.name, text, "text/plain") for text in FERRIES]
    for doc in docs:
        assert (await knowledge.wait(account, doc.name)).state == READY
    # The other knowledge base holds more, and closer, matches; none of them may come back.
    results = (await knowledge.search(account, wanted.name, "tide table ferry", VECTOR, top_k=10)).results
    assert [r.source.document for r in results] == [docs[0].name]
    both = knowledge_pb2.SearchRequest(
        parent=account.tenant, knowledge_bases=[wanted.name, other.name], query="tide table ferry", mode=VECTOR
    )
    found = {r.source.document for r in (await knowledge.stub.Search(both, metadata=account.metadata)).results}
    assert found == {d.name for d in docs}


async def test_vector_query_filters_inside_an_index_scan(db: Database) -> None:
    tenant = uuid.uuid4()
    store = SearchStore(db, 400)
    async with db.tenant_tx(tenant) as conn:
        await store.prepare_vector_search(conn, 10)
        vector = "[" + ",".join(["0.05"] * 384) + "]"
        plan = json.loads(
            await conn.fetchval("EXPLAIN (FORMAT JSON) " + VECTOR_SQL, tenant, [uuid.uuid4()], vector, 10)
        )
    scan = ranked_scan(plan[0]["Plan"])
    # The HNSW index, or the (tenant, knowledge base) index for a filter that keeps few rows; never a Seq Scan.
    assert scan is not None, plan
    assert scan["Node Type"] == "Index Scan", scan
    conditions = " ".join(str(scan.get(key, "")) for key in ("Index Cond", "Filter"))
    assert "tenant_id" in conditions
    assert "knowledge_base_id" in conditions
