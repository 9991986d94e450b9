"""Raw request bodies: a client-streaming upload cut into chunks, and a Stripe webhook passed byte for byte."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest

from avatarchat.avatar.v1 import avatar_pb2, avatar_pb2_grpc
from avatarchat.billing.v1 import billing_pb2, billing_pb2_grpc
from services.runtime import errors, status
from tests.edge.conftest import RunningEdge, edge_settings_for, serve_edge
from tests.services.conftest import Stack


@dataclass
class Seen:
    """What the fakes received."""

    uploads: list[tuple[avatar_pb2.UploadAvatarMetadata, list[bytes]]] = field(default_factory=list)
    webhooks: list[billing_pb2.HandleStripeWebhookRequest] = field(default_factory=list)


class FakeAvatars(avatar_pb2_grpc.AvatarServiceServicer):
    """Collects an upload and answers with an avatar that describes it."""

    def __init__(self, seen: Seen) -> None:
        self.seen = seen

    async def UploadAvatar(
        self,
        request_iterator: AsyncIterator[avatar_pb2.UploadAvatarRequest],
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> avatar_pb2.UploadAvatarResponse:
        """Checks the message order the contract asks for; then returns the size and hash it saw."""
        metadata: avatar_pb2.UploadAvatarMetadata | None = None
        chunks: list[bytes] = []
        async for message in request_iterator:
            if message.HasField("metadata"):
                if metadata is not None or chunks:
                    await context.abort_with_status(
                        status.to_status(errors.InvalidArgument.field("metadata", "only first"), "avatarchat.avatar")
                    )
                metadata = message.metadata
            else:
                chunks.append(message.chunk)
        assert metadata is not None
        self.seen.uploads.append((metadata, chunks))
        data = b"".join(chunks)
        if len(data) != metadata.size_bytes:
            await context.abort_with_status(
                status.to_status(errors.InvalidArgument.field("size_bytes", "does not match"), "avatarchat.avatar")
            )
        return avatar_pb2.UploadAvatarResponse(
            avatar=avatar_pb2.Avatar(
                name=f"{metadata.parent}/avatars/a1",
                display_name=metadata.display_name,
                filename=metadata.filename,
                original_size_bytes=len(data),
                content_sha256=hashlib.sha256(data).hexdigest(),
            )
        )


class FakeBilling(billing_pb2_grpc.BillingServiceServicer):
    """Accepts a webhook whose signature is `t=1,v1=ok`."""

    def __init__(self, seen: Seen) -> None:
        self.seen = seen

    async def HandleStripeWebhook(
        self, request: billing_pb2.HandleStripeWebhookRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> billing_pb2.HandleStripeWebhookResponse:
        """Records the request; a wrong signature is UNAUTHENTICATED, as billing.proto says."""
        self.seen.webhooks.append(request)
        if request.signature != "t=1,v1=ok":
            await context.abort_with_status(
                status.to_status(errors.Unauthenticated("bad signature"), "avatarchat.billing")
            )
        return billing_pb2.HandleStripeWebhookResponse(
            event_id="evt_1", event_type="invoice.paid", outcome=billing_pb2.WEBHOOK_OUTCOME_PROCESSED
        )


@dataclass
class RawEdge:
    """The edge with `avatar` and `billing` routed to the fakes."""

    edge: RunningEdge
    seen: Seen


@pytest.fixture(scope="module")
async def raw(stack: Stack) -> AsyncIterator[RawEdge]:
    """The fakes on one real grpc.aio server, and an edge in front of them."""
    seen = Seen()
    server = grpc.aio.server()
    # The fakes implement only the RPCs under test.
    avatar_pb2_grpc.add_AvatarServiceServicer_to_server(FakeAvatars(seen), server)  # type: ignore[abstract]
    billing_pb2_grpc.add_BillingServiceServicer_to_server(FakeBilling(seen), server)  # type: ignore[abstract]
    address = f"127.0.0.1:{server.add_insecure_port('127.0.0.1:0')}"
    await server.start()
    settings = edge_settings_for(stack.settings, service_addresses={"avatar": address, "billing": address})
    try:
        async with serve_edge(settings) as running:
            yield RawEdge(running, seen)
    finally:
        await server.stop(0)


async def test_upload_sends_metadata_then_64k_chunks_of_the_raw_body(raw: RawEdge) -> None:
    data = bytes(range(256)) * 800  # 204,800 bytes
    response = await raw.edge.http.post(
        "/v1/tenants/t1/avatars:upload",
        params={"filename": "robot.glb", "metadata.displayName": "Robot"},
        content=data,
        headers={"content-type": "model/gltf-binary"},
    )
    assert response.status_code == 200, response.text
    avatar = response.json()  # response_body "avatar"
    assert avatar["name"] == "tenants/t1/avatars/a1"
    assert avatar["contentSha256"] == hashlib.sha256(data).hexdigest()
    assert avatar["originalSizeBytes"] == str(len(data))
    metadata, chunks = raw.seen.uploads[-1]
    assert (metadata.parent, metadata.filename, metadata.display_name) == ("tenants/t1", "robot.glb", "Robot")
    assert metadata.size_bytes == len(data)  # from Content-Length
    assert max(len(c) for c in chunks) == 64 * 1024
    assert b"".join(chunks) == data


async def test_upload_size_from_the_query_wins_and_the_service_checks_it(raw: RawEdge) -> None:
    response = await raw.edge.http.post(
        "/v1/tenants/t1/avatars:upload", params={"filename": "a.glb", "sizeBytes": "3"}, content=b"four"
    )
    assert response.status_code == 400
    assert response.json()["error"]["details"][1]["fieldViolations"][0]["field"] == "size_bytes"
    chunk = await raw.edge.http.post("/v1/tenants/t1/avatars:upload", params={"chunk": "AAAA"}, content=b"x")
    assert chunk.status_code == 400
    assert "request body" in chunk.json()["error"]["message"]


async def test_stripe_webhook_gets_the_exact_bytes_and_the_signature_header(raw: RawEdge) -> None:
    payload = b'{ "id": "evt_1",\n  "type": "invoice.paid" }  '
    ok = await raw.edge.http.post(
        "/v1/billing/stripe:webhook",
        content=payload,
        headers={"content-type": "application/json", "stripe-signature": "t=1,v1=ok"},
    )
    assert ok.status_code == 200, ok.text
    assert ok.json() == {"eventId": "evt_1", "eventType": "invoice.paid", "outcome": "WEBHOOK_OUTCOME_PROCESSED"}
    received = raw.seen.webhooks[-1]
    assert received.payload == payload
    assert received.signature == "t=1,v1=ok"
    forged = await raw.edge.http.post("/v1/billing/stripe:webhook", content=payload, params={"signature": "t=1,v1=ok"})
    assert forged.status_code == 400
    assert forged.json()["error"]["details"][1]["fieldViolations"][0]["field"] == "signature"
    unsigned = await raw.edge.http.post("/v1/billing/stripe:webhook", content=payload)
    assert unsigned.status_code == 401
