"""The OpenAPI document covers every http rule of every service, validates as 3.1, and /docs serves it."""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from google.api import annotations_pb2
from openapi_spec_validator import validate

import avatarchat
from tests.edge.conftest import RunningEdge

_VERBS = {"get", "put", "post", "patch", "delete"}


def rules_in_contracts() -> set[str]:
    """`Service_Method[_n]` for each http rule and additional binding, read straight from the descriptors."""
    found: set[str] = set()
    for info in pkgutil.walk_packages(avatarchat.__path__, prefix="avatarchat."):
        if not info.name.endswith("_pb2"):
            continue
        for service in importlib.import_module(info.name).DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                options = method.GetOptions()
                if options.HasExtension(annotations_pb2.http):
                    rule = options.Extensions[annotations_pb2.http]
                    found.add(f"{service.name}_{method.name}")
                    found |= {f"{service.name}_{method.name}_{i}" for i in range(1, len(rule.additional_bindings) + 1)}
    return found


async def fetch_document(edge: RunningEdge) -> dict[str, Any]:
    """The served document."""
    response = await edge.http.get("/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


async def test_every_rule_of_every_service_is_an_operation(edge: RunningEdge) -> None:
    document = await fetch_document(edge)
    operations = [op for item in document["paths"].values() for verb, op in item.items() if verb in _VERBS]
    expected = rules_in_contracts()
    assert len(expected) >= 80
    assert len(operations) == len(expected)
    assert {op["operationId"] for op in operations} == expected


async def test_document_is_valid_openapi_3_1(edge: RunningEdge) -> None:
    document = await fetch_document(edge)
    assert document["openapi"].startswith("3.1")
    validate(document)


async def test_operations_carry_parameters_bodies_schemas_and_comments(edge: RunningEdge) -> None:
    document = await fetch_document(edge)
    paths = document["paths"]
    get_tenant = paths["/v1/tenants/{tenant}"]["get"]
    assert get_tenant["description"].startswith("Returns one tenant.")
    assert get_tenant["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/avatarchat.tenant.v1.Tenant"
    }
    assert get_tenant["security"] == [{"bearerAuth": []}, {"apiKeyAuth": []}]
    assert paths["/v1/tenants"]["post"]["security"] == []
    patch = paths["/v1/tenants/{tenant}"]["patch"]
    assert [p["name"] for p in patch["parameters"]] == ["tenant", "updateMask"]
    list_docs = paths["/v1/tenants/{tenant}/knowledgeBases/{knowledgeBase}/documents"]["get"]
    assert {p["name"] for p in list_docs["parameters"] if p["in"] == "query"} == {"pageSize", "pageToken", "state"}
    summary = paths["/v1/tenants/{tenant}/conversationSummary"]["get"]
    assert "interval.startTime" in {p["name"] for p in summary["parameters"]}
    send = paths["/v1/tenants/{tenant}/chatbots/{chatbot}/conversations/{conversation}:sendMessage"]["post"]
    assert set(send["responses"]["200"]["content"]) == {"text/event-stream", "application/x-ndjson"}
    webhook = paths["/v1/billing/stripe:webhook"]["post"]
    assert "application/octet-stream" in webhook["requestBody"]["content"]
    assert {p["name"] for p in webhook["parameters"]} == {"Stripe-Signature"}
    schemas = document["components"]["schemas"]
    tenant = schemas["avatarchat.tenant.v1.Tenant"]
    assert tenant["properties"]["name"]["readOnly"] is True
    assert "URL-safe" in tenant["properties"]["slug"]["description"]
    assert schemas["avatarchat.tenant.v1.TenantState"]["enum"][0] == "TENANT_STATE_UNSPECIFIED"
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


async def test_docs_page_is_self_hosted(edge: RunningEdge) -> None:
    page = await edge.http.get("/docs")
    assert page.status_code == 200
    assert "/docs/assets/swagger-ui-bundle.js" in page.text
    assert "https://" not in page.text  # nothing from a CDN
    init = await edge.http.get("/docs/init.js")
    assert "/openapi.json" in init.text
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        served = await edge.http.get(f"/docs/assets/{asset}")
        assert served.status_code == 200, asset
        assert len(served.content) > 1000


async def test_openapi_and_docs_are_not_rate_limited(edge: RunningEdge) -> None:
    response = await edge.http.get("/openapi.json")
    assert "ratelimit-limit" not in response.headers
