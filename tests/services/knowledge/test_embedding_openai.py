"""The OpenAI-compatible embedder against a real HTTP server on loopback speaking the /v1/embeddings wire format."""

from __future__ import annotations

import hashlib
import math
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest
from aiohttp import web

from services.knowledge.embedding import Embedder, OpenAICompatibleEmbedder, make_embedder
from services.knowledge.errors import EmbeddingError, EmbeddingUnavailableError

API_KEY = "sk-test-key"
DIMENSIONS = 16


def bag_of_words(text: str, dimensions: int) -> list[float]:
    """A deterministic, unnormalised vector: each word adds 1 to a hashed component (plus a bias)."""
    vector = [0.01] * dimensions
    for word in text.lower().split():
        vector[int(hashlib.sha256(word.strip(".,?!").encode()).hexdigest(), 16) % dimensions] += 1.0
    return vector


@dataclass
class EmbeddingsServer:
    """A small OpenAI-compatible embeddings server; the model name picks its behaviour."""

    requests: list[dict[str, Any]] = field(default_factory=list)
    base_url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        """POST /v1/embeddings."""
        if request.headers.get("Authorization") != f"Bearer {API_KEY}":
            return web.json_response({"error": {"message": "bad key", "type": "invalid_request_error"}}, status=401)
        body = await request.json()
        self.requests.append(body)
        model = body["model"]
        if model == "overloaded":
            return web.json_response({"error": {"message": "try later", "type": "server_error"}}, status=503)
        if model == "unknown-model":
            error = {"message": f"The model `{model}` does not exist", "type": "invalid_request_error"}
            return web.json_response({"error": error}, status=404)
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        if any(not isinstance(text, str) or not text for text in inputs):
            return web.json_response({"error": {"message": "empty input", "type": "invalid_request_error"}}, status=400)
        size = body.get("dimensions", DIMENSIONS) + (1 if model == "wrong-dims" else 0)
        data = [
            {"object": "embedding", "index": index, "embedding": bag_of_words(text, size)}
            for index, text in enumerate(inputs)
        ]
        tokens = sum(len(text.split()) for text in inputs)
        # Real servers may answer out of order; the client must sort by index.
        return web.json_response(
            {
                "object": "list",
                "data": list(reversed(data)),
                "model": model,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )


@pytest.fixture
async def server() -> AsyncIterator[EmbeddingsServer]:
    """The server on a free loopback port, stopped after the test."""
    state = EmbeddingsServer()
    app = web.Application()
    app.router.add_post("/v1/embeddings", state.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    site = web.SockSite(runner, sock)
    await site.start()
    state.base_url = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    yield state
    await runner.cleanup()
    sock.close()


@pytest.fixture
async def embedder(server: EmbeddingsServer) -> AsyncIterator[OpenAICompatibleEmbedder]:
    """An embedder of the server's normal model, in batches of two, without retries."""
    built = OpenAICompatibleEmbedder(
        base_url=server.base_url, api_key=API_KEY, model="bow-16", dimensions=DIMENSIONS, batch_size=2, max_retries=0
    )
    yield built
    await built.aclose()


def norm(vector: list[float]) -> float:
    """Euclidean length."""
    return math.sqrt(math.fsum(x * x for x in vector))


async def test_vectors_come_back_in_order_normalised_and_batched(
    server: EmbeddingsServer, embedder: OpenAICompatibleEmbedder
) -> None:
    texts = ["reset password", "reset my password now", "bake a cake", "", "fifth text"]
    vectors = await embedder.embed(texts)
    assert len(vectors) == 5
    for text, vector in zip(texts, vectors, strict=True):
        expected = bag_of_words(text or " ", DIMENSIONS)
        assert vector == pytest.approx([x / norm(expected) for x in expected])
        assert norm(vector) == pytest.approx(1.0)
    assert [len(r["input"]) for r in server.requests] == [2, 2, 1]
    assert all(r["model"] == "bow-16" and r["encoding_format"] == "float" for r in server.requests)
    assert all("dimensions" not in r for r in server.requests)
    assert server.requests[1]["input"][1] == " "  # empty texts are sent as a space; the API rejects ""
    similar = sum(a * b for a, b in zip(vectors[0], vectors[1], strict=True))
    different = sum(a * b for a, b in zip(vectors[0], vectors[2], strict=True))
    assert similar > different


async def test_dimensions_are_sent_when_asked(server: EmbeddingsServer) -> None:
    embedder = make_embedder(
        "openai-compatible", base_url=server.base_url, api_key=API_KEY, model="m", dimensions=8, send_dimensions=True
    )
    try:
        assert embedder.model == "m"
        assert embedder.dimensions == 8
        assert len((await embedder.embed(["hello"]))[0]) == 8
        assert server.requests[0]["dimensions"] == 8
    finally:
        await embedder.aclose()


async def test_empty_input_makes_no_request(server: EmbeddingsServer, embedder: OpenAICompatibleEmbedder) -> None:
    assert await embedder.embed([]) == []
    assert server.requests == []


async def make(server: EmbeddingsServer, model: str, **options: Any) -> Embedder:
    """An embedder of `model` on the test server, without retries."""
    return make_embedder(
        "openai", base_url=server.base_url, model=model, dimensions=DIMENSIONS, max_retries=0, **options
    )


@pytest.mark.parametrize(
    ("model", "api_key", "error", "message"),
    [
        ("overloaded", API_KEY, EmbeddingUnavailableError, "embedding endpoint unavailable"),
        ("unknown-model", API_KEY, EmbeddingError, "answered 404"),
        ("bow-16", "wrong-key", EmbeddingError, "answered 401"),
        ("wrong-dims", API_KEY, EmbeddingError, "returned 17 dimensions, expected 16"),
    ],
)
async def test_endpoint_errors_are_mapped(
    server: EmbeddingsServer, model: str, api_key: str, error: type[EmbeddingError], message: str
) -> None:
    embedder = await make(server, model, api_key=api_key)
    try:
        with pytest.raises(error, match=message) as caught:
            await embedder.embed(["hello"])
    finally:
        await embedder.aclose()
    assert caught.value.retryable is (error is EmbeddingUnavailableError)


async def test_unreachable_endpoint_is_unavailable_and_retryable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound but not listening: connections are refused
        embedder = OpenAICompatibleEmbedder(
            base_url=f"http://127.0.0.1:{port}/v1", model="m", dimensions=4, max_retries=0, timeout_seconds=5
        )
        try:
            with pytest.raises(EmbeddingUnavailableError) as caught:
                await embedder.embed(["hello"])
        finally:
            await embedder.aclose()
    assert caught.value.retryable
    assert caught.value.code is grpc.StatusCode.UNAVAILABLE
