"""Per-request state: who is calling, for which tenant, under which request id."""

from __future__ import annotations

import uuid
from contextvars import ContextVar
from dataclasses import dataclass, field

from avatarchat.policy.v1 import policy_pb2
from services.runtime import errors

Role = policy_pb2.Role

#: Roles that rank inside a tenant; platform admins and services pass every role check.
ROLE_RANK: dict[int, int] = {
    policy_pb2.ROLE_MEMBER: 1,
    policy_pb2.ROLE_ADMIN: 2,
    policy_pb2.ROLE_OWNER: 3,
}
SUPER_ROLES = frozenset({policy_pb2.ROLE_PLATFORM_ADMIN, policy_pb2.ROLE_SERVICE})


@dataclass(frozen=True)
class Principal:
    """Who a credential stands for."""

    kind: str
    """`user`, `api_key`, `visitor`, `service` or `anonymous`."""
    subject: str
    """The user, API key, visitor or service id."""
    tenant_id: uuid.UUID | None
    """The tenant the principal acts in; None for anonymous callers and platform-wide services."""
    role: int = policy_pb2.ROLE_UNSPECIFIED
    """A `avatarchat.policy.v1.Role` value."""
    scopes: frozenset[str] = field(default_factory=frozenset)
    """API-key scopes."""
    chatbot_id: uuid.UUID | None = None
    """The chatbot a visitor token is bound to."""
    session_id: str = ""
    """The session (refresh-token family) of a user's access token."""
    credential: str = ""
    """The raw bearer credential, forwarded when this service calls another on the caller's behalf."""

    @property
    def is_super(self) -> bool:
        """Platform admins and internal services, who may act in any tenant."""
        return self.role in SUPER_ROLES

    def has_role(self, minimum: int) -> bool:
        """Whether the principal's role is at least `minimum`."""
        if self.is_super:
            return True
        return ROLE_RANK.get(self.role, 0) >= ROLE_RANK.get(minimum, 99)


ANONYMOUS = Principal(kind="anonymous", subject="", tenant_id=None)

principal_var: ContextVar[Principal] = ContextVar("principal", default=ANONYMOUS)
request_id_var: ContextVar[str] = ContextVar("request_id", default="")


def current_principal() -> Principal:
    """The caller of the request being served."""
    return principal_var.get()


def require_tenant_access(tenant_id: uuid.UUID, resource: str) -> Principal:
    """The caller, if it may act in `tenant_id`; otherwise NOT_FOUND so existence never leaks."""
    principal = principal_var.get()
    if principal.role == policy_pb2.ROLE_PLATFORM_ADMIN:
        return principal
    if principal.role == policy_pb2.ROLE_SERVICE and principal.tenant_id is None:
        return principal
    if principal.tenant_id != tenant_id:
        raise errors.NotFound(resource)
    return principal
