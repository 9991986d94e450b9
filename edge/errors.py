"""gRPC status → HTTP status and the Google-style JSON error body `{"error": {code, status, message, details}}`.

The mapping is google.rpc.Code's own (google/rpc/code.proto), so FAILED_PRECONDITION is 400, not 412:
AIP-193 keeps 412 for HTTP preconditions (If-Match/ETag), which our API does not use.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import grpc
from google.protobuf import any_pb2, json_format
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from services.runtime.errors import FieldViolation

log = logging.getLogger(__name__)

DOMAIN = "avatarchat.edge"

HTTP_STATUS: dict[grpc.StatusCode, int] = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
}

#: Messages shown instead of a bare transport error's text, which can name internal hosts and ports.
_FIXED_MESSAGES: dict[grpc.StatusCode, str] = {
    grpc.StatusCode.UNAVAILABLE: "The service is unavailable; try again shortly.",
    grpc.StatusCode.DEADLINE_EXCEEDED: "The service did not answer in time.",
    grpc.StatusCode.CANCELLED: "The call was cancelled.",
}
INTERNAL_MESSAGE = "Internal server error"

_CODE_BY_NUMBER = {c.value[0]: c for c in grpc.StatusCode}


class EdgeError(Exception):
    """An error the edge itself answers with (no route, bad JSON, rate limited, ...)."""

    def __init__(
        self,
        code: grpc.StatusCode,
        message: str,
        *,
        reason: str,
        metadata: Mapping[str, str] | None = None,
        violations: Sequence[FieldViolation] = (),
        http_status: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason
        self.metadata = dict(metadata or {})
        self.violations = list(violations)
        self.http_status = http_status or HTTP_STATUS[code]
        self.headers = dict(headers or {})

    @classmethod
    def invalid(cls, violations: Sequence[FieldViolation], message: str | None = None) -> EdgeError:
        """A 400 naming each wrong field, as the services' own INVALID_FIELD errors do."""
        text = message or "; ".join(f"{v.field}: {v.description}" for v in violations)
        fields = ",".join(v.field for v in violations)
        return cls(
            grpc.StatusCode.INVALID_ARGUMENT,
            text,
            reason="INVALID_FIELD",
            metadata={"fields": fields},
            violations=violations,
        )

    def body(self) -> dict[str, Any]:
        """The JSON error body."""
        details: list[Message] = [
            error_details_pb2.ErrorInfo(reason=self.reason, domain=DOMAIN, metadata=self.metadata)
        ]
        if self.violations:
            details.append(
                error_details_pb2.BadRequest(
                    field_violations=[
                        error_details_pb2.BadRequest.FieldViolation(
                            field=v.field, description=v.description, reason="INVALID_FIELD"
                        )
                        for v in self.violations
                    ]
                )
            )
        packed = []
        for detail in details:
            holder = any_pb2.Any()
            holder.Pack(detail)
            packed.append(holder)
        return error_body(self.code, self.message, packed, self.http_status)


def error_body(
    code: grpc.StatusCode, message: str, details: Sequence[any_pb2.Any], http_status: int | None = None
) -> dict[str, Any]:
    """`{"error": {"code": 404, "status": "NOT_FOUND", "message": ..., "details": [{"@type": ...}]}}`."""
    return {
        "error": {
            "code": http_status or HTTP_STATUS.get(code, 500),
            "status": code.name,
            "message": message,
            "details": [_detail(d) for d in details],
        }
    }


def _detail(detail: any_pb2.Any) -> dict[str, Any]:
    try:
        return json_format.MessageToDict(detail)
    except (TypeError, KeyError, json_format.Error):
        # A detail type this process does not know: keep it, opaque, rather than drop it.
        return {"@type": detail.type_url, "value": base64.b64encode(detail.value).decode()}


def from_rpc_error(exc: grpc.aio.AioRpcError) -> tuple[int, dict[str, Any]]:
    """HTTP status and JSON body of an upstream error, with its google.rpc details."""
    code = exc.code()
    rich = _rich_status(exc)
    if rich is not None:
        return HTTP_STATUS.get(code, 500), error_body(code, rich.message, list(rich.details))
    # Our services always attach details; a bare status came from the transport or a crash.
    log.warning("upstream error without details", extra={"code": code.name, "details": exc.details()})
    message = _FIXED_MESSAGES.get(code) or exc.details() or ""
    if HTTP_STATUS.get(code, 500) == 500:
        message = INTERNAL_MESSAGE
    return HTTP_STATUS.get(code, 500), error_body(code, message, [])


def _rich_status(exc: grpc.aio.AioRpcError) -> status_pb2.Status | None:
    try:
        status: status_pb2.Status | None = rpc_status.from_call(exc)  # type: ignore[arg-type]
    except ValueError:
        return None
    if status is None or status.code not in _CODE_BY_NUMBER:
        return None
    return status
