"""KnowledgeService resources: knowledge bases, documents, validation, quota, stats and Embed."""

from __future__ import annotations

import grpc

from avatarchat.knowledge.v1 import knowledge_pb2
from avatarchat.tenant.v1 import tenant_pb2
from tests.errors_assert import expect_error
from tests.services.conftest import Account, Stack
from tests.services.knowledge.service_env import Knowledge

READY = knowledge_pb2.DOCUMENT_STATE_READY


async def test_knowledge_base_lifecycle(knowledge: Knowledge, account: Account) -> None:
    created = await knowledge.stub.CreateKnowledgeBase(
        knowledge_pb2.CreateKnowledgeBaseRequest(
            parent=account.tenant,
            knowledge_base=knowledge_pb2.KnowledgeBase(display_name="Support", description="FAQ", chunk_overlap=40),
        ),
        metadata=account.metadata,
    )
    kb = created.knowledge_base
    assert kb.name.startswith(f"{account.tenant}/knowledgeBases/")
    # MiniLM reads 256 word pieces, so the default 512 is capped to what the model sees.
    assert (kb.embedding_model, kb.chunk_size, kb.chunk_overlap) == ("offline-minilm-l6", 254, 40)
    assert kb.knowledge_version == 0
    got = await knowledge.stub.GetKnowledgeBase(
        knowledge_pb2.GetKnowledgeBaseRequest(name=kb.name), metadata=account.metadata
    )
    assert got.knowledge_base == kb
    await expect_error(
        knowledge.stub.CreateKnowledgeBase(
            knowledge_pb2.CreateKnowledgeBaseRequest(
                parent=account.tenant, knowledge_base=knowledge_pb2.KnowledgeBase(display_name="support")
            ),
            metadata=account.metadata,
        ),
        grpc.StatusCode.ALREADY_EXISTS,
        "RESOURCE_ALREADY_EXISTS",
    )
    for _ in range(2):
        await knowledge.new_kb(account)
    first = await knowledge.stub.ListKnowledgeBases(
        knowledge_pb2.ListKnowledgeBasesRequest(parent=account.tenant, page_size=2), metadata=account.metadata
    )
    rest = await knowledge.stub.ListKnowledgeBases(
        knowledge_pb2.ListKnowledgeBasesRequest(parent=account.tenant, page_size=2, page_token=first.next_page_token),
        metadata=account.metadata,
    )
    assert next(k.name for k in first.knowledge_bases) == kb.name
    assert len(first.knowledge_bases) + len(rest.knowledge_bases) == 3
    assert not rest.next_page_token
    await knowledge.stub.DeleteKnowledgeBase(
        knowledge_pb2.DeleteKnowledgeBaseRequest(name=kb.name), metadata=account.metadata
    )
    await expect_error(
        knowledge.stub.GetKnowledgeBase(knowledge_pb2.GetKnowledgeBaseRequest(name=kb.name), metadata=account.metadata),
        grpc.StatusCode.NOT_FOUND,
        "RESOURCE_NOT_FOUND",
    )


async def test_bad_input_names_every_field(knowledge: Knowledge, account: Account) -> None:
    await expect_error(
        knowledge.stub.CreateKnowledgeBase(
            knowledge_pb2.CreateKnowledgeBaseRequest(
                parent=account.tenant,
                knowledge_base=knowledge_pb2.KnowledgeBase(chunk_size=10, chunk_overlap=-1, embedding_model="gpt"),
            ),
            metadata=account.metadata,
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_FIELD",
        {
            "knowledge_base.display_name",
            "knowledge_base.chunk_size",
            "knowledge_base.chunk_overlap",
            "knowledge_base.embedding_model",
        },
    )
    kb = await knowledge.new_kb(account)
    await expect_error(
        knowledge.stub.AddDocument(
            knowledge_pb2.AddDocumentRequest(parent=kb.name, document=knowledge_pb2.Document()),
            metadata=account.metadata,
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_FIELD",
        {"document.source"},
    )
    await expect_error(
        knowledge.import_url(account, kb.name, "file:///etc/passwd"),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_FIELD",
        {"document.url_import.url"},
    )
    await expect_error(
        knowledge.search(account, kb.name, ""), grpc.StatusCode.INVALID_ARGUMENT, "INVALID_FIELD", {"query"}
    )


async def test_documents_dedupe_delete_and_stats(knowledge: Knowledge, account: Account) -> None:
    kb = await knowledge.new_kb(account)
    text = b"Refunds are paid within 14 days of a written request to the billing team."
    doc = await knowledge.upload(account, kb.name, text, "text/plain", "refunds.txt")
    assert doc.state == knowledge_pb2.DOCUMENT_STATE_QUEUED
    assert doc.upload.filename == "refunds.txt"
    assert not doc.upload.content
    await expect_error(
        knowledge.upload(account, kb.name, text, "text/plain", "again.txt"),
        grpc.StatusCode.ALREADY_EXISTS,
        "RESOURCE_ALREADY_EXISTS",
    )
    ready = await knowledge.wait(account, doc.name)
    assert ready.state == READY, ready.failure_reason
    assert (ready.progress_percent, ready.chunk_count, ready.attempt_count, ready.title) == (100, 1, 1, "refunds")
    assert ready.token_count > 10
    assert ready.content_sha256
    assert ready.size_bytes == len(text)
    stats = await knowledge.stub.GetStats(knowledge_pb2.GetStatsRequest(name=kb.name), metadata=account.metadata)
    assert (stats.document_counts.ready, stats.document_counts.total, stats.chunk_count) == (1, 1, 1)
    assert stats.token_count == ready.token_count
    assert stats.storage_bytes > len(text)
    assert stats.knowledge_version == 1
    assert stats.HasField("last_update_time")
    totals = await knowledge.stub.GetStats(
        knowledge_pb2.GetStatsRequest(name=f"{account.tenant}/knowledgeBases/-"), metadata=account.metadata
    )
    assert totals.chunk_count == 1
    assert totals.knowledge_version == 0
    listed = await knowledge.stub.ListDocuments(
        knowledge_pb2.ListDocumentsRequest(parent=kb.name, state=READY), metadata=account.metadata
    )
    assert [d.name for d in listed.documents] == [doc.name]
    await expect_error(
        knowledge.stub.DeleteKnowledgeBase(
            knowledge_pb2.DeleteKnowledgeBaseRequest(name=kb.name), metadata=account.metadata
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
        "FAILED_PRECONDITION",
    )
    await knowledge.stub.DeleteDocument(knowledge_pb2.DeleteDocumentRequest(name=doc.name), metadata=account.metadata)
    after = await knowledge.stub.GetStats(knowledge_pb2.GetStatsRequest(name=kb.name), metadata=account.metadata)
    assert (after.chunk_count, after.document_counts.total, after.knowledge_version) == (0, 0, 2)
    assert not (await knowledge.search(account, kb.name, "refunds billing")).results
    await expect_error(
        knowledge.stub.DeleteDocument(knowledge_pb2.DeleteDocumentRequest(name=doc.name), metadata=account.metadata),
        grpc.StatusCode.NOT_FOUND,
        "RESOURCE_NOT_FOUND",
    )


async def test_document_limit_comes_from_the_plan(knowledge: Knowledge, account: Account, stack: Stack) -> None:
    limits = await stack.tenant.GetLimits(tenant_pb2.GetLimitsRequest(name=account.tenant), metadata=account.metadata)
    usage = next(u for u in limits.limits if u.kind == tenant_pb2.LIMIT_KIND_KNOWLEDGE_DOCUMENTS)
    assert usage.limit > 1
    limit = usage.limit - usage.used
    kb = await knowledge.new_kb(account)
    await stack.tenant.ReserveQuota(
        tenant_pb2.ReserveQuotaRequest(
            name=account.tenant, kind=tenant_pb2.LIMIT_KIND_KNOWLEDGE_DOCUMENTS, amount=limit - 1
        ),
        metadata=stack.operator.metadata(account.tenant_id),
    )
    last = await knowledge.upload(account, kb.name, b"the last document the plan allows", "text/plain")
    exc = await expect_error(
        knowledge.upload(account, kb.name, b"one too many", "text/plain"),
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "LIMIT_EXCEEDED",
    )
    assert "knowledge" in (exc.details() or "")
    await knowledge.stub.DeleteDocument(knowledge_pb2.DeleteDocumentRequest(name=last.name), metadata=account.metadata)
    await knowledge.upload(account, kb.name, b"fits again after a delete released one", "text/plain")


async def test_embed_is_internal(knowledge: Knowledge, account: Account, stack: Stack) -> None:
    request = knowledge_pb2.EmbedRequest(texts=["hello world", "pricing"])
    await expect_error(knowledge.stub.Embed(request, metadata=account.metadata), grpc.StatusCode.PERMISSION_DENIED)
    response = await knowledge.stub.Embed(request, metadata=stack.operator.metadata(account.tenant_id))
    assert (response.model, response.dimensions, len(response.embeddings)) == ("offline-minilm-l6", 384, 2)
    assert len(response.embeddings[0].values) == 384
    assert response.token_count >= 3
