"""JSON Schemas (OpenAPI 3.1) of proto messages and enums in their proto3 JSON form."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from google.api import field_behavior_pb2
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor

from edge import fields

Schema = dict[str, Any]

_SCALARS: dict[int, Schema] = {
    FieldDescriptor.TYPE_STRING: {"type": "string"},
    FieldDescriptor.TYPE_BYTES: {"type": "string", "contentEncoding": "base64"},
    FieldDescriptor.TYPE_BOOL: {"type": "boolean"},
    FieldDescriptor.TYPE_FLOAT: {"type": "number", "format": "float"},
    FieldDescriptor.TYPE_DOUBLE: {"type": "number", "format": "double"},
    FieldDescriptor.TYPE_INT32: {"type": "integer", "format": "int32"},
    FieldDescriptor.TYPE_SINT32: {"type": "integer", "format": "int32"},
    FieldDescriptor.TYPE_SFIXED32: {"type": "integer", "format": "int32"},
    FieldDescriptor.TYPE_UINT32: {"type": "integer", "format": "uint32", "minimum": 0},
    FieldDescriptor.TYPE_FIXED32: {"type": "integer", "format": "uint32", "minimum": 0},
    # proto3 JSON writes 64-bit integers as strings (and reads either).
    FieldDescriptor.TYPE_INT64: {"type": "string", "format": "int64"},
    FieldDescriptor.TYPE_SINT64: {"type": "string", "format": "int64"},
    FieldDescriptor.TYPE_SFIXED64: {"type": "string", "format": "int64"},
    FieldDescriptor.TYPE_UINT64: {"type": "string", "format": "uint64"},
    FieldDescriptor.TYPE_FIXED64: {"type": "string", "format": "uint64"},
}

_WELL_KNOWN: dict[str, Schema] = {
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    "google.protobuf.Duration": {
        "type": "string",
        "pattern": r"^-?[0-9]+(\.[0-9]{1,9})?s$",
        "description": "Seconds with an `s` suffix, e.g. `3.5s`.",
    },
    "google.protobuf.FieldMask": {
        "type": "string",
        "description": "Comma-separated lowerCamelCase field paths, e.g. `displayName,config.timeZone`.",
    },
    "google.protobuf.Struct": {"type": "object"},
    "google.protobuf.Value": {},
    "google.protobuf.ListValue": {"type": "array"},
    "google.protobuf.Empty": {"type": "object"},
    "google.protobuf.Any": {
        "type": "object",
        "properties": {"@type": {"type": "string"}},
        "required": ["@type"],
        "additionalProperties": True,
    },
}


def ref(name: str) -> Schema:
    """A reference to a component schema."""
    return {"$ref": f"#/components/schemas/{name}"}


class SchemaBuilder:
    """Collects the component schemas that the operations reference, each built once."""

    def __init__(self, comments: Mapping[str, str]) -> None:
        self.comments = comments
        self.components: dict[str, Schema] = {}

    def message(self, message: Descriptor) -> Schema:
        """A schema for `message`: inline for well-known types, else a reference to its component."""
        known = _WELL_KNOWN.get(message.full_name)
        if known is not None:
            return dict(known)
        if message.full_name.startswith("google.protobuf.") and message.name.endswith("Value"):
            return {**self.field(message.fields_by_name["value"]), "description": "May be null."}
        if message.full_name not in self.components:
            self.components[message.full_name] = {}  # placeholder first: messages can refer to themselves
            self.components[message.full_name] = self._object(message)
        return ref(message.full_name)

    def enum(self, enum: EnumDescriptor) -> Schema:
        """A reference to the string enum component of `enum` (values by name)."""
        if enum.full_name not in self.components:
            described = [
                f"- `{v.name}`: {self.comments[f'{enum.full_name}.{v.name}']}"
                for v in enum.values
                if f"{enum.full_name}.{v.name}" in self.comments
            ]
            text = "\n".join([self.comments.get(enum.full_name, ""), *described]).strip()
            self.components[enum.full_name] = _described(
                {"type": "string", "enum": [v.name for v in enum.values]}, text
            )
        return ref(enum.full_name)

    def field(self, field: FieldDescriptor) -> Schema:
        """The schema of one field's JSON value (arrays and maps included)."""
        entry = field.message_type
        if entry is not None and fields.is_map(field):
            value = entry.fields_by_name["value"]
            return {"type": "object", "additionalProperties": self.field(value)}
        if field.message_type is not None:
            single = self.message(field.message_type)
        elif field.enum_type is not None:
            single = self.enum(field.enum_type)
        else:
            single = dict(_SCALARS[field.type])
        return {"type": "array", "items": single} if fields.is_repeated(field) else single

    def property(self, field: FieldDescriptor) -> Schema:
        """A field's schema with its comment and field behaviour (readOnly/writeOnly)."""
        schema = self.field(field)
        behaviours = set(field.GetOptions().Extensions[field_behavior_pb2.field_behavior])
        if field_behavior_pb2.OUTPUT_ONLY in behaviours:
            schema["readOnly"] = True
        if field_behavior_pb2.INPUT_ONLY in behaviours:
            schema["writeOnly"] = True
        text = self.comments.get(field.full_name, "")
        if field.containing_oneof is not None:
            others = [f.json_name for f in field.containing_oneof.fields if f is not field]
            text = f"{text}\n\nOne of `{field.containing_oneof.name}`; excludes {', '.join(others)}.".strip()
        if field_behavior_pb2.IMMUTABLE in behaviours:
            text = f"{text}\n\nImmutable: set on create only.".strip()
        return _described(schema, text)

    def _object(self, message: Descriptor, skip: frozenset[str] = frozenset()) -> Schema:
        properties = {f.json_name: self.property(f) for f in message.fields if f.name not in skip}
        required = [
            f.json_name
            for f in message.fields
            if f.name not in skip
            and field_behavior_pb2.REQUIRED in f.GetOptions().Extensions[field_behavior_pb2.field_behavior]
        ]
        schema: Schema = {"type": "object", "properties": properties}
        if required:
            schema["required"] = required
        return _described(schema, self.comments.get(message.full_name, ""))

    def inline_object(self, message: Descriptor, skip: frozenset[str]) -> Schema:
        """The message's object schema without the `skip` fields (those the path or headers fill)."""
        return self._object(message, skip)


def _described(schema: Schema, text: str) -> Schema:
    if text:
        schema["description"] = text
    return schema
