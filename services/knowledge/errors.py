"""Errors of document extraction and embedding; they extend the runtime hierarchy so the interceptor maps them."""

from __future__ import annotations

from collections.abc import Mapping

import grpc

from services.runtime.errors import ServiceError


class KnowledgeError(ServiceError):
    """Base of the knowledge service's domain errors."""

    #: Whether trying the same work again later may succeed (a worker retries these, dead-letters the rest).
    retryable: bool = False


class ExtractionError(KnowledgeError):
    """A document's content could not be turned into text; trying again will not help."""

    code = grpc.StatusCode.INVALID_ARGUMENT
    reason = "DOCUMENT_UNREADABLE"


class UnsupportedFormatError(ExtractionError):
    """The content is of a type the extractor does not read."""

    reason = "DOCUMENT_TYPE_UNSUPPORTED"


class DocumentTooLargeError(ExtractionError):
    """The content, or the text extracted from it, is over a size cap."""

    reason = "DOCUMENT_TOO_LARGE"

    def __init__(self, message: str, *, limit: int, metadata: Mapping[str, str] | None = None) -> None:
        super().__init__(message, metadata={"limit": str(limit), **(metadata or {})})
        self.limit = limit


class DecompressionLimitError(DocumentTooLargeError):
    """A compressed part (a DOCX zip member, a PDF stream) inflates past the cap: likely a decompression bomb."""

    reason = "DOCUMENT_DECOMPRESSION_LIMIT"


class CorruptDocumentError(ExtractionError):
    """The content claims a format but cannot be parsed as it (truncated, damaged, encrypted)."""

    reason = "DOCUMENT_CORRUPT"


class EmptyDocumentError(ExtractionError):
    """The content parsed but holds no text (e.g. a scanned PDF without a text layer)."""

    reason = "DOCUMENT_EMPTY"


class EmbeddingError(KnowledgeError):
    """Texts could not be turned into vectors."""

    code = grpc.StatusCode.INTERNAL
    reason = "EMBEDDING_FAILED"


class EmbeddingUnavailableError(EmbeddingError):
    """The embedding endpoint cannot be reached, timed out, rate-limited or failed on its side; retry later."""

    code = grpc.StatusCode.UNAVAILABLE
    reason = "EMBEDDING_UNAVAILABLE"
    retryable = True


class EmbeddingConfigError(EmbeddingError):
    """An embedder was asked for with an unknown kind or wrong options."""

    code = grpc.StatusCode.FAILED_PRECONDITION
    reason = "EMBEDDING_MISCONFIGURED"
