"""Reads each RPC's `(avatarchat.policy.v1.policy)` option and decides whether a principal may call it."""

from __future__ import annotations

from collections.abc import Iterable

from google.protobuf import descriptor as _descriptor

from avatarchat.policy.v1 import policy_pb2
from services.runtime import errors
from services.runtime.context import Principal


def method_policies(services: Iterable[_descriptor.ServiceDescriptor]) -> dict[str, policy_pb2.MethodPolicy]:
    """Policies by full gRPC method path (`/pkg.Service/Method`); methods without one are absent."""
    found: dict[str, policy_pb2.MethodPolicy] = {}
    for service in services:
        for method in service.methods:
            options = method.GetOptions()
            if options.HasExtension(policy_pb2.policy):
                found[f"/{service.full_name}/{method.name}"] = options.Extensions[policy_pb2.policy]
    return found


def authorize(policy: policy_pb2.MethodPolicy | None, principal: Principal) -> None:
    """Raises Unauthenticated or PermissionDenied unless the policy lets `principal` call."""
    if policy is None:
        # An RPC without a policy is a contract bug; refusing it keeps the default closed.
        raise errors.PermissionDenied("method has no access policy")
    if policy.public:
        return
    if principal.kind == "anonymous":
        raise errors.Unauthenticated("credentials required")
    if principal.kind == "service":
        return
    if policy.internal:
        raise errors.PermissionDenied("only internal services may call this method")
    if principal.kind == "visitor":
        if not policy.visitor:
            raise errors.PermissionDenied("visitor tokens may not call this method")
        return
    if principal.kind == "api_key":
        scope = policy.api_key_scope
        if not scope:
            raise errors.PermissionDenied("API keys may not call this method")
        if scope not in principal.scopes:
            raise errors.PermissionDenied(f"API key lacks scope {scope}")
        return
    if policy.min_role == policy_pb2.ROLE_UNSPECIFIED or not principal.has_role(policy.min_role):
        raise errors.PermissionDenied(f"requires role {policy_pb2.Role.Name(policy.min_role)}")
