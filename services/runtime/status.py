"""Converts ServiceError to a `google.rpc.Status` with ErrorInfo/BadRequest details, and back."""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from services.runtime import errors

INTERNAL_MESSAGE = "Internal server error"

_BY_REASON: dict[str, type[errors.ServiceError]] = {
    cls.reason: cls
    for cls in (
        errors.NotFound,
        errors.AlreadyExists,
        errors.LimitExceeded,
        errors.RateLimited,
        errors.Unauthenticated,
        errors.TokenReused,
        errors.PermissionDenied,
        errors.FailedPrecondition,
        errors.Unavailable,
    )
}


def to_status(err: errors.ServiceError, domain: str) -> grpc.Status:
    """The rich status a servicer aborts with for `err`."""
    details = [
        error_details_pb2.ErrorInfo(reason=err.reason, domain=domain, metadata=err.metadata),
    ]
    if isinstance(err, errors.InvalidArgument):
        details.append(
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(
                        field=v.field, description=v.description, reason="INVALID_FIELD"
                    )
                    for v in err.violations
                ]
            )
        )
    return rpc_status.to_status(_status_proto(err.code, err.message, details))


def internal_status(domain: str) -> grpc.Status:
    """The status for anything unexpected: a fixed message, never the exception text."""
    info = error_details_pb2.ErrorInfo(reason="INTERNAL", domain=domain)
    return rpc_status.to_status(_status_proto(grpc.StatusCode.INTERNAL, INTERNAL_MESSAGE, [info]))


def _status_proto(code: grpc.StatusCode, message: str, details: list[object]) -> status_pb2.Status:
    packed = []
    for detail in details:
        holder = any_pb2.Any()
        holder.Pack(detail)  # type: ignore[arg-type]
        packed.append(holder)
    numeric: int = code.value[0]
    return status_pb2.Status(code=numeric, message=message, details=packed)


def error_info(status: status_pb2.Status) -> error_details_pb2.ErrorInfo | None:
    """The ErrorInfo detail of a status, if it has one."""
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info
    return None


def bad_request(status: status_pb2.Status) -> error_details_pb2.BadRequest | None:
    """The BadRequest detail of a status, if it has one."""
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            request = error_details_pb2.BadRequest()
            detail.Unpack(request)
            return request
    return None


def from_rpc_error(exc: grpc.aio.AioRpcError) -> errors.ServiceError:
    """Rebuilds a ServiceError from a downstream service's rich status, so it propagates unchanged."""
    status = rpc_status.from_call(exc)  # type: ignore[arg-type]
    info = error_info(status) if status is not None else None
    message = exc.details() or ""
    if status is not None and info is not None:
        if info.reason == "INVALID_FIELD":
            request = bad_request(status)
            violations = [
                errors.FieldViolation(v.field, v.description) for v in (request.field_violations if request else [])
            ]
            if violations:
                return errors.InvalidArgument(violations, message)
        cls = _BY_REASON.get(info.reason)
        if cls is not None:
            err = errors.ServiceError.__new__(cls)
            errors.ServiceError.__init__(err, message, metadata=dict(info.metadata))
            return err
    if exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        return errors.Unavailable(f"upstream unavailable: {exc.code().name}")
    return errors.ServiceError(INTERNAL_MESSAGE)


__all__ = ["INTERNAL_MESSAGE", "bad_request", "error_info", "from_rpc_error", "internal_status", "to_status"]
