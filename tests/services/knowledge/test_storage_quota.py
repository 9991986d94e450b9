"""Document bytes count against the plan's storage limit: charged on upload and URL import, given back on delete."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest

from avatarchat.knowledge.v1 import knowledge_pb2
from avatarchat.tenant.v1 import tenant_pb2
from tests.errors_assert import expect_error
from tests.services.conftest import Account, Stack
from tests.services.knowledge.service_env import Knowledge, LoopbackSite

READY = knowledge_pb2.DOCUMENT_STATE_READY
FAILED = knowledge_pb2.DOCUMENT_STATE_FAILED
PAGE = b"""<!DOCTYPE html><html><head><title>Opening hours</title></head><body><main>
<h1>Opening hours</h1><p>The library in Haarlem opens at nine and closes at five on weekdays.</p>
</main></body></html>"""


@pytest.fixture
def site() -> Iterator[LoopbackSite]:
    """One page on loopback."""
    with LoopbackSite({"/hours.html": (200, "text/html", PAGE)}) as running:
        yield running


async def usage(stack: Stack, account: Account, kind: tenant_pb2.LimitKind.ValueType) -> tuple[int, int]:
    """(used, limit) of one of the tenant's plan limits."""
    limits = await stack.tenant.GetLimits(tenant_pb2.GetLimitsRequest(name=account.tenant), metadata=account.metadata)
    found = next(u for u in limits.limits if u.kind == kind)
    return found.used, found.limit


async def storage(stack: Stack, account: Account) -> int:
    """Storage bytes the tenant uses."""
    return (await usage(stack, account, tenant_pb2.LIMIT_KIND_STORAGE_BYTES))[0]


async def fill_storage(stack: Stack, account: Account, leave: int) -> None:
    """Takes the tenant's storage until only `leave` bytes remain."""
    used, limit = await usage(stack, account, tenant_pb2.LIMIT_KIND_STORAGE_BYTES)
    await stack.tenant.ReserveQuota(
        tenant_pb2.ReserveQuotaRequest(
            name=account.tenant, kind=tenant_pb2.LIMIT_KIND_STORAGE_BYTES, amount=limit - used - leave
        ),
        metadata=stack.operator.metadata(account.tenant_id),
    )


async def listed(knowledge: Knowledge, account: Account, kb: str) -> list[knowledge_pb2.Document]:
    """The knowledge base's documents."""
    response = await knowledge.stub.ListDocuments(
        knowledge_pb2.ListDocumentsRequest(parent=kb), metadata=account.metadata
    )
    return list(response.documents)


async def test_upload_charges_its_bytes_until_deleted(knowledge: Knowledge, account: Account, stack: Stack) -> None:
    kb = await knowledge.new_kb(account)
    before = await storage(stack, account)
    content = b"Library cards are free for everyone who lives in the municipality of Haarlem."
    doc = await knowledge.upload(account, kb.name, content, "text/plain")
    assert await storage(stack, account) == before + len(content)
    assert (await knowledge.wait(account, doc.name)).state == READY
    assert await storage(stack, account) == before + len(content)
    await knowledge.stub.DeleteDocument(knowledge_pb2.DeleteDocumentRequest(name=doc.name), metadata=account.metadata)
    assert await storage(stack, account) == before


async def test_upload_over_the_storage_limit_is_refused_and_stores_nothing(
    knowledge: Knowledge, account: Account, stack: Stack
) -> None:
    kb = await knowledge.new_kb(account)
    content = b"A document one byte larger than the storage the plan has left."
    await fill_storage(stack, account, len(content) - 1)
    documents_before = await usage(stack, account, tenant_pb2.LIMIT_KIND_KNOWLEDGE_DOCUMENTS)
    storage_before = await storage(stack, account)
    exc = await expect_error(
        knowledge.upload(account, kb.name, content, "text/plain"), grpc.StatusCode.RESOURCE_EXHAUSTED, "LIMIT_EXCEEDED"
    )
    assert "storage_bytes" in (exc.details() or "")
    assert await listed(knowledge, account, kb.name) == []
    # The document the refused upload took is given back, and no storage is held for it.
    assert await usage(stack, account, tenant_pb2.LIMIT_KIND_KNOWLEDGE_DOCUMENTS) == documents_before
    assert await storage(stack, account) == storage_before
    fits = content[:-1]
    assert (await knowledge.upload(account, kb.name, fits, "text/plain")).state != FAILED
    assert await storage(stack, account) == storage_before + len(fits)


async def test_duplicate_upload_gives_its_bytes_back(knowledge: Knowledge, account: Account, stack: Stack) -> None:
    kb = await knowledge.new_kb(account)
    content = b"Overdue books cost ten cents a day, never more than the price of the book."
    await knowledge.upload(account, kb.name, content, "text/plain")
    after_first = await storage(stack, account)
    await expect_error(knowledge.upload(account, kb.name, content, "text/plain"), grpc.StatusCode.ALREADY_EXISTS)
    assert await storage(stack, account) == after_first


async def test_url_import_charges_the_fetched_bytes_until_deleted(
    knowledge: Knowledge, account: Account, stack: Stack, site: LoopbackSite
) -> None:
    kb = await knowledge.new_kb(account)
    before = await storage(stack, account)
    doc = await knowledge.wait(account, (await knowledge.import_url(account, kb.name, site.url("/hours.html"))).name)
    assert doc.state == READY, doc.failure_reason
    assert doc.size_bytes == len(PAGE)
    assert await storage(stack, account) == before + len(PAGE)
    await knowledge.stub.DeleteDocument(knowledge_pb2.DeleteDocumentRequest(name=doc.name), metadata=account.metadata)
    assert await storage(stack, account) == before


async def test_url_import_over_the_storage_limit_fails_naming_the_limit(
    knowledge: Knowledge, account: Account, stack: Stack, site: LoopbackSite
) -> None:
    kb = await knowledge.new_kb(account)
    await fill_storage(stack, account, len(PAGE) - 1)
    before = await storage(stack, account)
    doc = await knowledge.wait(account, (await knowledge.import_url(account, kb.name, site.url("/hours.html"))).name)
    assert doc.state == FAILED
    assert "storage_bytes" in doc.failure_reason
    assert doc.chunk_count == 0
    assert not (await knowledge.search(account, kb.name, "when does the library open")).results
    assert await storage(stack, account) == before


async def test_deleting_a_knowledge_base_gives_back_all_its_bytes(
    knowledge: Knowledge, account: Account, stack: Stack
) -> None:
    kb = await knowledge.new_kb(account)
    before = await storage(stack, account)
    contents = [b"Study rooms can be booked a week ahead.", b"Printing costs five cents a page in black."]
    for content in contents:
        await knowledge.upload(account, kb.name, content, "text/plain")
    assert await storage(stack, account) == before + sum(len(c) for c in contents)
    await knowledge.stub.DeleteKnowledgeBase(
        knowledge_pb2.DeleteKnowledgeBaseRequest(name=kb.name, force=True), metadata=account.metadata
    )
    assert await storage(stack, account) == before
