"""Conversions between the tenant store's rows and the wire messages."""

from __future__ import annotations

from typing import Any

from google.protobuf import timestamp_pb2

from avatarchat.tenant.v1 import tenant_pb2
from services.runtime.names import tenant_name
from services.tenant.store import PlanRow, TenantRow, Usage

STATES = {
    "provisioning": tenant_pb2.TENANT_STATE_PROVISIONING,
    "active": tenant_pb2.TENANT_STATE_ACTIVE,
    "suspended": tenant_pb2.TENANT_STATE_SUSPENDED,
}

#: Wire enum ↔ the store's limit column.
LIMIT_KINDS: dict[int, str] = {
    tenant_pb2.LIMIT_KIND_CHATBOTS: "chatbots",
    tenant_pb2.LIMIT_KIND_MESSAGES_PER_MONTH: "messages_per_month",
    tenant_pb2.LIMIT_KIND_KNOWLEDGE_DOCUMENTS: "knowledge_documents",
    tenant_pb2.LIMIT_KIND_STORAGE_BYTES: "storage_bytes",
    tenant_pb2.LIMIT_KIND_SEATS: "seats",
}
KIND_OF_COLUMN = {v: k for k, v in LIMIT_KINDS.items()}

#: TenantConfig fields and the JSON keys they are stored under.
CONFIG_FIELDS = ("default_language", "time_zone", "billing_email", "retention_days")


def timestamp(value: Any) -> timestamp_pb2.Timestamp:
    """A protobuf Timestamp from a datetime."""
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(value)
    return ts


def tenant_message(row: TenantRow) -> tenant_pb2.Tenant:
    """The wire form of a tenant."""
    config = row.config
    return tenant_pb2.Tenant(
        name=tenant_name(row.id),
        slug=row.slug,
        display_name=row.display_name,
        state=STATES[row.state],
        plan=f"plans/{row.plan_id}",
        shard=row.shard_id,
        config=tenant_pb2.TenantConfig(
            default_language=config.get("default_language", ""),
            time_zone=config.get("time_zone", ""),
            billing_email=config.get("billing_email", ""),
            retention_days=int(config.get("retention_days", 0)),
        ),
        create_time=timestamp(row.create_time),
        update_time=timestamp(row.update_time),
    )


def plan_message(plan: PlanRow) -> tenant_pb2.Plan:
    """The wire form of a plan."""
    return tenant_pb2.Plan(
        name=f"plans/{plan.id}",
        display_name=plan.display_name,
        monthly_price_micros=plan.monthly_price_micros,
        currency_code=plan.currency_code,
        limits=tenant_pb2.PlanLimits(**plan.limits),
    )


def usage_message(usage: Usage) -> tenant_pb2.LimitUsage:
    """The wire form of one limit's usage."""
    return tenant_pb2.LimitUsage(
        kind=tenant_pb2.LimitKind.ValueType(KIND_OF_COLUMN[usage.kind]), limit=usage.limit, used=usage.used
    )
