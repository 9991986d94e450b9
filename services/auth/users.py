"""Users of a tenant: creation against the seat quota, and role changes with their rules."""

from __future__ import annotations

import logging
import uuid

from avatarchat.policy.v1 import policy_pb2
from services.auth.passwords import Passwords
from services.auth.store import AuthStore, NewUser, UserRow
from services.runtime import errors
from services.runtime.context import Principal
from services.runtime.quota import PlanQuota
from services.runtime.tokens import CLAIM_OF_ROLE, ROLE_CLAIMS

log = logging.getLogger(__name__)

#: Roles a user may hold (services and visitors are never users).
USER_ROLES = frozenset(
    {policy_pb2.ROLE_MEMBER, policy_pb2.ROLE_ADMIN, policy_pb2.ROLE_OWNER, policy_pb2.ROLE_PLATFORM_ADMIN}
)


def role_claim(role: int) -> str:
    """The stored and token form of a user role (`owner`)."""
    return CLAIM_OF_ROLE[role]


def role_value(claim: str) -> int:
    """The `avatarchat.policy.v1.Role` of a stored role."""
    return ROLE_CLAIMS[claim]


def check_may_assign(caller: Principal, old_role: int | None, new_role: int) -> None:
    """PERMISSION_DENIED unless `caller` may move a user from `old_role` (None: new user) to `new_role`."""
    touched = {new_role} if old_role is None else {old_role, new_role}
    if policy_pb2.ROLE_PLATFORM_ADMIN in touched and not caller.is_super:
        raise errors.PermissionDenied("only platform admins may grant or remove ROLE_PLATFORM_ADMIN")
    if policy_pb2.ROLE_OWNER in touched and not (caller.is_super or caller.role == policy_pb2.ROLE_OWNER):
        raise errors.PermissionDenied("only an owner may grant or remove ROLE_OWNER")


class Users:
    """Creates users and changes their roles; reads go straight to the store."""

    def __init__(self, store: AuthStore, passwords: Passwords, seats: PlanQuota) -> None:
        self._store = store
        self._passwords = passwords
        self._seats = seats

    async def create(
        self,
        tenant_id: uuid.UUID,
        caller: Principal,
        *,
        email: str,
        display_name: str,
        role: int,
        password: str,
    ) -> UserRow:
        """Takes a seat, stores the user, and gives the seat back if the user cannot be stored."""
        check_may_assign(caller, None, role)
        password_hash = await self._passwords.hash(password) if password else None
        await self._seats.reserve(tenant_id)
        try:
            return await self._store.insert_user(
                tenant_id,
                NewUser(email=email, display_name=display_name, role=role_claim(role), password_hash=password_hash),
            )
        except Exception:
            # The original error matters more to the caller; a seat not given back is logged for reconciliation.
            await self._seats.release_or_log(tenant_id)
            raise

    async def set_role(self, tenant_id: uuid.UUID, user_id: uuid.UUID, caller: Principal, role: int) -> UserRow | None:
        """The user with its new role; None when it does not exist."""

        def allow(old_claim: str) -> None:
            check_may_assign(caller, role_value(old_claim), role)

        return await self._store.change_role(tenant_id, user_id, role_claim(role), allow)
