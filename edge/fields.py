"""Field paths of request messages: resolving `a.b_c`/`a.bC`, converting query strings to JSON values."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor

from services.runtime.errors import FieldViolation

Chain = tuple[FieldDescriptor, ...]

#: Well-known types whose JSON form is a string or a scalar, so a query parameter can carry them.
SCALAR_JSON_TYPES = frozenset(
    {
        "google.protobuf.Timestamp",
        "google.protobuf.Duration",
        "google.protobuf.FieldMask",
        "google.protobuf.DoubleValue",
        "google.protobuf.FloatValue",
        "google.protobuf.Int64Value",
        "google.protobuf.UInt64Value",
        "google.protobuf.Int32Value",
        "google.protobuf.UInt32Value",
        "google.protobuf.BoolValue",
        "google.protobuf.StringValue",
        "google.protobuf.BytesValue",
    }
)
#: Well-known types with their own JSON shape; their contents are not checked field by field.
OPAQUE_JSON_TYPES = SCALAR_JSON_TYPES | {
    "google.protobuf.Struct",
    "google.protobuf.Value",
    "google.protobuf.ListValue",
    "google.protobuf.Any",
    "google.protobuf.Empty",
}

_INTEGERS = {
    FieldDescriptor.TYPE_INT32,
    FieldDescriptor.TYPE_SINT32,
    FieldDescriptor.TYPE_SFIXED32,
    FieldDescriptor.TYPE_UINT32,
    FieldDescriptor.TYPE_FIXED32,
}
_WIDE_INTEGERS = {
    FieldDescriptor.TYPE_INT64,
    FieldDescriptor.TYPE_SINT64,
    FieldDescriptor.TYPE_SFIXED64,
    FieldDescriptor.TYPE_UINT64,
    FieldDescriptor.TYPE_FIXED64,
}
_FLOATS = {FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE}


class FieldError(ValueError):
    """One or more request fields are wrong; carries a violation per field."""

    def __init__(self, violations: Sequence[FieldViolation]) -> None:
        super().__init__("; ".join(f"{v.field}: {v.description}" for v in violations))
        self.violations = list(violations)


def field_named(message: Descriptor, name: str) -> FieldDescriptor | None:
    """The field called `name` in proto (`page_size`) or JSON (`pageSize`) spelling."""
    found = message.fields_by_name.get(name)
    if found is not None:
        return found
    return next((f for f in message.fields if f.json_name == name), None)


def resolve(message: Descriptor, path: str) -> Chain:
    """The fields along `path`; raises KeyError naming the first unknown segment."""
    chain: list[FieldDescriptor] = []
    current: Descriptor | None = message
    for part in path.split("."):
        field = field_named(current, part) if current is not None else None
        if field is None:
            raise KeyError(part)
        chain.append(field)
        nested = field.message_type
        is_plain_message = nested is not None and not is_map(field) and nested.full_name not in OPAQUE_JSON_TYPES
        current = nested if is_plain_message and not is_repeated(field) else None
    return tuple(chain)


def proto_path(chain: Chain) -> str:
    """`tenant.display_name`: the spelling services use in their field violations."""
    return ".".join(f.name for f in chain)


def is_repeated(field: FieldDescriptor) -> bool:
    """Whether a field is repeated (maps included)."""
    return bool(field.is_repeated)


def is_map(field: FieldDescriptor) -> bool:
    """Whether a field is a map."""
    return bool(field.message_type is not None and field.message_type.GetOptions().map_entry)


def is_query_leaf(field: FieldDescriptor) -> bool:
    """Whether a query parameter can carry the field: a scalar, an enum or a string-shaped well-known type."""
    if is_map(field):
        return False
    return field.message_type is None or field.message_type.full_name in SCALAR_JSON_TYPES


def json_value(field: FieldDescriptor, text: str) -> Any:
    """The proto3 JSON value of one query/path/header string for a scalar (or string-shaped) field."""
    nested = field.message_type
    if nested is not None and nested.full_name == "google.protobuf.FieldMask":
        # Accept `config.time_zone` as well as the JSON form `config.timeZone`, as Google's REST APIs do.
        return ",".join(_camel(path.strip()) for path in text.split(",") if path.strip())
    if nested is not None:
        inner = nested.fields_by_name.get("value")
        return json_value(inner, text) if inner is not None and nested.name.endswith("Value") else text
    if field.type in _INTEGERS or field.type in _WIDE_INTEGERS:
        try:
            number = int(text)
        except ValueError:
            raise ValueError(f"{text!r} is not an integer") from None
        return number if field.type in _INTEGERS else text  # proto3 JSON carries 64-bit integers as strings
    if field.type in _FLOATS:
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a number") from None
        return text if math.isnan(value) or math.isinf(value) else value
    if field.type == FieldDescriptor.TYPE_BOOL:
        lowered = text.lower()
        if lowered not in ("true", "false", "1", "0"):
            raise ValueError(f"{text!r} is not true or false")
        return lowered in ("true", "1")
    if field.enum_type is not None:
        return _enum_value(field.enum_type, text)
    return text  # string, and bytes as base64 (json_format decodes it)


def _enum_value(enum: EnumDescriptor, text: str) -> int | str:
    """An enum value by number or by name; an unknown name is refused here, naming the enum."""
    if text.lstrip("-").isdigit():
        return int(text)
    if text not in enum.values_by_name:
        raise ValueError(f"{text!r} is not a value of {enum.full_name}")
    return text


def _camel(path: str) -> str:
    return ".".join(re.sub(r"_([a-z0-9])", lambda m: m.group(1).upper(), part) for part in path.split("."))


def put(document: dict[str, Any], chain: Chain, value: Any, *, append: bool = False) -> None:
    """Sets `value` at `chain` in a JSON document, reusing whichever spelling of a key is already there."""
    node = document
    for field in chain[:-1]:
        key = _key(node, field)
        child = node.get(key)
        if not isinstance(child, dict):
            child = {}
            node[key] = child
        node = child
    last = chain[-1]
    key = _key(node, last)
    if append:
        existing = node.get(key)
        node[key] = [*existing, value] if isinstance(existing, list) else [value]
    else:
        node[key] = value


def _key(node: Mapping[str, Any], field: FieldDescriptor) -> str:
    if field.json_name in node:
        return str(field.json_name)
    return str(field.name) if field.name in node else str(field.json_name)


def unknown_fields(document: Any, message: Descriptor, prefix: str = "") -> list[FieldViolation]:
    """A violation for every key of a JSON document that names no field of `message` (checked recursively)."""
    if not isinstance(document, dict) or message.full_name in OPAQUE_JSON_TYPES:
        return []
    violations: list[FieldViolation] = []
    for key, value in document.items():
        field = field_named(message, str(key))
        if field is None:
            violations.append(FieldViolation(f"{prefix}{key}", f"unknown field of {message.full_name}"))
            continue
        nested = field.message_type
        if nested is None:
            continue
        path = f"{prefix}{field.name}"
        if is_map(field):
            entry = nested.fields_by_name["value"].message_type
            if entry is not None and isinstance(value, dict):
                for k, v in value.items():
                    violations += unknown_fields(v, entry, f"{path}[{k}].")
        elif is_repeated(field) and isinstance(value, list):
            for i, item in enumerate(value):
                violations += unknown_fields(item, nested, f"{path}[{i}].")
        else:
            violations += unknown_fields(value, nested, f"{path}.")
    return violations
