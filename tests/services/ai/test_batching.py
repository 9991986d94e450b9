"""BatchingEmbedder: concurrent callers share model calls and each gets its own vectors, failures included."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from services.ai.batching import BatchingEmbedder
from services.ai.hashed_words import HashedWordsEmbedder


class GatedEmbedder:
    """A real embedder whose calls are recorded and wait for the test to open the gate."""

    def __init__(self, fail_on: str = "") -> None:
        self.inner = HashedWordsEmbedder()
        self.calls: list[list[str]] = []
        self.gate = asyncio.Event()
        self._fail_on = fail_on

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        self.calls.append(list(texts))
        await self.gate.wait()
        if self._fail_on in texts:
            raise RuntimeError(f"cannot embed {self._fail_on!r}")
        return await self.inner.embed(texts)


async def test_callers_arriving_while_a_batch_runs_share_the_next_one_and_get_their_own_vectors() -> None:
    gated = GatedEmbedder()
    batching = BatchingEmbedder(gated)
    first = asyncio.create_task(batching.embed(["opening hours"]))
    await asyncio.sleep(0)
    later = [asyncio.create_task(batching.embed([f"question {i}", "opening hours"])) for i in range(10)]
    await asyncio.sleep(0)
    gated.gate.set()
    results = await asyncio.gather(first, *later)

    assert gated.calls[0] == ["opening hours"]
    assert len(gated.calls) == 2, "the ten callers that waited share one call"
    assert sorted(gated.calls[1]) == sorted({"opening hours", *(f"question {i}" for i in range(10))})
    expected = await HashedWordsEmbedder().embed(["opening hours", *(f"question {i}" for i in range(10))])
    assert results[0] == [expected[0]]
    for i, result in enumerate(results[1:]):
        assert result == [expected[i + 1], expected[0]]


async def test_a_failing_batch_fails_each_of_its_callers_and_the_next_batch_still_runs() -> None:
    gated = GatedEmbedder(fail_on="poison")
    batching = BatchingEmbedder(gated)
    blocker = asyncio.create_task(batching.embed(["first"]))
    await asyncio.sleep(0)
    doomed = [asyncio.create_task(batching.embed([t])) for t in ("poison", "innocent")]
    await asyncio.sleep(0)
    gated.gate.set()
    assert len(await blocker) == 1
    for task in doomed:
        with pytest.raises(RuntimeError, match="poison"):
            await task
    assert await batching.embed(["afterwards"]) == await HashedWordsEmbedder().embed(["afterwards"])


async def test_a_caller_that_goes_away_does_not_hold_up_or_break_the_others() -> None:
    gated = GatedEmbedder()
    batching = BatchingEmbedder(gated)
    blocker = asyncio.create_task(batching.embed(["first"]))
    await asyncio.sleep(0)
    leaving = asyncio.create_task(batching.embed(["leaving"]))
    staying = asyncio.create_task(batching.embed(["staying"]))
    await asyncio.sleep(0)
    leaving.cancel()
    gated.gate.set()
    await blocker
    assert await staying == await HashedWordsEmbedder().embed(["staying"])
    assert gated.calls[1] == ["staying"]
    assert await batching.embed([]) == []


async def test_batches_stop_at_the_size_limit() -> None:
    gated = GatedEmbedder()
    batching = BatchingEmbedder(gated, max_texts=4)
    blocker = asyncio.create_task(batching.embed(["first"]))
    await asyncio.sleep(0)
    rest = [asyncio.create_task(batching.embed([f"t{i}", f"u{i}"])) for i in range(4)]
    await asyncio.sleep(0)
    gated.gate.set()
    await asyncio.gather(blocker, *rest)
    assert [len(c) for c in gated.calls] == [1, 4, 4]
