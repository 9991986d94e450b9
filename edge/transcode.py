"""HTTP request → request message (path, query, body, headers) and response message → JSON, per binding."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message
from starlette.requests import Request

from edge import fields
from edge.errors import EdgeError
from edge.http_rules import HttpBinding
from services.runtime.errors import FieldViolation

_PARSE_STEP = re.compile(r"^Failed to parse (\S+) field: ")
_PARSE_WHERE = re.compile(r"\s+at\s+\S+$")


async def read_body(request: Request, limit: int) -> bytes:
    """The whole request body; 413 past `limit` bytes, checked before and while reading."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def too_large(limit: int) -> EdgeError:
    """A 413 naming the body."""
    error = EdgeError.invalid([FieldViolation("body", f"larger than {limit} bytes")])
    error.http_status = 413
    return error


def build_request(
    binding: HttpBinding,
    captures: Mapping[str, str],
    query: Iterable[tuple[str, str]],
    headers: Mapping[str, str],
    body: bytes | None,
) -> Message:
    """The request message; `body` is None for client streams, whose body follows as chunks."""
    violations: list[FieldViolation] = []
    document = _body_document(binding, headers, body) if body is not None and not binding.raw_body else {}
    violations += fields.unknown_fields(document, binding.method.input_type)
    for variable, chain in zip(binding.template.variables, binding.path_fields, strict=True):
        try:
            fields.put(document, chain, fields.json_value(chain[-1], captures[variable]))
        except ValueError as exc:
            violations.append(FieldViolation(fields.proto_path(chain), str(exc)))
    violations += _apply_query(binding, document, query)
    violations += _apply_headers(binding, document, headers)
    if violations:
        raise EdgeError.invalid(violations)
    message = binding.request_class()
    try:
        json_format.ParseDict(document, message, ignore_unknown_fields=False)
    except json_format.ParseError as exc:
        raise EdgeError.invalid([_parse_violation(binding, str(exc))]) from None
    if binding.raw_body and body is not None:
        setattr(message, binding.body, body)
    return message


def _body_document(binding: HttpBinding, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}
    if not binding.body:
        raise EdgeError.invalid([FieldViolation("body", "not allowed: this route takes no request body")])
    content_type = headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if content_type != "application/json" and not content_type.endswith("+json"):
        error = EdgeError.invalid([FieldViolation("body", f"must be application/json, not {content_type}")])
        error.http_status = 415
        raise error
    try:
        parsed = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EdgeError.invalid([FieldViolation("body", f"is not valid JSON: {exc}")]) from None
    if binding.body == "*":
        if not isinstance(parsed, dict):
            raise EdgeError.invalid([FieldViolation("body", "must be a JSON object")])
        return parsed
    return {binding.body: parsed}


def _apply_query(
    binding: HttpBinding, document: dict[str, Any], query: Iterable[tuple[str, str]]
) -> list[FieldViolation]:
    violations: list[FieldViolation] = []
    path_bound = {fields.proto_path(c) for c in binding.path_fields}
    header_bound = {h.field for h in binding.headers if not h.default_only}
    seen: set[str] = set()
    for key, text in query:
        if binding.body == "*":
            violations.append(FieldViolation(key, "not allowed: the JSON body carries every field"))
            continue
        chain = _resolve_query(binding, key)
        if chain is None:
            violations.append(FieldViolation(key, "unknown query parameter"))
            continue
        name = fields.proto_path(chain)
        problem = _query_problem(binding, chain, name, path_bound, header_bound)
        if problem is None and name in seen and not fields.is_repeated(chain[-1]):
            problem = "given more than once"
        if problem is not None:
            violations.append(FieldViolation(name, problem))
            continue
        seen.add(name)
        try:
            value = fields.json_value(chain[-1], text)
        except ValueError as exc:
            violations.append(FieldViolation(name, str(exc)))
            continue
        fields.put(document, chain, value, append=fields.is_repeated(chain[-1]))
    return violations


def _resolve_query(binding: HttpBinding, key: str) -> fields.Chain | None:
    request = binding.method.input_type
    candidates = [key]
    if binding.method.client_streaming and binding.path_fields and len(binding.path_fields[0]) > 1:
        # Uploads: `?filename=` means `metadata.filename`, the message the path already fills (avatar.proto).
        candidates.append(f"{binding.path_fields[0][0].name}.{key}")
    for candidate in candidates:
        try:
            return fields.resolve(request, candidate)
        except KeyError:
            continue
    return None


def _query_problem(
    binding: HttpBinding, chain: fields.Chain, name: str, path_bound: set[str], header_bound: set[str]
) -> str | None:
    if name in path_bound:
        return "bound by the URL path"
    if name in header_bound:
        return "set from a request header"
    if binding.body and chain[0].name == binding.body:
        return "belongs in the request body"
    if not fields.is_query_leaf(chain[-1]):
        return "is a message or map; set its fields as name.field"
    if any(fields.is_repeated(f) for f in chain[:-1]):
        return "is inside a repeated field; send it in a body"
    return None


def _apply_headers(binding: HttpBinding, document: dict[str, Any], headers: Mapping[str, str]) -> list[FieldViolation]:
    violations: list[FieldViolation] = []
    for header in binding.headers:
        text = headers.get(header.header)
        if text is None:
            continue
        chain = fields.resolve(binding.method.input_type, header.field)
        if header.default_only and _has(document, chain):
            continue
        try:
            fields.put(document, chain, fields.json_value(chain[-1], text))
        except ValueError as exc:
            violations.append(FieldViolation(header.header, str(exc)))
    return violations


def _has(document: Mapping[str, Any], chain: fields.Chain) -> bool:
    node: Any = document
    for field in chain:
        if not isinstance(node, Mapping):
            return False
        key = field.json_name if field.json_name in node else field.name
        if key not in node:
            return False
        node = node[key]
    return True


def _parse_violation(binding: HttpBinding, text: str) -> FieldViolation:
    """Turns json_format's `Failed to parse a field: Failed to parse b field: why` into a field violation."""
    names: list[str] = []
    while match := _PARSE_STEP.match(text):
        names.append(match.group(1))
        text = text[match.end() :]
    description = _PARSE_WHERE.sub("", text.split("\n")[0].rstrip(".")).rstrip(".")
    try:
        path = fields.proto_path(fields.resolve(binding.method.input_type, ".".join(names))) if names else "body"
    except KeyError:
        path = ".".join(names)
    return FieldViolation(path, description)


def response_json(binding: HttpBinding, response: Message, emit_unpopulated: bool) -> Any:
    """The JSON of a response, or only of its `response_body` field."""
    document = json_format.MessageToDict(response, always_print_fields_with_no_presence=emit_unpopulated)
    field = binding.response_field
    if field is None:
        return document
    if field.json_name in document:
        return document[field.json_name]
    if fields.is_repeated(field):
        return {} if fields.is_map(field) else []
    if field.message_type is not None:
        return {}
    return json_format.MessageToDict(response, always_print_fields_with_no_presence=True)[field.json_name]


def dumps(document: Any) -> bytes:
    """Compact UTF-8 JSON, as every response body is sent."""
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
