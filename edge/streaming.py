"""Server streams out as Server-Sent Events or NDJSON; client streams in from the raw request body.

SSE sends each message as `data: <json>` (with an `id:`), and an error after the first message as a
final `event: error` whose data is the JSON error body. NDJSON wraps each line as grpc-gateway does,
`{"result": <message>}` and finally `{"error": ...}`, because a message may itself have an `error` field
(SendMessageResponse does). An error before the first message is an ordinary HTTP error response.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any

import grpc
from google.protobuf.message import Message
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from edge import errors, transcode
from edge.http_rules import HttpBinding

log = logging.getLogger(__name__)

SSE = "text/event-stream"
NDJSON = "application/x-ndjson"
STREAM_HEADERS = {"cache-control": "no-store", "x-accel-buffering": "no"}


def wants_ndjson(accept: str) -> bool:
    """Whether the Accept header asks for NDJSON rather than the default SSE."""
    return NDJSON in accept or "application/jsonl" in accept


class _Encoder:
    """Frames messages and the final error for one of the two formats."""

    def __init__(self, ndjson: bool) -> None:
        self.ndjson = ndjson
        self.media_type = NDJSON if ndjson else SSE
        self._sequence = 0

    def message(self, document: Any) -> bytes:
        if self.ndjson:
            return transcode.dumps({"result": document}) + b"\n"
        self._sequence += 1
        return b"id: %d\ndata: %s\n\n" % (self._sequence, transcode.dumps(document))

    def error(self, body: dict[str, Any]) -> bytes:
        if self.ndjson:
            return transcode.dumps(body) + b"\n"
        return b"event: error\ndata: %s\n\n" % transcode.dumps(body)


async def server_stream(
    call: grpc.aio.UnaryStreamCall[Message, Message],
    binding: HttpBinding,
    accept: str,
    emit_unpopulated: bool,
    headers: Mapping[str, str],
) -> Response:
    """Waits for the first message (so early failures keep their HTTP status), then streams the rest."""
    encoder = _Encoder(wants_ndjson(accept))
    try:
        first = await call.read()
    except grpc.aio.AioRpcError as exc:
        status, body = errors.from_rpc_error(exc)
        return Response(transcode.dumps(body), status, headers=dict(headers), media_type="application/json")

    async def frames() -> AsyncIterator[bytes]:
        item = first
        try:
            while item is not grpc.aio.EOF:
                assert isinstance(item, Message)
                yield encoder.message(transcode.response_json(binding, item, emit_unpopulated))
                item = await call.read()
        except grpc.aio.AioRpcError as exc:
            yield encoder.error(errors.from_rpc_error(exc)[1])
        finally:
            # The client went away (or we are done): stop the upstream work too.
            call.cancel()

    return StreamingResponse(frames(), headers={**headers, **STREAM_HEADERS}, media_type=encoder.media_type)


async def request_chunks(
    request: Request, binding: HttpBinding, first: Message, chunk_bytes: int, limit: int
) -> AsyncIterator[Message]:
    """The first (metadata) message, then the raw body re-cut into `chunk_bytes` pieces in the body field."""
    yield first
    pending = bytearray()
    total = 0
    async for piece in request.stream():
        total += len(piece)
        if total > limit:
            # Ending the stream early makes the service answer INVALID_ARGUMENT on the size mismatch.
            log.warning("upload over the edge limit", extra={"limit": limit})
            return
        pending += piece
        while len(pending) >= chunk_bytes:
            yield _chunk(binding, bytes(pending[:chunk_bytes]))
            del pending[:chunk_bytes]
    if pending:
        yield _chunk(binding, bytes(pending))


def _chunk(binding: HttpBinding, data: bytes) -> Message:
    message = binding.request_class()
    setattr(message, binding.body, data)
    return message
