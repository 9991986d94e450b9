"""Tenants' provider keys over REST: PUT, GET and DELETE under /v1/tenants/*/providerCredentials, key never echoed."""

from __future__ import annotations

import secrets

from tests.edge.conftest import RunningEdge
from tests.edge.test_rest_tenant import assert_error, violated_fields
from tests.services.conftest import Stack


async def test_put_list_delete_and_the_key_never_comes_back(edge: RunningEdge, stack: Stack) -> None:
    account = await stack.new_tenant("rest-keys")
    auth = RunningEdge.bearer(account)
    key = "sk-rest-" + secrets.token_urlsafe(32)
    path = f"/v1/{account.tenant}/providerCredentials/openai"

    put = await edge.http.put(path, json={"apiKey": key, "baseUrl": "https://93.184.216.34/v1"}, headers=auth)
    assert put.status_code == 200, put.text
    body = put.json()
    assert body["name"] == path.removeprefix("/v1/")
    assert (body["provider"], body["baseUrl"], body["updateUser"]) == (
        "openai",
        "https://93.184.216.34/v1",
        account.owner,
    )
    assert "apiKey" not in body
    listed = await edge.http.get(f"/v1/{account.tenant}/providerCredentials", headers=auth)
    assert listed.status_code == 200, listed.text
    assert listed.json()["providerCredentials"] == [body]
    bad = await edge.http.put(path, json={"apiKey": key + " with spaces", "baseUrl": "ftp://x"}, headers=auth)
    assert_error(bad, 400, "INVALID_ARGUMENT", "INVALID_FIELD")
    assert violated_fields(bad) == {"api_key", "base_url"}
    deleted = await edge.http.delete(path, headers=auth)
    assert deleted.status_code == 200, deleted.text
    assert deleted.json() == {}
    assert_error(await edge.http.delete(path, headers=auth), 404, "NOT_FOUND", "RESOURCE_NOT_FOUND")

    for response in (put, listed, bad, deleted):
        assert key not in response.text


async def test_another_tenant_gets_404_and_anonymous_callers_401(edge: RunningEdge, stack: Stack) -> None:
    owner = await stack.new_tenant("rest-own")
    other = await stack.new_tenant("rest-oth")
    path = f"/v1/{owner.tenant}/providerCredentials/anthropic"
    put = await edge.http.put(
        path, json={"apiKey": "sk-ant-" + secrets.token_urlsafe(24)}, headers=RunningEdge.bearer(owner)
    )
    assert put.status_code == 200, put.text

    stranger = RunningEdge.bearer(other)
    assert_error(await edge.http.get(f"/v1/{owner.tenant}/providerCredentials", headers=stranger), 404, "NOT_FOUND")
    assert_error(await edge.http.delete(path, headers=stranger), 404, "NOT_FOUND")
    assert_error(await edge.http.put(path, json={"apiKey": "sk-planted"}, headers=stranger), 404, "NOT_FOUND")
    assert_error(await edge.http.get(f"/v1/{owner.tenant}/providerCredentials"), 401, "UNAUTHENTICATED")
    still = await edge.http.get(f"/v1/{owner.tenant}/providerCredentials", headers=RunningEdge.bearer(owner))
    assert still.json()["providerCredentials"] == [put.json()]
