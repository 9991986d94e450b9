"""The OpenAPI 3.1 document of the REST API, generated from the same bindings the router serves."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor

from avatarchat.policy.v1 import policy_pb2
from edge import fields
from edge.http_rules import HttpBinding
from edge.schemas import Schema, SchemaBuilder, ref

OPENAPI_VERSION = "3.1.0"
_MAX_QUERY_DEPTH = 3

_INTRO = """REST for the avatarchat platform, transcoded by the edge onto the gRPC services.

- **Auth**: `Authorization: Bearer <access token>` from `POST /v1/auth:login`, or an API key as
  `Authorization: Bearer ak_...` (or `X-API-Key: ak_...`). Every operation names who may call it in
  `x-avatarchat-policy`.
- **Errors**: `{"error": {"code", "status", "message", "details"}}` with google.rpc `ErrorInfo` and,
  for bad input, `BadRequest` field violations.
- **Streams**: server-streaming operations answer `text/event-stream` (or `application/x-ndjson`
  when asked for in `Accept`).
- **Rate limits**: every `/v1/` answer carries `RateLimit-Limit`, `RateLimit-Remaining` and
  `RateLimit-Reset`; a 429 adds `Retry-After`.
- **Requests**: also carry `X-Request-Id` (echoed, or made up by the edge) for support."""


def build_openapi(bindings: Sequence[HttpBinding], comments: Mapping[str, str], version: str = "v1") -> dict[str, Any]:
    """The whole document; raises ValueError when two bindings claim one path and method."""
    builder = SchemaBuilder(comments)
    paths: dict[str, dict[str, Any]] = {}
    for binding in bindings:
        path, operation = _operation(binding, builder, comments)
        item = paths.setdefault(path, {})
        verb = binding.http_method.lower()
        if verb in item:
            raise ValueError(f"{binding.method.full_name} and {item[verb]['operationId']} both bind {verb} {path}")
        item[verb] = operation
    services = {b.service.full_name: b.service for b in bindings}
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": "avatarchat API", "version": version, "description": _INTRO},
        "tags": [{"name": s.name, "description": comments.get(s.full_name, s.full_name)} for s in services.values()],
        "paths": paths,
        "components": {
            "schemas": {**dict(sorted(builder.components.items())), "Error": _ERROR_SCHEMA},
            "responses": _RESPONSES,
            "headers": _HEADERS,
            "securitySchemes": _SECURITY_SCHEMES,
        },
    }


def _operation(binding: HttpBinding, builder: SchemaBuilder, comments: Mapping[str, str]) -> tuple[str, dict[str, Any]]:
    path, path_params = binding.template.openapi_path()
    method = binding.method
    text = comments.get(method.full_name, "")
    parameters: list[dict[str, Any]] = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": "string"},
            "description": f"Segment of `{field}` in `{binding.template.source}`.",
        }
        for name, field in path_params
    ]
    parameters += [_query_parameter(name, f, builder) for name, f in _query_fields(binding)]
    parameters += [
        {"name": _header_name(h.header), "in": "header", "required": True, "schema": {"type": "string"}}
        for h in binding.headers
        if not h.default_only
    ]
    operation: dict[str, Any] = {
        "operationId": f"{binding.service.name}_{method.name}" + (f"_{binding.index}" if binding.index else ""),
        "tags": [binding.service.name],
        "summary": (text.split(". ")[0].rstrip(".") if text else method.name).replace("\n", " "),
        "description": f"{text}\n\ngRPC: `{binding.rpc_path}`".strip(),
        "parameters": parameters,
        "responses": {
            "200": _success(binding, builder),
            "429": ref_response("RateLimited"),
            "default": ref_response("Error"),
        },
        "security": _security(binding.policy),
        "x-avatarchat-policy": _policy(binding.policy),
    }
    body = _request_body(binding, builder)
    if body is not None:
        operation["requestBody"] = body
    return path, operation


def ref_response(name: str) -> dict[str, str]:
    """A reference to a component response."""
    return {"$ref": f"#/components/responses/{name}"}


def _header_name(header: str) -> str:
    return "-".join(part.capitalize() for part in header.split("-"))


def _query_fields(binding: HttpBinding) -> list[tuple[str, FieldDescriptor]]:
    """Query parameters: every leaf field not bound by the path, the body or a header."""
    if binding.body == "*":
        return []
    taken = {fields.proto_path(c) for c in binding.path_fields} | {h.field for h in binding.headers}
    if binding.body:
        taken.add(binding.body)
    return list(_leaves(binding.method.input_type, taken))


def _leaves(
    message: Descriptor,
    taken: set[str],
    *,
    json_prefix: str = "",
    proto_prefix: str = "",
    seen: frozenset[str] = frozenset(),
) -> Iterator[tuple[str, FieldDescriptor]]:
    for field in message.fields:
        proto_name = proto_prefix + field.name
        nested = field.message_type
        if proto_name in taken or fields.is_map(field):
            continue
        if fields.is_query_leaf(field):
            yield json_prefix + field.json_name, field
        elif nested is not None and _expandable(field, seen):
            yield from _leaves(
                nested,
                taken,
                json_prefix=f"{json_prefix}{field.json_name}.",
                proto_prefix=f"{proto_name}.",
                seen=seen | {nested.full_name},
            )


def _expandable(field: FieldDescriptor, seen: frozenset[str]) -> bool:
    """Whether a singular message field's own fields become `a.b` parameters (bounded depth, no cycles)."""
    nested = field.message_type
    return (
        nested is not None
        and not fields.is_repeated(field)
        and len(seen) < _MAX_QUERY_DEPTH
        and nested.full_name not in seen
    )


def _query_parameter(name: str, field: FieldDescriptor, builder: SchemaBuilder) -> dict[str, Any]:
    parameter: dict[str, Any] = {"name": name, "in": "query", "schema": builder.field(field)}
    text = builder.comments.get(field.full_name, "")
    if fields.is_repeated(field):
        text = f"{text} Repeat the parameter for each value.".strip()
    if text:
        parameter["description"] = text
    return parameter


def _request_body(binding: HttpBinding, builder: SchemaBuilder) -> dict[str, Any] | None:
    if not binding.body:
        return None
    body = binding.body_field
    if binding.raw_body and body is not None:
        text = builder.comments.get(body.full_name, "The raw request body, byte for byte.")
        raw = {"schema": {"type": "string", "contentMediaType": "application/octet-stream"}}
        return {"required": True, "description": text, "content": {"application/octet-stream": raw}}
    if body is None:
        skip = frozenset(c[0].name for c in binding.path_fields if len(c) == 1) | {h.field for h in binding.headers}
        schema = builder.inline_object(binding.method.input_type, skip)
        return {"required": False, "content": {"application/json": {"schema": schema}}}
    return {"required": True, "content": {"application/json": {"schema": builder.field(body)}}}


def _success(binding: HttpBinding, builder: SchemaBuilder) -> dict[str, Any]:
    field = binding.response_field
    schema = builder.field(field) if field is not None else builder.message(binding.method.output_type)
    headers = {name: {"$ref": f"#/components/headers/{name}"} for name in _HEADERS}
    if not binding.method.server_streaming:
        return {"description": "OK", "headers": headers, "content": {"application/json": {"schema": schema}}}
    return {
        "description": "A stream of messages: SSE `data:` lines (a failure ends it with `event: error`), or NDJSON.",
        "headers": headers,
        "content": {
            "text/event-stream": {"schema": {"type": "string", "description": "Each `data:` is one message as JSON."}},
            "application/x-ndjson": {
                "schema": {
                    "type": "object",
                    "description": "One object per line: `result` (a message) or, last, `error`.",
                    "properties": {"result": schema, "error": _ERROR_SCHEMA["properties"]["error"]},
                }
            },
        },
    }


def _security(policy: policy_pb2.MethodPolicy) -> list[dict[str, list[str]]]:
    if policy.public:
        return []
    schemes: list[dict[str, list[str]]] = [{"bearerAuth": []}]
    if policy.api_key_scope:
        schemes.append({"apiKeyAuth": []})
    return schemes


def _policy(policy: policy_pb2.MethodPolicy) -> dict[str, Any]:
    out: dict[str, Any] = {"public": policy.public}
    if policy.min_role:
        out["minRole"] = policy_pb2.Role.Name(policy.min_role)
    if policy.api_key_scope:
        out["apiKeyScope"] = policy.api_key_scope
    if policy.visitor:
        out["visitor"] = True
    return out


_ERROR_SCHEMA: Schema = {
    "type": "object",
    "description": "A google.rpc.Status as JSON, the way Google APIs answer errors.",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "status", "message"],
            "properties": {
                "code": {"type": "integer", "description": "The HTTP status."},
                "status": {"type": "string", "description": "The google.rpc.Code name, e.g. `NOT_FOUND`."},
                "message": {"type": "string"},
                "details": {
                    "type": "array",
                    "description": "`google.rpc.ErrorInfo` (reason, domain, metadata) and `google.rpc.BadRequest`.",
                    "items": {"type": "object", "required": ["@type"], "properties": {"@type": {"type": "string"}}},
                },
            },
        }
    },
}

_HEADERS: dict[str, Any] = {
    "RateLimit-Limit": {"description": "Requests allowed in the window.", "schema": {"type": "integer"}},
    "RateLimit-Remaining": {"description": "Requests left in the window.", "schema": {"type": "integer"}},
    "RateLimit-Reset": {"description": "Seconds until the window resets.", "schema": {"type": "integer"}},
    "X-Request-Id": {
        "description": "The request id (the caller's, or one the edge made).",
        "schema": {"type": "string"},
    },
}

_RESPONSES: dict[str, Any] = {
    "Error": {"description": "An error.", "content": {"application/json": {"schema": ref("Error")}}},
    "RateLimited": {
        "description": "Too many requests; wait `Retry-After` seconds.",
        "headers": {
            **{name: {"$ref": f"#/components/headers/{name}"} for name in _HEADERS},
            "Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}},
        },
        "content": {"application/json": {"schema": ref("Error")}},
    },
}

_SECURITY_SCHEMES: dict[str, Any] = {
    "bearerAuth": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT or ak_ API key",
        "description": "An access token from `POST /v1/auth:login`, or an API key (`ak_...`).",
    },
    "apiKeyAuth": {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "An API key (`ak_...`) for operations that name an `apiKeyScope`.",
    },
}
