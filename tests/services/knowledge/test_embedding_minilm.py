"""The local all-MiniLM-L6-v2 embedder with the real model (loaded once per session)."""

from __future__ import annotations

import asyncio
import math

import pytest

from services.knowledge import minilm as minilm_module
from services.knowledge.embedding import Embedder, MiniLmEmbedder, make_embedder
from services.knowledge.errors import EmbeddingConfigError


def cosine(a: list[float], b: list[float]) -> float:
    """Cosine similarity of two unit vectors."""
    return math.fsum(x * y for x, y in zip(a, b, strict=True))


async def test_vectors_have_384_dimensions_and_unit_length(minilm_embedder: MiniLmEmbedder) -> None:
    vectors = await minilm_embedder.embed(["How do I reset my password?", "", "Ünïcödé and emoji 🚀"])
    assert minilm_embedder.model == "offline-minilm-l6"
    assert minilm_embedder.dimensions == 384
    assert len(vectors) == 3
    for vector in vectors:
        assert len(vector) == 384
        assert math.isclose(math.sqrt(math.fsum(x * x for x in vector)), 1.0, abs_tol=1e-5)


async def test_related_sentences_score_higher_than_unrelated_ones(minilm_embedder: MiniLmEmbedder) -> None:
    query, related, unrelated = await minilm_embedder.embed(
        [
            "How can I reset my forgotten password?",
            "Steps to recover access when you lost your login password.",
            "The recipe needs two eggs and a cup of flour.",
        ]
    )
    assert cosine(query, related) > 0.5
    assert cosine(query, related) > cosine(query, unrelated) + 0.3


async def test_batches_keep_order_and_match_single_embeddings(minilm_embedder: MiniLmEmbedder) -> None:
    texts = [f"Invoice number {i} is due in {i % 7} days." for i in range(70)]
    batched = await MiniLmEmbedder(batch_size=16).embed(texts)
    assert len(batched) == 70
    for index in (0, 33, 69):
        single = (await minilm_embedder.embed([texts[index]]))[0]
        assert cosine(single, batched[index]) > 0.9999


async def test_empty_input_embeds_nothing(minilm_embedder: MiniLmEmbedder) -> None:
    assert await minilm_embedder.embed([]) == []


async def test_the_event_loop_keeps_running_while_the_model_computes(minilm_embedder: MiniLmEmbedder) -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
            ticks += 1

    task = asyncio.create_task(ticker())
    try:
        await minilm_embedder.embed([f"A longer sentence about topic {i} to keep the model busy." for i in range(64)])
    finally:
        task.cancel()
    assert ticks >= 3


async def test_the_model_is_loaded_once_per_process(minilm_embedder: MiniLmEmbedder) -> None:
    other = make_embedder("MiniLM", batch_size=8, threads=1)
    assert isinstance(other, MiniLmEmbedder)
    await other.load()
    first = minilm_module._model()
    loaded = await asyncio.gather(*(asyncio.to_thread(minilm_module._model) for _ in range(4)))
    assert all(model is first for model in loaded)
    # One thread or two only changes the order of float sums.
    assert cosine((await other.embed(["same model"]))[0], (await minilm_embedder.embed(["same model"]))[0]) > 0.99999


def test_minilm_satisfies_the_protocol() -> None:
    embedder: Embedder = MiniLmEmbedder()
    assert embedder.dimensions == 384


@pytest.mark.parametrize(
    ("kind", "options", "message"),
    [
        ("word2vec", {}, "unknown embedder kind 'word2vec'"),
        ("minilm", {"batch_size": 0, "threads": 2}, "must be positive"),
        ("minilm", {"device": "cuda"}, "wrong options for the minilm embedder"),
        ("openai", {"model": "m", "dimensions": 8}, "wrong options for the openai embedder"),
        ("openai", {"base_url": "http://127.0.0.1:1/v1", "model": "", "dimensions": 8}, "needs a base_url"),
    ],
)
def test_make_embedder_rejects_bad_configuration(kind: str, options: dict[str, object], message: str) -> None:
    with pytest.raises(EmbeddingConfigError, match=message):
        make_embedder(kind, **options)
