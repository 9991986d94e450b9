"""KnowledgeService: thin RPC methods over the knowledge store, quota, retriever and embedder."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime
from typing import Any

import grpc

from avatarchat.knowledge.v1 import knowledge_pb2, knowledge_pb2_grpc
from services.knowledge import convert, validate
from services.knowledge.embedding import Embedder
from services.knowledge.hybrid_search import Mode, Retriever
from services.knowledge.search_store import SearchStore
from services.knowledge.store import IngestEvent, KnowledgeBaseRow, KnowledgeStore
from services.knowledge.tokens import TokenCounter
from services.runtime import errors
from services.runtime.context import require_tenant_access
from services.runtime.names import parse, parse_tenant
from services.runtime.pagination import PageTokens, page_size
from services.runtime.quota import PlanQuota
from services.runtime.validation import Checks

Context = grpc.aio.ServicerContext[Any, Any]
MODES = {
    knowledge_pb2.SEARCH_MODE_UNSPECIFIED: Mode.HYBRID,
    knowledge_pb2.SEARCH_MODE_HYBRID: Mode.HYBRID,
    knowledge_pb2.SEARCH_MODE_VECTOR: Mode.VECTOR,
    knowledge_pb2.SEARCH_MODE_KEYWORD: Mode.KEYWORD,
}


class KnowledgeServicer(knowledge_pb2_grpc.KnowledgeServiceServicer):
    """Implements avatarchat.knowledge.v1.KnowledgeService."""

    def __init__(
        self,
        store: KnowledgeStore,
        *,
        search_store: SearchStore,
        retriever: Retriever,
        embedder: Embedder,
        counter: TokenCounter,
        quota: PlanQuota,
        storage_quota: PlanQuota,
        page_tokens: PageTokens,
        event: IngestEvent,
        chunk_window: int,
    ) -> None:
        self._store = store
        self._search = search_store
        self._retriever = retriever
        self._embedder = embedder
        self._counter = counter
        self._quota = quota
        self._storage = storage_quota
        self._pages = page_tokens
        self._event = event
        self._window = chunk_window

    async def _kb(self, name: str, field: str = "name") -> KnowledgeBaseRow:
        tenant_id, kb_id = validate.kb_ids(name, field)
        require_tenant_access(tenant_id, name)
        row = await self._store.get_kb(tenant_id, kb_id)
        if row is None:
            raise errors.NotFound(name)
        return row

    async def CreateKnowledgeBase(
        self, request: knowledge_pb2.CreateKnowledgeBaseRequest, context: Context
    ) -> knowledge_pb2.CreateKnowledgeBaseResponse:
        """Creates an empty knowledge base with effective chunking options."""
        tenant_id = parse_tenant(request.parent, "parent")
        require_tenant_access(tenant_id, request.parent)
        options = validate.kb_options(request.knowledge_base, self._embedder.model, self._window)
        row = await self._store.create_kb(tenant_id, options.__dict__)
        if row is None:
            raise errors.AlreadyExists(f"knowledge base {options.display_name!r}", "knowledge_base.display_name")
        return knowledge_pb2.CreateKnowledgeBaseResponse(knowledge_base=convert.kb_message(row))

    async def GetKnowledgeBase(
        self, request: knowledge_pb2.GetKnowledgeBaseRequest, context: Context
    ) -> knowledge_pb2.GetKnowledgeBaseResponse:
        """Returns one knowledge base."""
        return knowledge_pb2.GetKnowledgeBaseResponse(knowledge_base=convert.kb_message(await self._kb(request.name)))

    async def ListKnowledgeBases(
        self, request: knowledge_pb2.ListKnowledgeBasesRequest, context: Context
    ) -> knowledge_pb2.ListKnowledgeBasesResponse:
        """A page of the tenant's knowledge bases, oldest first."""
        tenant_id = parse_tenant(request.parent, "parent")
        require_tenant_access(tenant_id, request.parent)
        size = page_size(request.page_size)
        scope = f"{request.parent}/knowledgeBases"
        cursor = self._pages.decode(request.page_token, scope)
        after = (datetime.fromisoformat(cursor[0]), uuid.UUID(cursor[1])) if cursor else None
        rows = await self._store.page_kbs(tenant_id, size + 1, after)
        response = knowledge_pb2.ListKnowledgeBasesResponse(
            knowledge_bases=[convert.kb_message(r) for r in rows[:size]]
        )
        if len(rows) > size:
            last = rows[size - 1]
            response.next_page_token = self._pages.encode([last.create_time.isoformat(), str(last.id)], scope)
        return response

    async def DeleteKnowledgeBase(
        self, request: knowledge_pb2.DeleteKnowledgeBaseRequest, context: Context
    ) -> knowledge_pb2.DeleteKnowledgeBaseResponse:
        """Deletes a knowledge base (FAILED_PRECONDITION with documents unless forced) and gives their quota back."""
        row = await self._kb(request.name)
        deleted = await self._store.delete_kb(row.tenant_id, row.id, force=request.force)
        if deleted is None:
            raise errors.NotFound(request.name)
        if deleted.documents < 0:
            raise errors.FailedPrecondition(
                "the knowledge base still has documents; set force to delete them too",
                metadata={"resource": request.name},
            )
        await self._quota.release_or_log(row.tenant_id, deleted.documents)
        await self._storage.release_or_log(row.tenant_id, deleted.charged_bytes)
        return knowledge_pb2.DeleteKnowledgeBaseResponse()

    async def AddDocument(
        self, request: knowledge_pb2.AddDocumentRequest, context: Context
    ) -> knowledge_pb2.AddDocumentResponse:
        """Stores a queued document and its ingestion event together, after taking one document of the plan and,
        for an upload, its bytes of the plan's storage (a URL import's bytes are taken when they are fetched)."""
        kb = await self._kb(request.parent, "parent")
        new = validate.new_document(request.document)
        size = len(new.content or b"")
        await self._quota.reserve(kb.tenant_id)
        try:
            if size:
                await self._storage.reserve(kb.tenant_id, size)
        except BaseException:
            await self._quota.release_or_log(kb.tenant_id)
            raise
        try:
            row = await self._store.add_document(kb.tenant_id, kb.id, replace(new, charged_bytes=size), self._event)
        except BaseException:
            await self._release(kb.tenant_id, size)
            raise
        if row is None:
            await self._release(kb.tenant_id, size)
            raise errors.AlreadyExists("a document with the same content", "document.upload.content")
        return knowledge_pb2.AddDocumentResponse(document=convert.document_message(row))

    async def GetDocument(
        self, request: knowledge_pb2.GetDocumentRequest, context: Context
    ) -> knowledge_pb2.GetDocumentResponse:
        """Returns one document with its processing state."""
        tenant_id, kb_id, doc_id = validate.doc_ids(request.name)
        require_tenant_access(tenant_id, request.name)
        row = await self._store.get_document(tenant_id, kb_id, doc_id)
        if row is None:
            raise errors.NotFound(request.name)
        return knowledge_pb2.GetDocumentResponse(document=convert.document_message(row))

    async def ListDocuments(
        self, request: knowledge_pb2.ListDocumentsRequest, context: Context
    ) -> knowledge_pb2.ListDocumentsResponse:
        """A page of a knowledge base's documents, newest first."""
        kb = await self._kb(request.parent, "parent")
        size = page_size(request.page_size)
        state = convert.STATE_NAMES.get(request.state, "")
        scope = f"{request.parent}/documents?state={state}"
        cursor = self._pages.decode(request.page_token, scope)
        before = (datetime.fromisoformat(cursor[0]), uuid.UUID(cursor[1])) if cursor else None
        rows = await self._store.page_documents(kb.tenant_id, kb.id, state, size + 1, before)
        response = knowledge_pb2.ListDocumentsResponse(documents=[convert.document_message(r) for r in rows[:size]])
        if len(rows) > size:
            last = rows[size - 1]
            response.next_page_token = self._pages.encode([last.create_time.isoformat(), str(last.id)], scope)
        return response

    async def DeleteDocument(
        self, request: knowledge_pb2.DeleteDocumentRequest, context: Context
    ) -> knowledge_pb2.DeleteDocumentResponse:
        """Deletes a document with its chunks, moves the knowledge version on and gives its quota back."""
        tenant_id, kb_id, doc_id = validate.doc_ids(request.name)
        require_tenant_access(tenant_id, request.name)
        deleted = await self._store.delete_document(tenant_id, kb_id, doc_id)
        if deleted is None:
            raise errors.NotFound(request.name)
        await self._release(tenant_id, deleted.charged_bytes)
        return knowledge_pb2.DeleteDocumentResponse()

    async def _release(self, tenant_id: uuid.UUID, charged_bytes: int) -> None:
        """Gives back one document of the plan and the storage bytes it held."""
        await self._quota.release_or_log(tenant_id)
        await self._storage.release_or_log(tenant_id, charged_bytes)

    async def Search(self, request: knowledge_pb2.SearchRequest, context: Context) -> knowledge_pb2.SearchResponse:
        """Hybrid, vector or keyword search over one knowledge base or several of one tenant."""
        checks = Checks()
        query = validate.query(checks, request.query)
        top_k = validate.top_k(checks, request.top_k)
        if request.mode not in MODES:
            checks.fail("mode", "unknown search mode")
        checks.done()
        if request.parent.count("/") == 1:
            tenant_id = parse_tenant(request.parent, "parent")
            require_tenant_access(tenant_id, request.parent)
            if not 1 <= len(request.knowledge_bases) <= 20:
                raise errors.InvalidArgument.field("knowledge_bases", "name 1-20 knowledge bases of the tenant")
            wanted = [parse(n, validate.KB_PATTERN, "knowledge_bases") for n in request.knowledge_bases]
            if any(ids["tenant"] != tenant_id for ids in wanted):
                raise errors.InvalidArgument.field("knowledge_bases", "must all belong to the parent tenant")
            kbs = await self._store.kbs(tenant_id, list({ids["knowledge_base"] for ids in wanted}))
            if len(kbs) != len({ids["knowledge_base"] for ids in wanted}):
                raise errors.NotFound("knowledge base")
        else:
            kb = await self._kb(request.parent, "parent")
            tenant_id, kbs = kb.tenant_id, [kb]
        ranked = await self._retriever.search(tenant_id, [k.id for k in kbs], query, top_k, MODES[request.mode])
        return knowledge_pb2.SearchResponse(
            results=[convert.result_message(tenant_id, r) for r in ranked if r.score >= request.min_score],
            knowledge_versions={convert.kb_name(k.tenant_id, k.id): k.knowledge_version for k in kbs},
        )

    async def Embed(self, request: knowledge_pb2.EmbedRequest, context: Context) -> knowledge_pb2.EmbedResponse:
        """Embeds texts with the configured model (internal callers only)."""
        checks = Checks()
        if not 1 <= len(request.texts) <= 256:
            checks.fail("texts", "1-256 texts")
        for i, text in enumerate(request.texts):
            if not text or len(text) > 8000:
                checks.fail(f"texts[{i}]", "1-8000 characters")
        if request.model and request.model != self._embedder.model:
            checks.fail("model", f"only {self._embedder.model!r} is configured")
        checks.done()
        if request.knowledge_base:
            await self._kb(request.knowledge_base, "knowledge_base")
        vectors = await self._embedder.embed(list(request.texts))
        return knowledge_pb2.EmbedResponse(
            embeddings=[knowledge_pb2.Embedding(values=v) for v in vectors],
            model=self._embedder.model,
            dimensions=self._embedder.dimensions,
            token_count=sum(self._counter.count(list(request.texts))),
        )

    async def GetStats(
        self, request: knowledge_pb2.GetStatsRequest, context: Context
    ) -> knowledge_pb2.GetStatsResponse:
        """Totals of one knowledge base, or of all of the tenant's (`knowledgeBases/-`)."""
        if request.name.endswith("/knowledgeBases/-"):
            tenant_id = parse_tenant(request.name.removesuffix("/knowledgeBases/-"))
            require_tenant_access(tenant_id, request.name)
            return convert.stats_message(request.name, await self._search.stats(tenant_id, None))
        kb = await self._kb(request.name)
        return convert.stats_message(request.name, await self._search.stats(kb.tenant_id, kb.id))
