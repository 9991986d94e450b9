"""One exception hierarchy for every service; the server interceptor maps it to gRPC status codes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import grpc


@dataclass(frozen=True)
class FieldViolation:
    """One wrong field of a request: its path (`chatbot.display_name`) and what is wrong with it."""

    field: str
    description: str


class ServiceError(Exception):
    """Base of every error a service reports to its caller; never carries SQL or stack traces."""

    code: grpc.StatusCode = grpc.StatusCode.INTERNAL
    reason: str = "INTERNAL"

    def __init__(self, message: str, *, metadata: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.metadata: dict[str, str] = dict(metadata or {})


class InvalidArgument(ServiceError):
    """The request is malformed; carries one violation per wrong field."""

    code = grpc.StatusCode.INVALID_ARGUMENT
    reason = "INVALID_FIELD"

    def __init__(self, violations: Sequence[FieldViolation], message: str | None = None) -> None:
        if not violations:
            raise ValueError("InvalidArgument needs at least one field violation")
        self.violations = list(violations)
        text = message or "; ".join(f"{v.field}: {v.description}" for v in self.violations)
        super().__init__(text, metadata={"fields": ",".join(v.field for v in self.violations)})

    @classmethod
    def field(cls, field: str, description: str) -> InvalidArgument:
        """An error about one field."""
        return cls([FieldViolation(field, description)])


class NotFound(ServiceError):
    """The resource does not exist, or belongs to another tenant (indistinguishable on purpose)."""

    code = grpc.StatusCode.NOT_FOUND
    reason = "RESOURCE_NOT_FOUND"

    def __init__(self, resource: str) -> None:
        super().__init__(f"{resource} not found", metadata={"resource": resource})


class AlreadyExists(ServiceError):
    """A unique key of the resource is already taken."""

    code = grpc.StatusCode.ALREADY_EXISTS
    reason = "RESOURCE_ALREADY_EXISTS"

    def __init__(self, resource: str, field: str) -> None:
        super().__init__(f"{resource} already exists", metadata={"resource": resource, "field": field})


class LimitExceeded(ServiceError):
    """A plan limit would be passed."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED
    reason = "LIMIT_EXCEEDED"

    def __init__(self, limit: str, used: int, maximum: int) -> None:
        super().__init__(
            f"plan limit reached for {limit}: {used} of {maximum} used",
            metadata={"limit": limit, "used": str(used), "max": str(maximum)},
        )


class RateLimited(ServiceError):
    """Too many attempts in a window; the caller should wait."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED
    reason = "RATE_LIMITED"

    def __init__(self, what: str, retry_after_seconds: int) -> None:
        super().__init__(
            f"too many {what}; retry in {retry_after_seconds}s",
            metadata={"retry_after_seconds": str(retry_after_seconds)},
        )


class Unauthenticated(ServiceError):
    """No, expired or invalid credentials."""

    code = grpc.StatusCode.UNAUTHENTICATED
    reason = "UNAUTHENTICATED"


class TokenReused(Unauthenticated):
    """A rotated refresh token came back; its whole family has been revoked."""

    reason = "TOKEN_REUSED"


class PermissionDenied(ServiceError):
    """Authenticated, but the role or API-key scope does not allow the call."""

    code = grpc.StatusCode.PERMISSION_DENIED
    reason = "PERMISSION_DENIED"


class FailedPrecondition(ServiceError):
    """The resource is not in a state that allows the call."""

    code = grpc.StatusCode.FAILED_PRECONDITION
    reason = "FAILED_PRECONDITION"


class Unavailable(ServiceError):
    """A dependency (database, broker, another service) cannot be reached right now."""

    code = grpc.StatusCode.UNAVAILABLE
    reason = "UNAVAILABLE"
