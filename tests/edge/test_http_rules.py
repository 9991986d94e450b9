"""Path templates, rule parsing, routing and request transcoding, without any server."""

from __future__ import annotations

import pytest
from google.api import http_pb2
from google.protobuf import json_format

from avatarchat.analytics.v1 import analytics_pb2
from avatarchat.knowledge.v1 import knowledge_pb2
from edge import transcode
from edge.catalog import UpstreamService, load_services
from edge.errors import EdgeError
from edge.http_rules import HttpBinding, RuleError, binding_of, bindings_of
from edge.path_template import TemplateError, parse
from edge.routes import Router

SERVICES = load_services()
BINDINGS = bindings_of(SERVICES)
ROUTER = Router(BINDINGS)


def service(name: str) -> UpstreamService:
    """The catalog entry of a service by its short name."""
    return next(s for s in SERVICES if s.descriptor.name == name)


def routed(method: str, path: str) -> tuple[str, dict[str, str]]:
    """The RPC full name and path captures a request is routed to."""
    match = ROUTER.match(method, path)
    assert match is not None, f"{method} {path} matched nothing"
    return match.binding.method.full_name, match.captures


def test_templates_parse_variables_segments_and_verbs() -> None:
    template = parse("/v1/{name=tenants/*/chatbots/*/conversations/*}:sendMessage")
    assert template.verb == "sendMessage"
    assert template.variables == ("name",)
    assert template.match("/v1/tenants/t/chatbots/b/conversations/c:sendMessage") == {
        "name": "tenants/t/chatbots/b/conversations/c"
    }
    assert template.match("/v1/tenants/t/chatbots/b/conversations/c") is None
    assert template.match("/v1/tenants/t/chatbots/b:sendMessage") is None
    nested = parse("/v1/{chatbot.name=tenants/*/chatbots/*}")
    assert nested.match("/v1/tenants/a/chatbots/b") == {"chatbot.name": "tenants/a/chatbots/b"}
    plain = parse("/v1/{parent=tenants/*/chatbots/*}/visitors/{visitor_id}/conversations")
    assert plain.match("/v1/tenants/a/chatbots/b/visitors/v%3A1%2Fx/conversations") == {
        "parent": "tenants/a/chatbots/b",
        "visitor_id": "v:1/x",  # percent-decoded, and an encoded slash stays inside its segment
    }
    deep = parse("/v1/{path=files/**}:get")
    assert deep.fixed_length is None
    assert deep.match("/v1/files/a/b/c:get") == {"path": "files/a/b/c"}
    literal = parse("/v1/{name=tenants/*/subscription}")
    assert literal.match("/v1/tenants/t/subscription") == {"name": "tenants/t/subscription"}
    assert literal.match("/v1/tenants/t/other") is None


@pytest.mark.parametrize(
    "bad",
    ["v1/x", "/v1/{name=tenants/*", "/v1/{na-me}", "/v1/{a}/{a}", "/v1/**/x", "/v1//x", "/v1/x:b@d", "/v1/{a={b}}"],
)
def test_bad_templates_are_refused(bad: str) -> None:
    with pytest.raises(TemplateError):
        parse(bad)


def test_openapi_paths_name_each_wildcard_after_its_collection() -> None:
    assert parse("/v1/{name=tenants/*/knowledgeBases/*}/stats").openapi_path() == (
        "/v1/tenants/{tenant}/knowledgeBases/{knowledgeBase}/stats",
        [("tenant", "name"), ("knowledgeBase", "name")],
    )
    assert parse("/v1/embed/{embed_id}/config").openapi_path() == (
        "/v1/embed/{embed_id}/config",
        [("embed_id", "embed_id")],
    )
    assert parse("/v1/{name=tenants/*}:provision").openapi_path()[0] == "/v1/tenants/{tenant}:provision"


def test_rules_of_every_service_are_read_including_additional_bindings() -> None:
    assert len({b.upstream for b in BINDINGS}) == 9
    search = [b for b in BINDINGS if b.method.name == "Search"]
    assert [(b.index, b.template.source) for b in search] == [
        (0, "/v1/{parent=tenants/*/knowledgeBases/*}:search"),
        (1, "/v1/{parent=tenants/*}/knowledgeBases:search"),
    ]
    internal = [b for b in BINDINGS if b.method.name in ("ReserveQuota", "IssueVisitorToken", "Embed")]
    assert internal == []  # internal RPCs have no http rule, so no route


def test_router_prefers_verbs_and_literals() -> None:
    assert routed("GET", "/v1/tenants:lookup")[0] == "avatarchat.tenant.v1.TenantService.LookupTenant"
    assert routed("GET", "/v1/tenants")[0] == "avatarchat.tenant.v1.TenantService.ListTenants"
    assert routed("GET", "/v1/tenants/abc") == ("avatarchat.tenant.v1.TenantService.GetTenant", {"name": "tenants/abc"})
    assert routed("POST", "/v1/tenants/abc:provision")[0] == "avatarchat.tenant.v1.TenantService.ProvisionTenant"
    assert routed("GET", "/v1/avatars/default")[0] == "avatarchat.avatar.v1.AvatarService.GetDefaultAvatar"
    assert routed("POST", "/v1/tenants/t/knowledgeBases:search") == (
        "avatarchat.knowledge.v1.KnowledgeService.Search",
        {"parent": "tenants/t"},
    )
    assert ROUTER.match("PUT", "/v1/tenants/abc") is None
    assert ROUTER.allowed_methods("/v1/tenants/abc") == ["GET", "PATCH"]


def custom_binding(service_name: str, method: str, rule: http_pb2.HttpRule) -> HttpBinding:
    """A binding of an RPC under a rule written here, to reach shapes the contracts do not use yet."""
    svc = service(service_name)
    return binding_of(svc, svc.descriptor.methods_by_name[method], rule)


def test_query_parameters_fill_nested_repeated_enum_and_well_known_fields() -> None:
    rule = http_pb2.HttpRule(get="/v1/{parent=tenants/*/knowledgeBases/*}:find")
    binding = custom_binding("KnowledgeService", "Search", rule)
    query = [
        ("knowledgeBases", "tenants/t/knowledgeBases/a"),
        ("knowledge_bases", "tenants/t/knowledgeBases/b"),
        ("query", "refund policy"),
        ("topK", "7"),
        ("mode", "SEARCH_MODE_KEYWORD"),
        ("minScore", "0.25"),
    ]
    message = transcode.build_request(binding, {"parent": "tenants/t/knowledgeBases/k"}, query, {}, b"")
    assert isinstance(message, knowledge_pb2.SearchRequest)
    assert message.parent == "tenants/t/knowledgeBases/k"
    assert list(message.knowledge_bases) == ["tenants/t/knowledgeBases/a", "tenants/t/knowledgeBases/b"]
    assert (message.query, message.top_k, message.mode) == ("refund policy", 7, knowledge_pb2.SEARCH_MODE_KEYWORD)
    assert message.min_score == pytest.approx(0.25)
    summary = next(b for b in BINDINGS if b.method.name == "GetConversationSummary" and b.index == 1)
    report = transcode.build_request(
        summary,
        {"parent": "tenants/t/chatbots/b"},
        [("interval.startTime", "2024-05-01T00:00:00Z"), ("granularity", "2"), ("timeZone", "Europe/Berlin")],
        {},
        b"",
    )
    assert isinstance(report, analytics_pb2.GetConversationSummaryRequest)
    assert report.interval.start_time.ToJsonString() == "2024-05-01T00:00:00Z"
    assert report.granularity == analytics_pb2.GRANULARITY_DAY


def test_bad_query_values_name_the_field() -> None:
    rule = http_pb2.HttpRule(get="/v1/{parent=tenants/*/knowledgeBases/*}:find")
    binding = custom_binding("KnowledgeService", "Search", rule)
    with pytest.raises(EdgeError) as caught:
        transcode.build_request(
            binding,
            {"parent": "p"},
            [("topK", "seven"), ("mode", "SEARCH_MODE_PSYCHIC"), ("top_k", "1"), ("query", "a"), ("query", "b")],
            {},
            b"",
        )
    problems = {(v.field, v.description) for v in caught.value.violations}
    assert problems == {
        ("top_k", "'seven' is not an integer"),
        ("mode", "'SEARCH_MODE_PSYCHIC' is not a value of avatarchat.knowledge.v1.SearchMode"),
        ("top_k", "given more than once"),
        ("query", "given more than once"),
    }
    assert caught.value.http_status == 400
    with pytest.raises(EdgeError) as no_body:
        transcode.build_request(binding, {"parent": "p"}, [], {}, b'{"query": "a"}')
    assert [v.field for v in no_body.value.violations] == ["body"]
    search = next(b for b in BINDINGS if b.method.name == "Search")
    with pytest.raises(EdgeError) as wrong_type:
        transcode.build_request(search, {"parent": "p"}, [], {}, b'{"query": 5, "topK": "x"}')
    assert [v.field for v in wrong_type.value.violations] == ["query"]  # json_format stops at the first


def test_body_field_rules_take_the_body_into_that_field() -> None:
    update = next(b for b in BINDINGS if b.method.name == "UpdateChatbot")
    body = b'{"displayName": "Ava", "name": "ignored: the path wins"}'
    message = transcode.build_request(
        update, {"chatbot.name": "tenants/t/chatbots/c"}, [("updateMask", "display_name")], {}, body
    )
    assert json_format.MessageToDict(message) == {
        "chatbot": {"name": "tenants/t/chatbots/c", "displayName": "Ava"},
        "updateMask": "displayName",
    }


def test_rules_naming_missing_fields_are_refused() -> None:
    with pytest.raises(RuleError):
        custom_binding("TenantService", "GetTenant", http_pb2.HttpRule(get="/v1/{nope=tenants/*}"))
    with pytest.raises(RuleError):
        custom_binding("TenantService", "GetTenant", http_pb2.HttpRule(post="/v1/x", body="nope"))
    with pytest.raises(RuleError):
        custom_binding("TenantService", "GetTenant", http_pb2.HttpRule(get="/v1/x", response_body="nope"))
