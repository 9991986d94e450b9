"""The one endpoint behind every `/v1/` path: match a binding, transcode, call the RPC, answer."""

from __future__ import annotations

import logging
import time
import uuid

import grpc
from starlette.requests import Request
from starlette.responses import Response

from edge import errors, streaming, transcode
from edge.errors import EdgeError
from edge.forwarding import call_metadata
from edge.middleware import UPSTREAM_SECONDS
from edge.routes import RouteMatch
from edge.state import EdgeState

log = logging.getLogger(__name__)

HTTP_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
#: Answers carry tenants' data; shared caches must not keep them.
_NO_STORE = {"cache-control": "no-store"}


def json_response(document: object, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A compact JSON answer that no cache keeps."""
    return Response(transcode.dumps(document), status, {**_NO_STORE, **(headers or {})}, "application/json")


def error_response(error: EdgeError) -> Response:
    """The JSON error body of an error the edge raised itself."""
    return json_response(error.body(), error.http_status, error.headers)


async def handle(request: Request) -> Response:
    """Serves any REST request for which the contracts have an http rule."""
    edge: EdgeState = request.app.state.edge
    raw_path = request.scope.get("raw_path", b"").decode("latin-1") or request.url.path
    try:
        match = edge.router.match(request.method, raw_path)
        if match is None:
            raise _no_route(edge, request.method, raw_path)
        return await _serve(edge, request, match)
    except EdgeError as exc:
        return error_response(exc)
    except grpc.aio.AioRpcError as exc:
        status, body = errors.from_rpc_error(exc)
        return json_response(body, status)
    except Exception:
        log.exception("unexpected error serving a REST request")
        internal = EdgeError(grpc.StatusCode.INTERNAL, errors.INTERNAL_MESSAGE, reason="INTERNAL")
        return error_response(internal)


def _no_route(edge: EdgeState, method: str, raw_path: str) -> EdgeError:
    allowed = edge.router.allowed_methods(raw_path)
    if allowed:
        return EdgeError(
            grpc.StatusCode.UNIMPLEMENTED,
            f"{method} is not allowed on {raw_path}; use {', '.join(allowed)}",
            reason="METHOD_NOT_ALLOWED",
            metadata={"allowed": ",".join(allowed)},
            http_status=405,
            headers={"allow": ", ".join(allowed)},
        )
    return EdgeError(
        grpc.StatusCode.NOT_FOUND, f"no API route {raw_path}", reason="RESOURCE_NOT_FOUND", metadata={"path": raw_path}
    )


async def _serve(edge: EdgeState, request: Request, match: RouteMatch) -> Response:
    settings = edge.settings
    binding = match.binding
    request_id = getattr(request.state, "request_id", "") or uuid.uuid4().hex
    client = request.client.host if request.client else ""
    metadata = call_metadata(request.headers, request_id, client)
    query = request.query_params.multi_items()
    method = binding.method
    if method.client_streaming:
        if method.server_streaming or not binding.raw_body:
            raise EdgeError(
                grpc.StatusCode.UNIMPLEMENTED,
                f"{method.full_name} cannot be called over REST",
                reason="NOT_AVAILABLE_OVER_REST",
            )
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > settings.max_upload_bytes:
            raise transcode.too_large(settings.max_upload_bytes)
        first = transcode.build_request(binding, match.captures, query, request.headers, None)
        chunks = streaming.request_chunks(
            request, binding, first, settings.upload_chunk_bytes, settings.max_upload_bytes
        )
        answer = await edge.upstreams.client_stream(binding)(
            chunks, metadata=metadata, timeout=settings.upload_timeout_seconds
        )
        return json_response(transcode.response_json(binding, answer, settings.json_emit_unpopulated))
    body = await transcode.read_body(request, settings.max_json_body_bytes)
    message = transcode.build_request(binding, match.captures, query, request.headers, body)
    if method.server_streaming:
        call = edge.upstreams.server_stream(binding)(
            message, metadata=metadata, timeout=settings.stream_timeout_seconds
        )
        accept = request.headers.get("accept", "")
        return await streaming.server_stream(call, binding, accept, settings.json_emit_unpopulated, _NO_STORE)
    started = time.perf_counter()
    try:
        answer = await edge.upstreams.unary(binding)(message, metadata=metadata, timeout=settings.call_timeout_seconds)
    finally:
        setattr(request.state, UPSTREAM_SECONDS, time.perf_counter() - started)
    return json_response(transcode.response_json(binding, answer, settings.json_emit_unpopulated))
