"""Provisioning: a new tenant gets its owner user from the auth service and becomes active."""

from __future__ import annotations

import grpc

from avatarchat.auth.v1 import auth_pb2, auth_pb2_grpc
from avatarchat.policy.v1 import policy_pb2
from services.runtime import errors, status
from services.runtime.names import tenant_name
from services.runtime.tokens import ServiceTokens
from services.tenant.store import TenantRow, TenantStore


class Provisioner:
    """Finishes a tenant's set-up; safe to run again after a partial failure."""

    def __init__(self, store: TenantStore, auth: auth_pb2_grpc.AuthServiceAsyncStub, tokens: ServiceTokens) -> None:
        self._store = store
        self._auth = auth
        self._tokens = tokens

    async def provision(self, row: TenantRow, password: str = "", display_name: str = "") -> TenantRow:
        """Creates the owner (unless done) and marks the tenant active."""
        owner = row.owner_user or await self._ensure_owner(row, password, display_name)
        if row.state == "active" and row.owner_user == owner:
            return row
        state = "suspended" if row.state == "suspended" else "active"
        updated = await self._store.update(row.id, {"owner_user": owner, "state": state})
        if updated is None:
            raise errors.NotFound(tenant_name(row.id))
        return updated

    async def _ensure_owner(self, row: TenantRow, password: str, display_name: str) -> str:
        parent = tenant_name(row.id)
        metadata = self._tokens.metadata(row.id)
        user = auth_pb2.User(
            email=row.owner_email, display_name=display_name, role=policy_pb2.ROLE_OWNER, password=password
        )
        try:
            created = await self._auth.CreateUser(
                auth_pb2.CreateUserRequest(parent=parent, user=user), metadata=metadata
            )
            return created.user.name
        except grpc.aio.AioRpcError as exc:
            err = status.from_rpc_error(exc)
            if not isinstance(err, errors.AlreadyExists):
                raise err from None
        # A previous attempt created the owner but did not record it: find it by e-mail.
        token = ""
        while True:
            page = await self._auth.ListUsers(
                auth_pb2.ListUsersRequest(parent=parent, page_size=1000, page_token=token), metadata=metadata
            )
            for existing in page.users:
                if existing.email.lower() == row.owner_email.lower():
                    return existing.name
            token = page.next_page_token
            if not token:
                raise errors.FailedPrecondition(f"owner {row.owner_email} exists but cannot be listed")
