"""The authenticator services other than auth use: JWKS and API keys checked through AuthService."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import grpc
from google.protobuf import json_format

from avatarchat.auth.v1 import auth_pb2, auth_pb2_grpc
from services.runtime import errors, status
from services.runtime.clients import Clients
from services.runtime.context import Principal
from services.runtime.tokens import ROLE_CLAIMS, Authenticator, RemoteJwks, ServiceTokens

#: How long a checked API key is trusted before asking auth again (bounds revocation delay).
API_KEY_CACHE_SECONDS = 30.0


def principal_from_proto(p: auth_pb2.Principal, credential: str) -> Principal:
    """Our Principal from the wire form AuthService.Validate returns."""
    import uuid

    tenant = p.tenant.removeprefix("tenants/")
    chatbot = p.chatbot.rsplit("/", 1)[-1] if p.chatbot else ""
    kinds = {
        auth_pb2.PRINCIPAL_KIND_USER: "user",
        auth_pb2.PRINCIPAL_KIND_API_KEY: "api_key",
        auth_pb2.PRINCIPAL_KIND_VISITOR: "visitor",
        auth_pb2.PRINCIPAL_KIND_SERVICE: "service",
    }
    return Principal(
        kind=kinds.get(p.kind, "anonymous"),
        subject=p.subject,
        tenant_id=uuid.UUID(tenant) if tenant else None,
        role=p.role,
        scopes=frozenset(p.scopes),
        chatbot_id=uuid.UUID(chatbot) if chatbot else None,
        credential=credential,
    )


class _ApiKeyCache:
    def __init__(self, stub: auth_pb2_grpc.AuthServiceAsyncStub, tokens: ServiceTokens) -> None:
        self._stub = stub
        self._tokens = tokens
        self._cache: dict[str, tuple[float, Principal]] = {}

    async def __call__(self, key: str) -> Principal:
        hit = self._cache.get(key)
        if hit and hit[0] > time.monotonic():
            return hit[1]
        try:
            response = await self._stub.Validate(
                auth_pb2.ValidateRequest(credential=key), metadata=self._tokens.metadata()
            )
        except grpc.aio.AioRpcError as exc:
            raise status.from_rpc_error(exc) from None
        principal = principal_from_proto(response.principal, key)
        if principal.kind != "api_key":
            raise errors.Unauthenticated("not an API key")
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[key] = (time.monotonic() + API_KEY_CACHE_SECONDS, principal)
        return principal


def remote_authenticator(clients: Clients, tokens: ServiceTokens) -> Authenticator:
    """An Authenticator that fetches JWKS from and checks API keys with the auth service."""
    stub = auth_pb2_grpc.AuthServiceStub(clients.channel("auth"))

    async def fetch() -> list[Mapping[str, Any]]:
        response = await stub.GetJwks(auth_pb2.GetJwksRequest(), metadata=tokens.metadata())
        return [json_format.MessageToDict(k, preserving_proto_field_name=True) for k in response.keys]

    return Authenticator(tokens, RemoteJwks(fetch), _ApiKeyCache(stub, tokens))


__all__ = ["ROLE_CLAIMS", "principal_from_proto", "remote_authenticator"]
