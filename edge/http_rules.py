"""Reads the google.api.http rules of every service into bindings the router and OpenAPI share."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from google.api import annotations_pb2, http_pb2
from google.protobuf import message, message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor, ServiceDescriptor

from avatarchat.policy.v1 import policy_pb2
from edge import fields
from edge.catalog import UpstreamService
from edge.path_template import PathTemplate, parse

_VERBS = ("get", "put", "post", "delete", "patch")


class RuleError(ValueError):
    """An http rule of a contract cannot be served (bad template, unknown body field, ...)."""


@dataclass(frozen=True)
class HeaderBinding:
    """A request field the edge fills from an HTTP header rather than from the path, query or body."""

    field: str
    """Field path in the request message."""
    header: str
    """Lower-case header name."""
    default_only: bool
    """True: the header only fills the field when the query left it unset."""


#: Request fields that come from headers, by method; data, so no route is written by hand.
HEADER_BINDINGS: dict[str, tuple[HeaderBinding, ...]] = {
    # Stripe signs the raw body; its signature travels in this header (billing.proto).
    "avatarchat.billing.v1.BillingService.HandleStripeWebhook": (
        HeaderBinding("signature", "stripe-signature", default_only=False),
    ),
    # An upload's size defaults to the body's length (avatar.proto).
    "avatarchat.avatar.v1.AvatarService.UploadAvatar": (
        HeaderBinding("metadata.size_bytes", "content-length", default_only=True),
    ),
}


@dataclass(frozen=True)
class HttpBinding:
    """One HTTP verb and path of one RPC (a rule or one of its additional bindings)."""

    upstream: str
    service: ServiceDescriptor
    method: MethodDescriptor
    http_method: str
    template: PathTemplate
    body: str
    """``, `*` or the name of the top-level request field the body fills."""
    response_body: str
    """`` (the whole response) or the response field returned alone."""
    index: int
    """0 for the rule itself, 1.. for its additional bindings."""
    request_class: type[message.Message]
    response_class: type[message.Message]
    policy: policy_pb2.MethodPolicy
    path_fields: tuple[fields.Chain, ...]
    headers: tuple[HeaderBinding, ...] = field(default=())

    @property
    def rpc_path(self) -> str:
        """The gRPC method path, `/avatarchat.tenant.v1.TenantService/GetTenant`."""
        return f"/{self.service.full_name}/{self.method.name}"

    @property
    def body_field(self) -> FieldDescriptor | None:
        """The request field the body fills, when `body` names one."""
        if self.body in ("", "*"):
            return None
        return self.method.input_type.fields_by_name[self.body]

    @property
    def raw_body(self) -> bool:
        """Whether the body is passed byte for byte into a `bytes` field (webhooks, uploads)."""
        body = self.body_field
        return body is not None and body.type == FieldDescriptor.TYPE_BYTES

    @property
    def response_field(self) -> FieldDescriptor | None:
        """The response field returned alone, when `response_body` names one."""
        return self.method.output_type.fields_by_name[self.response_body] if self.response_body else None


def bindings_of(services: Sequence[UpstreamService]) -> list[HttpBinding]:
    """Every binding of every method with an http rule, in service and method order."""
    out: list[HttpBinding] = []
    for svc in services:
        for method in svc.descriptor.methods:
            options = method.GetOptions()
            if not options.HasExtension(annotations_pb2.http):
                continue
            rule: http_pb2.HttpRule = options.Extensions[annotations_pb2.http]
            rules = [rule, *rule.additional_bindings]
            out += [binding_of(svc, method, r, i) for i, r in enumerate(rules)]
    return out


def binding_of(svc: UpstreamService, method: MethodDescriptor, rule: http_pb2.HttpRule, index: int = 0) -> HttpBinding:
    """The binding of one rule of `method`; raises RuleError when the edge could not serve it."""
    policy: policy_pb2.MethodPolicy = method.GetOptions().Extensions[policy_pb2.policy]
    where = f"{method.full_name} binding {index}"
    pattern = rule.WhichOneof("pattern")
    if pattern is None:
        raise RuleError(f"{where}: no HTTP pattern")
    if pattern == "custom":
        verb, path = rule.custom.kind.upper(), rule.custom.path
    else:
        verb, path = pattern.upper(), getattr(rule, pattern)
    if pattern not in (*_VERBS, "custom"):
        raise RuleError(f"{where}: unknown pattern {pattern}")
    try:
        template = parse(path)
    except ValueError as exc:
        raise RuleError(f"{where}: {exc}") from None
    request, response = method.input_type, method.output_type
    path_fields = tuple(_path_field(request, f, where) for f in template.variables)
    if rule.body not in ("", "*") and rule.body not in request.fields_by_name:
        raise RuleError(f"{where}: body {rule.body!r} is not a field of {request.full_name}")
    if rule.response_body and rule.response_body not in response.fields_by_name:
        raise RuleError(f"{where}: response_body {rule.response_body!r} is not a field of {response.full_name}")
    headers = HEADER_BINDINGS.get(method.full_name, ())
    for header in headers:
        _path_field(request, header.field, where)
    return HttpBinding(
        upstream=svc.upstream,
        service=svc.descriptor,
        method=method,
        http_method=verb,
        template=template,
        body=rule.body,
        response_body=rule.response_body,
        index=index,
        request_class=message_factory.GetMessageClass(request),
        response_class=message_factory.GetMessageClass(response),
        policy=policy,
        path_fields=path_fields,
        headers=headers,
    )


def _path_field(request: Descriptor, path: str, where: str) -> fields.Chain:
    try:
        chain = fields.resolve(request, path)
    except KeyError as exc:
        raise RuleError(f"{where}: {path!r} has no field {exc.args[0]!r} in {request.full_name}") from None
    last = chain[-1]
    if fields.is_repeated(last) or not fields.is_query_leaf(last):
        raise RuleError(f"{where}: {path!r} must be a singular scalar field")
    return chain
