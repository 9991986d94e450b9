"""Conversions between the knowledge stores' rows and the wire messages."""

from __future__ import annotations

from datetime import datetime

from google.protobuf import timestamp_pb2

from avatarchat.knowledge.v1 import knowledge_pb2
from services.knowledge.hybrid_search import Ranked
from services.knowledge.search_store import Stats
from services.knowledge.store import DocumentRow, KnowledgeBaseRow

STATES = {
    "queued": knowledge_pb2.DOCUMENT_STATE_QUEUED,
    "processing": knowledge_pb2.DOCUMENT_STATE_PROCESSING,
    "ready": knowledge_pb2.DOCUMENT_STATE_READY,
    "failed": knowledge_pb2.DOCUMENT_STATE_FAILED,
}
STATE_NAMES = {v: k for k, v in STATES.items()}


def timestamp(value: datetime) -> timestamp_pb2.Timestamp:
    """A protobuf Timestamp from a datetime."""
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(value)
    return ts


def kb_name(tenant_id: object, kb_id: object) -> str:
    """`tenants/{tenant}/knowledgeBases/{knowledge_base}`."""
    return f"tenants/{tenant_id}/knowledgeBases/{kb_id}"


def document_name(tenant_id: object, kb_id: object, doc_id: object) -> str:
    """`tenants/{tenant}/knowledgeBases/{knowledge_base}/documents/{document}`."""
    return f"{kb_name(tenant_id, kb_id)}/documents/{doc_id}"


def kb_message(row: KnowledgeBaseRow) -> knowledge_pb2.KnowledgeBase:
    """The wire form of a knowledge base."""
    return knowledge_pb2.KnowledgeBase(
        name=kb_name(row.tenant_id, row.id),
        display_name=row.display_name,
        description=row.description,
        embedding_model=row.embedding_model,
        chunk_size=row.chunk_size,
        chunk_overlap=row.chunk_overlap,
        knowledge_version=row.knowledge_version,
        document_count=row.document_count,
        create_time=timestamp(row.create_time),
        update_time=timestamp(row.update_time),
    )


def document_message(row: DocumentRow) -> knowledge_pb2.Document:
    """The wire form of a document; uploaded bytes never leave the service."""
    message = knowledge_pb2.Document(
        name=document_name(row.tenant_id, row.knowledge_base_id, row.id),
        title=row.title,
        mime_type=row.mime_type or row.declared_mime,
        state=STATES[row.state],
        failure_reason=row.failure_reason if row.state == "failed" else "",
        progress_percent=row.progress_percent,
        chunk_count=row.chunk_count,
        token_count=row.token_count,
        size_bytes=row.size_bytes,
        content_sha256=row.content_sha256,
        attempt_count=row.attempt_count,
        page_count=row.page_count,
        create_time=timestamp(row.create_time),
        update_time=timestamp(row.update_time),
    )
    if row.source_kind == "upload":
        message.upload.CopyFrom(knowledge_pb2.DocumentUpload(mime_type=row.declared_mime, filename=row.filename))
    else:
        mode = (
            knowledge_pb2.URL_IMPORT_MODE_SITEMAP
            if row.url_mode == "sitemap"
            else knowledge_pb2.URL_IMPORT_MODE_SINGLE_PAGE
        )
        message.url_import.CopyFrom(knowledge_pb2.UrlImport(url=row.url, mode=mode, max_pages=row.max_pages))
    return message


def result_message(tenant_id: object, ranked: Ranked) -> knowledge_pb2.SearchResult:
    """The wire form of a search result with its citation source."""
    hit = ranked.hit
    return knowledge_pb2.SearchResult(
        chunk_id=str(hit.id),
        text=hit.text,
        score=ranked.score,
        vector_rank=ranked.vector_rank,
        keyword_rank=ranked.keyword_rank,
        source=knowledge_pb2.Source(
            document=document_name(tenant_id, hit.knowledge_base_id, hit.document_id),
            title=hit.title,
            title_path=hit.title_path,
            page_number=hit.page_number,
            char_start=hit.char_start,
            char_end=hit.char_end,
            url=hit.url,
        ),
    )


def stats_message(name: str, stats: Stats) -> knowledge_pb2.GetStatsResponse:
    """The wire form of knowledge-base totals."""
    counts = knowledge_pb2.DocumentCounts(
        queued=stats.by_state.get("queued", 0),
        processing=stats.by_state.get("processing", 0),
        ready=stats.by_state.get("ready", 0),
        failed=stats.by_state.get("failed", 0),
        total=sum(stats.by_state.values()),
    )
    response = knowledge_pb2.GetStatsResponse(
        name=name,
        document_counts=counts,
        chunk_count=stats.chunk_count,
        token_count=stats.token_count,
        storage_bytes=stats.storage_bytes,
        knowledge_version=stats.knowledge_version,
    )
    if stats.last_update_time is not None:
        response.last_update_time.CopyFrom(timestamp(stats.last_update_time))
    return response
