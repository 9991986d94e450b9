"""Request checks of the knowledge service: resource names, knowledge-base options, document sources, queries."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass

from avatarchat.knowledge.v1 import knowledge_pb2
from services.knowledge.store import NewDocument
from services.knowledge.url_fetch import UrlNotAllowedError, check_syntax
from services.runtime.names import parse
from services.runtime.validation import Checks

KB_PATTERN = "tenants/{tenant}/knowledgeBases/{knowledge_base}"
DOC_PATTERN = "tenants/{tenant}/knowledgeBases/{knowledge_base}/documents/{document}"
MAX_UPLOAD_BYTES = 10 * 1024 * 1024
UPLOAD_TYPES = frozenset(
    {
        "",
        "application/pdf",
        "text/plain",
        "text/markdown",
        "text/html",
        "text/csv",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    }
)


@dataclass(frozen=True)
class KbOptions:
    """Checked options of a new knowledge base."""

    display_name: str
    description: str
    embedding_model: str
    chunk_size: int
    chunk_overlap: int


def kb_ids(name: str, field: str = "name") -> tuple[uuid.UUID, uuid.UUID]:
    """(tenant, knowledge base) of a knowledge-base name."""
    ids = parse(name, KB_PATTERN, field)
    return ids["tenant"], ids["knowledge_base"]


def doc_ids(name: str, field: str = "name") -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    """(tenant, knowledge base, document) of a document name."""
    ids = parse(name, DOC_PATTERN, field)
    return ids["tenant"], ids["knowledge_base"], ids["document"]


def kb_options(kb: knowledge_pb2.KnowledgeBase, model: str, window: int) -> KbOptions:
    """The knowledge base's options; the chunk size is capped at the embedder's `window` (its effective value)."""
    checks = Checks()
    display_name = checks.text("knowledge_base.display_name", kb.display_name, max_len=100)
    description = checks.text("knowledge_base.description", kb.description, required=False, max_len=1000)
    if kb.embedding_model and kb.embedding_model != model:
        checks.fail("knowledge_base.embedding_model", f"only {model!r} is configured")
    size = kb.chunk_size or 512
    if not 64 <= size <= 2048:
        checks.fail("knowledge_base.chunk_size", "must be 0 (512) or from 64 to 2048")
    if kb.chunk_overlap < 0 or kb.chunk_overlap * 2 >= size:
        checks.fail("knowledge_base.chunk_overlap", "must be from 0 to less than half of chunk_size")
    checks.done()
    effective = min(size, window)
    overlap = min(kb.chunk_overlap, (effective - 1) // 2)
    return KbOptions(display_name, description, model, effective, overlap)


def new_document(doc: knowledge_pb2.Document) -> NewDocument:
    """What AddDocument stores for an upload or a URL import."""
    checks = Checks()
    title = checks.text("document.title", doc.title, required=False, max_len=300)
    source = doc.WhichOneof("source")
    if source is None:
        checks.fail("document.source", "an upload or a url_import is required")
        checks.done()
    if source == "upload":
        upload = doc.upload
        if not upload.content:
            checks.fail("document.upload.content", "required")
        elif len(upload.content) > MAX_UPLOAD_BYTES:
            checks.fail("document.upload.content", f"at most {MAX_UPLOAD_BYTES} bytes")
        mime = upload.mime_type.split(";", 1)[0].strip().lower()
        if mime not in UPLOAD_TYPES:
            checks.fail("document.upload.mime_type", "not a supported media type")
        filename = checks.text("document.upload.filename", upload.filename, required=False, max_len=255)
        checks.done()
        return NewDocument(
            title=title,
            source_kind="upload",
            filename=filename,
            declared_mime=upload.mime_type,
            content=upload.content,
            content_sha256=hashlib.sha256(upload.content).hexdigest(),
        )
    url = doc.url_import
    try:
        check_syntax(url.url)
    except UrlNotAllowedError as exc:
        checks.fail("document.url_import.url", str(exc))
    if len(url.url) > 2048:
        checks.fail("document.url_import.url", "at most 2048 characters")
    if url.max_pages < 0 or url.max_pages > 500:
        checks.fail("document.url_import.max_pages", "must be from 0 (50) to 500")
    checks.done()
    sitemap = url.mode == knowledge_pb2.URL_IMPORT_MODE_SITEMAP
    return NewDocument(
        title=title,
        source_kind="url",
        url=url.url,
        url_mode="sitemap" if sitemap else "single_page",
        max_pages=(url.max_pages or 50) if sitemap else 1,
    )


def query(checks: Checks, value: str) -> str:
    """A search query of 1-2000 characters."""
    return checks.text("query", value, max_len=2000)


def top_k(checks: Checks, value: int) -> int:
    """0 means 5; 1-50."""
    if value < 0 or value > 50:
        checks.fail("top_k", "must be from 0 (5) to 50")
    return value or 5
