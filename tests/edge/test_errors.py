"""gRPC status → HTTP status and the Google-style JSON error body."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import any_pb2

from edge import errors
from services.runtime import errors as service_errors
from services.runtime import status


def rpc_error(code: grpc.StatusCode, details: str, rich: grpc.Status | None = None) -> grpc.aio.AioRpcError:
    """An AioRpcError as a channel raises it, with the rich status in its trailers when given."""
    trailers = grpc.aio.Metadata(*(rich.trailing_metadata if rich is not None else ()))
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), trailers, details)


@pytest.mark.parametrize(
    ("code", "http"),
    [
        (grpc.StatusCode.INVALID_ARGUMENT, 400),
        (grpc.StatusCode.FAILED_PRECONDITION, 400),  # google.rpc.Code's mapping, not 412
        (grpc.StatusCode.OUT_OF_RANGE, 400),
        (grpc.StatusCode.UNAUTHENTICATED, 401),
        (grpc.StatusCode.PERMISSION_DENIED, 403),
        (grpc.StatusCode.NOT_FOUND, 404),
        (grpc.StatusCode.ALREADY_EXISTS, 409),
        (grpc.StatusCode.ABORTED, 409),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, 429),
        (grpc.StatusCode.CANCELLED, 499),
        (grpc.StatusCode.INTERNAL, 500),
        (grpc.StatusCode.UNKNOWN, 500),
        (grpc.StatusCode.DATA_LOSS, 500),
        (grpc.StatusCode.UNIMPLEMENTED, 501),
        (grpc.StatusCode.UNAVAILABLE, 503),
        (grpc.StatusCode.DEADLINE_EXCEEDED, 504),
    ],
)
def test_every_code_has_googles_http_status(code: grpc.StatusCode, http: int) -> None:
    assert errors.HTTP_STATUS[code] == http


def test_rich_upstream_errors_keep_message_and_details() -> None:
    rich = status.to_status(service_errors.InvalidArgument.field("tenant.slug", "too short"), "avatarchat.tenant")
    http, body = errors.from_rpc_error(rpc_error(grpc.StatusCode.INVALID_ARGUMENT, "tenant.slug: too short", rich))
    assert http == 400
    error = body["error"]
    assert (error["code"], error["status"], error["message"]) == (400, "INVALID_ARGUMENT", "tenant.slug: too short")
    info, bad = error["details"]
    assert info == {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": "INVALID_FIELD",
        "domain": "avatarchat.tenant",
        "metadata": {"fields": "tenant.slug"},
    }
    assert bad["fieldViolations"] == [{"field": "tenant.slug", "description": "too short", "reason": "INVALID_FIELD"}]


def test_bare_transport_errors_hide_their_text() -> None:
    down = rpc_error(grpc.StatusCode.UNAVAILABLE, "failed to connect to all addresses; 10.0.0.7:3003: refused")
    http, body = errors.from_rpc_error(down)
    assert http == 503
    assert "10.0.0.7" not in body["error"]["message"]
    crash = rpc_error(grpc.StatusCode.UNKNOWN, "Exception calling application: KeyError('secret')")
    assert errors.from_rpc_error(crash)[1]["error"]["message"] == errors.INTERNAL_MESSAGE


def test_unknown_detail_types_are_kept_opaque() -> None:
    odd = any_pb2.Any(type_url="type.googleapis.com/acme.Unknown", value=b"\x01\x02")
    body = errors.error_body(grpc.StatusCode.ABORTED, "conflict", [odd])
    assert body["error"]["details"] == [{"@type": "type.googleapis.com/acme.Unknown", "value": "AQI="}]
