"""What the edge forwards to services as gRPC metadata: the caller's credential, request id and address."""

from __future__ import annotations

import re
from collections.abc import Mapping

import grpc

from edge.errors import EdgeError

#: Header values gRPC metadata can carry unchanged (printable ASCII).
_PRINTABLE = re.compile(r"^[\x20-\x7e]*$")


def authorization_of(headers: Mapping[str, str]) -> str | None:
    """`Authorization`, or `X-API-Key: ak_...` as `Bearer ak_...`; the services verify either."""
    value = headers.get("authorization")
    if value is None:
        key = headers.get("x-api-key")
        value = f"Bearer {key.strip()}" if key else None
    if value is not None and not _PRINTABLE.match(value):
        raise EdgeError(grpc.StatusCode.UNAUTHENTICATED, "malformed authorization header", reason="UNAUTHENTICATED")
    return value


def bearer_credential(authorization: str | None) -> str:
    """The token of `Bearer <token>`, or "" for any other form."""
    if not authorization:
        return ""
    scheme, _, credential = authorization.partition(" ")
    return credential.strip() if scheme.lower() == "bearer" else ""


def call_metadata(headers: Mapping[str, str], request_id: str, client: str) -> tuple[tuple[str, str], ...]:
    """Metadata of an upstream call: only these keys pass, so a client cannot claim a tenant or chatbot."""
    metadata = [("x-request-id", request_id), ("x-forwarded-for", client)]
    authorization = authorization_of(headers)
    if authorization:
        metadata.append(("authorization", authorization))
    return tuple(metadata)
