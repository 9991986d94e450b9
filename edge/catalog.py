"""Finds every avatarchat gRPC service in the generated package, and which upstream serves it."""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass

from google.protobuf import descriptor

import avatarchat


@dataclass(frozen=True)
class UpstreamService:
    """One gRPC service and the name of the upstream (service map entry) that serves it."""

    upstream: str
    """`tenant` for `avatarchat.tenant.v1.TenantService`."""
    descriptor: descriptor.ServiceDescriptor


def upstream_of(service: descriptor.ServiceDescriptor) -> str:
    """The service map name of a service: the middle of its `avatarchat.<name>.v1` package."""
    parts = service.file.package.split(".")
    if len(parts) != 3 or parts[0] != "avatarchat":
        raise ValueError(f"not an avatarchat package: {service.file.package}")
    return parts[1]


def load_services() -> list[UpstreamService]:
    """Imports every `avatarchat.<svc>.v1.*_pb2` module and returns their services, sorted by name."""
    found: dict[str, UpstreamService] = {}
    for info in pkgutil.walk_packages(avatarchat.__path__, prefix="avatarchat."):
        if not info.name.endswith("_pb2"):
            continue
        module = importlib.import_module(info.name)
        file: descriptor.FileDescriptor = module.DESCRIPTOR
        for service in file.services_by_name.values():
            found[service.full_name] = UpstreamService(upstream_of(service), service)
    return [found[name] for name in sorted(found)]
