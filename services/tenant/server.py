"""Composition root of the tenant service."""

from __future__ import annotations

from avatarchat.auth.v1 import auth_pb2_grpc
from avatarchat.tenant.v1 import tenant_pb2, tenant_pb2_grpc
from services.runtime.clients import Clients
from services.runtime.db import Database
from services.runtime.pagination import PageTokens
from services.runtime.remote_auth import remote_authenticator
from services.runtime.server import HostedService, ServiceHost, build_host, run
from services.runtime.tokens import ServiceTokens
from services.tenant.provisioning import Provisioner
from services.tenant.servicer import TenantServicer
from services.tenant.settings import TenantSettings
from services.tenant.store import TenantStore

NAME = "tenant"
SETTINGS = TenantSettings


async def build(settings: TenantSettings, *, port: int | None = None) -> ServiceHost:
    """Opens the database and clients and wires the servicer; the host is not started yet."""
    secret = settings.resolved_internal_secret()
    tokens = ServiceTokens(secret, NAME)
    db = await Database.connect(settings, NAME)
    clients = Clients(settings)
    store = TenantStore(db)
    shards = {"default", *settings.shard_urls}
    await store.register_shards(shards)
    provisioner = Provisioner(store, auth_pb2_grpc.AuthServiceStub(clients.channel("auth")), tokens)
    servicer = TenantServicer(settings, store, provisioner, PageTokens(secret), shards)
    service = HostedService(
        tenant_pb2.DESCRIPTOR.services_by_name["TenantService"],
        lambda server: tenant_pb2_grpc.add_TenantServiceServicer_to_server(servicer, server),
    )
    host = build_host(NAME, settings, [service], remote_authenticator(clients, tokens), port=port)
    host.closers += [clients.close, db.close]
    return host


def main() -> None:
    """Runs the tenant service until SIGTERM."""
    run(NAME, build, TenantSettings())
