"""Wire forms of the auth service's resources: stored rows and principals to protobuf messages."""

from __future__ import annotations

import uuid
from datetime import datetime

from google.protobuf import duration_pb2, timestamp_pb2

from avatarchat.auth.v1 import auth_pb2
from services.auth.sign_in import Tokens
from services.auth.store import ApiKeyRow, UserRow
from services.auth.users import role_value
from services.runtime.context import Principal
from services.runtime.names import tenant_name

USER_PATTERN = "tenants/{tenant}/users/{user}"
API_KEY_PATTERN = "tenants/{tenant}/apiKeys/{api_key}"
CHATBOT_PATTERN = "tenants/{tenant}/chatbots/{chatbot}"

_KINDS = {
    "user": auth_pb2.PRINCIPAL_KIND_USER,
    "api_key": auth_pb2.PRINCIPAL_KIND_API_KEY,
    "visitor": auth_pb2.PRINCIPAL_KIND_VISITOR,
    "service": auth_pb2.PRINCIPAL_KIND_SERVICE,
}


def timestamp(value: datetime) -> timestamp_pb2.Timestamp:
    """A protobuf Timestamp of an aware datetime."""
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(value)
    return stamp


def user_name(tenant_id: uuid.UUID, user_id: uuid.UUID) -> str:
    """`tenants/{tenant}/users/{user}`."""
    return f"{tenant_name(tenant_id)}/users/{user_id}"


def api_key_name(tenant_id: uuid.UUID, key_id: uuid.UUID) -> str:
    """`tenants/{tenant}/apiKeys/{api_key}`."""
    return f"{tenant_name(tenant_id)}/apiKeys/{key_id}"


def user_message(row: UserRow) -> auth_pb2.User:
    """A User; the password hash never leaves the service."""
    user = auth_pb2.User(
        name=user_name(row.tenant_id, row.id),
        email=row.email,
        display_name=row.display_name,
        role=role_value(row.role),  # type: ignore[arg-type]
        external_identities=[
            auth_pb2.ExternalIdentity(issuer=issuer, subject=subject) for issuer, subject in row.external_identities
        ],
        create_time=timestamp(row.create_time),
    )
    if row.last_login_time is not None:
        user.last_login_time.CopyFrom(timestamp(row.last_login_time))
    return user


def api_key_message(row: ApiKeyRow) -> auth_pb2.ApiKey:
    """An ApiKey; only its recognisable prefix, never the secret or its hash."""
    key = auth_pb2.ApiKey(
        name=api_key_name(row.tenant_id, row.id),
        display_name=row.display_name,
        scopes=list(row.scopes),
        prefix=row.prefix,
        create_time=timestamp(row.create_time),
    )
    if row.expire_time is not None:
        key.expire_time.CopyFrom(timestamp(row.expire_time))
    if row.last_used_time is not None:
        key.last_used_time.CopyFrom(timestamp(row.last_used_time))
    return key


def principal_message(principal: Principal, expire_time: datetime | None) -> auth_pb2.Principal:
    """The Principal Validate returns (runtime.remote_auth.principal_from_proto reads it back)."""
    message = auth_pb2.Principal(
        kind=_KINDS.get(principal.kind, auth_pb2.PRINCIPAL_KIND_UNSPECIFIED),
        tenant=tenant_name(principal.tenant_id) if principal.tenant_id else "",
        subject=principal.subject,
        role=principal.role,  # type: ignore[arg-type]
        scopes=sorted(principal.scopes),
    )
    if principal.chatbot_id is not None and principal.tenant_id is not None:
        message.chatbot = f"{tenant_name(principal.tenant_id)}/chatbots/{principal.chatbot_id}"
    if expire_time is not None:
        message.expire_time.CopyFrom(timestamp(expire_time))
    return message


def token_pair(tokens: Tokens, access_ttl_seconds: int, refresh_ttl_seconds: int) -> auth_pb2.TokenPair:
    """The TokenPair of a login or refresh."""
    return auth_pb2.TokenPair(
        access_token=tokens.access.token,
        access_token_ttl=duration_pb2.Duration(seconds=access_ttl_seconds),
        refresh_token=tokens.refresh_token,
        refresh_token_ttl=duration_pb2.Duration(seconds=refresh_ttl_seconds),
        token_type="Bearer",
    )
