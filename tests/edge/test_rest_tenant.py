"""REST against the real auth and tenant services: sign-up, login, resources, errors, query parameters."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import unique_slug
from tests.edge.conftest import RunningEdge
from tests.services.conftest import PASSWORD, Stack

BAD_REQUEST_TYPE = "type.googleapis.com/google.rpc.BadRequest"
ERROR_INFO_TYPE = "type.googleapis.com/google.rpc.ErrorInfo"


def detail(response: httpx.Response, type_url: str) -> dict[str, Any]:
    """The error detail of one type from a JSON error body."""
    found = [d for d in response.json()["error"]["details"] if d["@type"] == type_url]
    assert found, f"no {type_url} in {response.text}"
    return dict(found[0])


def violated_fields(response: httpx.Response) -> set[str]:
    """The fields named by the BadRequest detail of an error answer."""
    return {v["field"] for v in detail(response, BAD_REQUEST_TYPE)["fieldViolations"]}


def assert_error(response: httpx.Response, http: int, status: str, reason: str | None = None) -> None:
    """The Google-style error body with the expected HTTP status, code name and ErrorInfo reason."""
    assert response.status_code == http, response.text
    error = response.json()["error"]
    assert error["code"] == http
    assert error["status"] == status
    assert error["message"]
    if reason is not None:
        assert detail(response, ERROR_INFO_TYPE)["reason"] == reason


async def sign_up(edge: RunningEdge) -> tuple[dict[str, Any], str, str]:
    """Signs a tenant up and logs its owner in over REST; returns the tenant, slug and access token."""
    slug = unique_slug("rest")
    email = f"owner@{slug}.example"
    created = await edge.http.post(
        "/v1/tenants",
        json={
            "tenant": {"slug": slug, "displayName": "REST Inc."},
            "ownerEmail": email,
            "owner_password": PASSWORD,  # proto names work as well as lowerCamelCase
        },
    )
    assert created.status_code == 200, created.text
    login = await edge.http.post("/v1/auth:login", json={"tenantSlug": slug, "email": email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    body = login.json()
    assert body["tokens"]["tokenType"] == "Bearer"
    assert body["user"]["email"] == email
    assert "password" not in body["user"] or body["user"]["password"] == ""
    return created.json(), slug, body["tokens"]["accessToken"]


async def test_sign_up_login_and_get_the_bare_tenant(edge: RunningEdge) -> None:
    tenant, slug, token = await sign_up(edge)
    # response_body "tenant": the resource itself, not {"tenant": ...}.
    assert tenant["name"].startswith("tenants/")
    assert tenant["slug"] == slug
    got = await edge.http.get(f"/v1/{tenant['name']}", headers={"authorization": f"Bearer {token}"})
    assert got.status_code == 200, got.text
    assert got.headers["content-type"] == "application/json"
    assert got.headers["cache-control"] == "no-store"
    body = got.json()
    assert body["name"] == tenant["name"]
    assert body["displayName"] == "REST Inc."
    assert body["state"] == "TENANT_STATE_ACTIVE"  # enums by name
    assert body["plan"] == "plans/free"
    assert "tenant" not in body


async def test_patch_changes_only_the_fields_of_update_mask(edge: RunningEdge, stack: Stack) -> None:
    account = await stack.new_tenant("patch")
    auth = RunningEdge.bearer(account)
    change = {"displayName": "Renamed", "config": {"timeZone": "Europe/Berlin", "defaultLanguage": "de"}}
    first = await edge.http.patch(f"/v1/{account.tenant}?updateMask=displayName", json=change, headers=auth)
    assert first.status_code == 200, first.text
    assert first.json()["displayName"] == "Renamed"
    assert first.json()["config"]["timeZone"] != "Europe/Berlin"
    second = await edge.http.patch(f"/v1/{account.tenant}?update_mask=config.time_zone", json=change, headers=auth)
    assert second.status_code == 200, second.text
    assert second.json()["config"]["timeZone"] == "Europe/Berlin"
    assert second.json()["config"]["defaultLanguage"] != "de"
    again = await edge.http.get(f"/v1/{account.tenant}", headers=auth)
    assert again.json()["displayName"] == "Renamed"


async def test_limits_are_the_whole_response_with_int64_as_strings(edge: RunningEdge, stack: Stack) -> None:
    account = await stack.new_tenant("limits")
    got = await edge.http.get(f"/v1/{account.tenant}/limits", headers=RunningEdge.bearer(account))
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["plan"] == "plans/free"
    kinds = {item["kind"]: item for item in body["limits"]}
    assert "LIMIT_KIND_CHATBOTS" in kinds
    seats = kinds["LIMIT_KIND_SEATS"]
    assert seats["used"] == "1"  # proto3 JSON: int64 is a string; unpopulated fields are printed
    assert int(seats["limit"]) >= 1


async def test_service_validation_is_a_400_with_field_violations(edge: RunningEdge) -> None:
    bad = await edge.http.post(
        "/v1/tenants",
        json={
            "tenant": {"slug": "-Bad Slug-", "displayName": "x" * 500},
            "ownerEmail": "not-an-email",
            "ownerPassword": "short",
        },
    )
    assert_error(bad, 400, "INVALID_ARGUMENT", "INVALID_FIELD")
    assert {"tenant.slug", "tenant.display_name", "owner_email", "owner_password"} <= violated_fields(bad)


async def test_edge_rejects_unknown_fields_and_wrong_types_naming_them(edge: RunningEdge, stack: Stack) -> None:
    unknown = await edge.http.post("/v1/tenants", json={"tenant": {"slug": "ok-slug", "colour": "red"}, "extra": 1})
    assert_error(unknown, 400, "INVALID_ARGUMENT", "INVALID_FIELD")
    assert violated_fields(unknown) == {"tenant.colour", "extra"}
    account = await stack.new_tenant("types")
    wrong = await edge.http.patch(
        f"/v1/{account.tenant}", json={"config": {"retentionDays": "soon"}}, headers=RunningEdge.bearer(account)
    )
    assert_error(wrong, 400, "INVALID_ARGUMENT")
    assert violated_fields(wrong) == {"tenant.config.retention_days"}
    enum = await edge.http.patch(f"/v1/{account.tenant}", json={"state": "NOPE"}, headers=RunningEdge.bearer(account))
    assert violated_fields(enum) == {"tenant.state"}
    not_json = await edge.http.post("/v1/auth:login", content=b"{nope", headers={"content-type": "application/json"})
    assert violated_fields(not_json) == {"body"}
    form = await edge.http.post("/v1/auth:login", content=b"a=b", headers={"content-type": "text/plain"})
    assert form.status_code == 415
    not_object = await edge.http.post("/v1/auth:login", json=["a"])
    assert violated_fields(not_object) == {"body"}


async def test_query_parameters_are_transcoded_and_checked(edge: RunningEdge, stack: Stack) -> None:
    account = await stack.new_tenant("query")
    found = await edge.http.get("/v1/tenants:lookup", params={"slug": account.slug})
    assert found.status_code == 200, found.text
    assert found.json() == {"name": account.tenant, "displayName": f"Company {account.slug}"}
    admin = await stack.platform_admin()
    page = await edge.http.get("/v1/tenants", params={"pageSize": "2"}, headers=RunningEdge.bearer(admin))
    assert page.status_code == 200, page.text
    assert len(page.json()["tenants"]) == 2
    assert page.json()["nextPageToken"]
    following = await edge.http.get(
        "/v1/tenants",
        params={"page_size": "2", "pageToken": page.json()["nextPageToken"]},
        headers=RunningEdge.bearer(admin),
    )
    assert following.status_code == 200, following.text
    assert following.json()["tenants"][0]["name"] not in {t["name"] for t in page.json()["tenants"]}
    bad = await edge.http.get("/v1/tenants", params={"pageSize": "many", "colour": "red"})
    assert_error(bad, 400, "INVALID_ARGUMENT", "INVALID_FIELD")
    assert violated_fields(bad) == {"page_size", "colour"}
    bound = await edge.http.get(
        f"/v1/{account.tenant}", params={"name": "tenants/x"}, headers=RunningEdge.bearer(account)
    )
    assert violated_fields(bound) == {"name"}
    in_body = await edge.http.post("/v1/auth:login?email=a@b.c", json={})
    assert violated_fields(in_body) == {"email"}


async def test_no_token_is_401(edge: RunningEdge, stack: Stack) -> None:
    account = await stack.new_tenant("anon")
    anonymous = await edge.http.get(f"/v1/{account.tenant}")
    assert_error(anonymous, 401, "UNAUTHENTICATED", "UNAUTHENTICATED")
    garbage = await edge.http.get(f"/v1/{account.tenant}", headers={"authorization": "Bearer not.a.jwt"})
    assert_error(garbage, 401, "UNAUTHENTICATED")


async def test_another_tenant_is_404(edge: RunningEdge, stack: Stack) -> None:
    mine, theirs = await stack.new_tenant("mine"), await stack.new_tenant("theirs")
    peek = await edge.http.get(f"/v1/{theirs.tenant}", headers=RunningEdge.bearer(mine))
    assert_error(peek, 404, "NOT_FOUND", "RESOURCE_NOT_FOUND")
    limits = await edge.http.get(f"/v1/{theirs.tenant}/limits", headers=RunningEdge.bearer(mine))
    assert_error(limits, 404, "NOT_FOUND", "RESOURCE_NOT_FOUND")


async def test_api_key_created_over_rest_works_as_bearer_and_x_api_key(edge: RunningEdge, stack: Stack) -> None:
    account = await stack.new_tenant("keys")
    created = await edge.http.post(
        f"/v1/{account.tenant}/apiKeys",
        json={"displayName": "server", "scopes": ["tenant.read"]},
        headers=RunningEdge.bearer(account),
    )
    assert created.status_code == 200, created.text
    secret = created.json()["secret"]
    assert secret.startswith("ak_")
    for headers in ({"authorization": f"Bearer {secret}"}, {"x-api-key": secret}):
        got = await edge.http.get(f"/v1/{account.tenant}", headers=headers)
        assert got.status_code == 200, got.text
    # The key's scope does not cover writes.
    write = await edge.http.patch(f"/v1/{account.tenant}", json={"displayName": "x"}, headers={"x-api-key": secret})
    assert_error(write, 403, "PERMISSION_DENIED")


async def test_unknown_routes_and_methods(edge: RunningEdge) -> None:
    missing = await edge.http.get("/v1/nothing/here")
    assert_error(missing, 404, "NOT_FOUND", "RESOURCE_NOT_FOUND")
    wrong = await edge.http.delete("/v1/tenants:lookup")
    assert_error(wrong, 405, "UNIMPLEMENTED", "METHOD_NOT_ALLOWED")
    assert wrong.headers["allow"] == "GET"
    outside = await edge.http.get("/nope")
    assert_error(outside, 404, "NOT_FOUND")
