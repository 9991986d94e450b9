"""Composition root of the avatar service: database, object store, broker, jobs and the servicer."""

from __future__ import annotations

from avatarchat.avatar.v1 import avatar_pb2, avatar_pb2_grpc
from avatarchat.tenant.v1 import tenant_pb2, tenant_pb2_grpc
from services.avatar.jobs import AvatarJobs
from services.avatar.platform_default import install_default_avatar
from services.avatar.servicer import AvatarServicer
from services.avatar.settings import AvatarSettings
from services.avatar.store import SCHEMA, AvatarStore
from services.avatar.uploads import Uploads
from services.runtime.bus import Bus
from services.runtime.clients import Clients
from services.runtime.db import Database
from services.runtime.object_store import open_object_store
from services.runtime.outbox import OutboxRelay
from services.runtime.pagination import PageTokens
from services.runtime.quota import PlanQuota
from services.runtime.remote_auth import remote_authenticator
from services.runtime.server import HostedService, ServiceHost, build_host, run
from services.runtime.tokens import ServiceTokens

NAME = "avatar"
SETTINGS = AvatarSettings


async def build(settings: AvatarSettings, *, port: int | None = None) -> ServiceHost:
    """Opens database, object store, broker and clients, stores the default avatar and wires the servicer."""
    secret = settings.resolved_internal_secret()
    tokens = ServiceTokens(secret, NAME)
    objects = open_object_store(settings)
    db = await Database.connect(settings, NAME)
    clients = Clients(settings)
    bus: Bus | None = None
    relay: OutboxRelay | None = None
    try:
        store = AvatarStore(db)
        default_avatar = await install_default_avatar(store, objects)
        quota = PlanQuota(
            tenant_pb2_grpc.TenantServiceStub(clients.channel("tenant")),
            tokens,
            tenant_pb2.LIMIT_KIND_STORAGE_BYTES,
            settings.avatar_dependency_timeout_seconds,
        )
        bus = await Bus.connect(settings.amqp_url)
        relay = OutboxRelay(db, bus, SCHEMA, poll_seconds=settings.outbox_poll_seconds)
        await relay.start()
        jobs = AvatarJobs(store, objects, preview_size=settings.avatar_preview_size)
        if settings.avatar_jobs_enabled:
            await jobs.start(bus, settings.avatar_queue_prefix)
    except BaseException:
        if relay is not None:
            await relay.stop()
        if bus is not None:
            await bus.close()
        await clients.close()
        await db.close()
        raise
    servicer = AvatarServicer(
        store,
        objects=objects,
        uploads=Uploads(store, objects, quota),
        quota=quota,
        page_tokens=PageTokens(secret),
        default_avatar=default_avatar,
    )
    service = HostedService(
        avatar_pb2.DESCRIPTOR.services_by_name["AvatarService"],
        lambda server: avatar_pb2_grpc.add_AvatarServiceServicer_to_server(servicer, server),
    )
    host = build_host(NAME, settings, [service], remote_authenticator(clients, tokens), port=port)
    # Closed in reverse: consumers and relay stop before the broker and database they use.
    host.closers += [clients.close, db.close, bus.close, relay.stop, jobs.stop]
    return host


def main() -> None:
    """Runs the avatar service until SIGTERM."""
    run(NAME, build, AvatarSettings())
