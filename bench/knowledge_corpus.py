"""The knowledge benchmark's search corpus: real text chunks and real queries, embedded with the service's MiniLM.

Sources are documents on this machine that this project did not write: every page of Debian's PostgreSQL 15
manual (HTML), then English man pages (sections 1, 5, 7 and 8) rendered by groff to text and given Markdown
headings for their sections, in a fixed pseudo-random order (the Google Cloud SDK's generated pages last, and
without their alpha and beta copies), until there are enough chunks. Each document goes
through the service's own extractor and chunker (at the chunk size given, the smallest a knowledge base allows
being 64 tokens) and each chunk is embedded as the ingestion worker embeds it (its innermost heading, then its
text). Equal chunk texts are kept once across the whole corpus, so exact search has no equal-distance ties.

Every 20th document is held out: none of its text is in the corpus, and the queries come from it, half its
headings (short, title-like questions; not a man page's section names) and half its sentences of 6 to 30 words,
each query once, embedded the same way as a
search query. Chunks are shuffled with a fixed seed, so the first 10k of the corpus are a sample of the 100k.

Embedding 100k chunks takes a long while on two cores, so vectors are cached under `.data/bench/`, in blocks
that survive an interrupted run, keyed by the corpus version, the model and the chunking parameters.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from services.knowledge import minilm_files
from services.knowledge.chunking import ChunkingOptions, chunk_document, content_hash
from services.knowledge.errors import KnowledgeError
from services.knowledge.extract import extract
from services.knowledge.ingest import embedding_text
from services.knowledge.minilm import MiniLmEmbedder
from services.knowledge.sentences import sentence_spans
from services.knowledge.tokens import minilm_token_counter

#: Bump when the way sources are read, chunked or sampled changes, so stale caches are not reused.
CORPUS_VERSION = 2
MANUAL = Path("/usr/share/doc/postgresql-doc-15/html")
MAN_ROOT = Path("/usr/share/man")
MAN_SECTIONS = ("man1", "man5", "man7", "man8")
HOLD_OUT_EVERY = 20
CACHE = Path(".data/bench")
BLOCK = 4096
_NUMBERING = re.compile(r"^(?:(?:Chapter|Part|Appendix) )?[0-9A-Z]+(?:\.[0-9]+)*\.\s+")


@dataclass(frozen=True)
class Corpus:
    """Chunk texts and their vectors (row i is text i), queries and their vectors, and how they were made."""

    texts: list[str]
    vectors: np.ndarray
    queries: list[str]
    query_vectors: np.ndarray
    description: str


def _man_order(path: Path) -> tuple[bool, str]:
    """A fixed pseudo-random order of man pages, so the corpus is not only the pages starting with `a`; the Google
    Cloud SDK's thousands of generated pages come last, so they do not crowd out everything else."""
    return path.name.startswith("gcloud"), hashlib.sha256(path.name.encode()).hexdigest()


def _wanted_man_page(path: Path) -> bool:
    """Skips the SDK's alpha and beta pages: near copies of its GA pages, which would swamp the corpus."""
    return not path.name.startswith(("gcloud_alpha", "gcloud_beta"))


def _man_markdown(path: Path) -> str | None:
    """A man page rendered by groff to plain text, its section names made Markdown headings; None if unreadable."""
    try:
        source = subprocess.run(["zcat", str(path)], capture_output=True, check=True, timeout=30).stdout
    except (subprocess.SubprocessError, OSError):
        return None
    if source.lstrip().startswith(b".so "):
        return None  # an alias of another page
    rendered = subprocess.run(
        ["groff", "-t", "-man", "-Tutf8", "-P-cbou", "-rHY=0", "-rLL=200n"],
        input=source,
        capture_output=True,
        timeout=60,
        check=False,
    ).stdout.decode("utf-8", "replace")
    lines = rendered.splitlines()
    content = [i for i, line in enumerate(lines) if line.strip()]
    if len(content) < 4:
        return None
    # The first and last lines are the page header and footer.
    out = [f"# {path.name.removesuffix('.gz')}", ""]
    for line in lines[content[0] + 1 : content[-1]]:
        if line and not line[0].isspace():
            out += ["", f"## {line.strip()}", ""]
        else:
            out.append(line.strip())
    return "\n".join(out)


def _sources() -> Iterator[tuple[str, bytes, str]]:
    """(name, content, MIME type) of each source document, manual first."""
    for page in sorted(MANUAL.glob("*.html")):
        yield f"postgresql-manual/{page.name}", page.read_bytes(), "text/html"
    pages = sorted(
        (p for s in MAN_SECTIONS for p in (MAN_ROOT / s).glob("*.gz") if _wanted_man_page(p)), key=_man_order
    )
    for page in pages:
        text = _man_markdown(page)
        if text:
            yield f"man/{page.name}", text.encode(), "text/markdown"


def _queries_of(text: str, headings: list[str], rng: np.random.Generator) -> list[str]:
    """Up to two queries from a held-out document: one heading and one sentence of 6 to 30 words."""
    found = []
    # Section numbers ("8.15. ", "Chapter 35. ") are the manual's layout, not words anyone would search for.
    named = [_NUMBERING.sub("", h) for h in headings]
    # A man page's section names (SYNOPSIS, SEE ALSO) are layout too.
    named = [h for h in named if 2 <= len(h.split()) <= 12 and not h.isupper()]
    if named:
        found.append(named[int(rng.integers(len(named)))])
    sentences = [text[s:e] for s, e in sentence_spans(text) if 6 <= len(text[s:e].split()) <= 30]
    sentences = [" ".join(s.split()) for s in sentences if re.search(r"[a-z]{3}", s)]
    if sentences:
        found.append(sentences[int(rng.integers(len(sentences)))])
    return found


def _collect(size: int, options: ChunkingOptions, query_count: int) -> tuple[list[str], list[str], list[str]]:
    """Chunk texts to embed (at least `size`, shuffled), queries, and the documents used."""
    counter = minilm_token_counter()
    rng = np.random.default_rng(11)
    texts: list[str] = []
    seen: set[str] = set()
    queries: list[str] = []
    asked: set[str] = set()
    used: list[str] = []
    for number, (name, content, mime) in enumerate(_sources()):
        try:
            document = extract(content, mime, name.rsplit("/", 1)[-1])
        except KnowledgeError:
            continue
        if number % HOLD_OUT_EVERY == HOLD_OUT_EVERY - 1:
            headings = [b.text for b in document.blocks if b.kind.value == "heading"]
            fresh = [q for q in _queries_of(document.text, headings, rng) if q.lower() not in asked]
            asked.update(q.lower() for q in fresh)
            queries += fresh
            continue
        used.append(name)
        for chunk in chunk_document(document, counter, options):
            text = embedding_text(chunk)
            digest = content_hash(text)
            if digest not in seen:
                seen.add(digest)
                texts.append(text)
        if len(texts) >= size and len(queries) >= query_count:
            break
    if len(texts) < size:
        raise SystemExit(f"only {len(texts)} distinct chunks in the sources, fewer than {size}")
    order = np.random.default_rng(5).permutation(len(texts))[:size]
    picked = np.random.default_rng(6).permutation(len(queries))[:query_count]
    return [texts[i] for i in order], [queries[i] for i in picked], used


def _texts(folder: Path, size: int, options: ChunkingOptions, query_count: int) -> dict[str, list[str]]:
    """Chunk texts, queries and source documents, collected once and then read from `folder`."""
    meta_file = folder / "corpus.json"
    if meta_file.exists():
        meta: dict[str, list[str]] = json.loads(meta_file.read_text())
        return meta
    print(f"collecting {size} chunks and {query_count} queries (cache: {folder})", flush=True)
    texts, queries, used = _collect(size, options, query_count)
    folder.mkdir(parents=True, exist_ok=True)
    meta = {"texts": texts, "queries": queries, "documents": used}
    meta_file.with_suffix(".tmp").write_text(json.dumps(meta))
    meta_file.with_suffix(".tmp").rename(meta_file)
    return meta


def _read_block(file: Path) -> np.ndarray | None:
    """A cached block of vectors, or None."""
    return np.load(file) if file.exists() else None


def _write_block(file: Path, vectors: np.ndarray) -> None:
    """Saves a block of vectors whole or not at all."""
    file.parent.mkdir(parents=True, exist_ok=True)
    partial = file.with_suffix(".tmp.npy")
    np.save(partial, vectors)
    partial.rename(file)


async def _embed_cached(
    embedder: MiniLmEmbedder, texts: list[str], folder: Path, max_new_blocks: int | None = None
) -> np.ndarray | None:
    """Vectors of `texts`, embedded in blocks saved to `folder` (an interrupted run resumes at its last block);
    None when `max_new_blocks` were embedded and more remain."""
    blocks = []
    started = time.perf_counter()
    done = 0
    for first in range(0, len(texts), BLOCK):
        file = folder / f"block-{first // BLOCK:04d}.npy"
        part = texts[first : first + BLOCK]
        cached = await asyncio.to_thread(_read_block, file)
        if cached is not None:
            blocks.append(cached)
            continue
        if max_new_blocks is not None and done >= max_new_blocks * BLOCK:
            return None
        vectors = np.asarray(await embedder.embed(part), dtype=np.float32)
        await asyncio.to_thread(_write_block, file, vectors)
        blocks.append(vectors)
        done += len(part)
        elapsed = time.perf_counter() - started
        print(f"  embedded {first + len(part)}/{len(texts)} chunks ({done / elapsed:.1f} chunks/s)", flush=True)
    return np.concatenate(blocks)


async def load(
    size: int, chunk_tokens: int, overlap: int, query_count: int, max_new_blocks: int | None = None
) -> Corpus | None:
    """The corpus of `size` chunks and `query_count` queries, from the cache when it holds them; None when
    `max_new_blocks` blocks were embedded and more remain."""
    options = ChunkingOptions(max_tokens=chunk_tokens, overlap_tokens=overlap)
    key = hashlib.sha256(
        json.dumps([CORPUS_VERSION, minilm_files.MODEL_ID, chunk_tokens, overlap, size, query_count]).encode()
    ).hexdigest()[:16]
    folder = CACHE / f"knowledge-corpus-{key}"
    meta = await asyncio.to_thread(_texts, folder, size, options, query_count)
    embedder = MiniLmEmbedder(batch_size=64)
    vectors = await _embed_cached(embedder, meta["texts"], folder / "chunks", max_new_blocks)
    if vectors is None:
        return None
    query_vectors = await _embed_cached(embedder, meta["queries"], folder / "queries")
    assert query_vectors is not None
    manual = sum(1 for d in meta["documents"] if d.startswith("postgresql-manual/"))
    description = (
        f"{len(meta['texts'])} distinct chunks of {manual} PostgreSQL 15 manual pages and"
        f" {len(meta['documents']) - manual} man pages (service extractor + chunker at {chunk_tokens} tokens,"
        f" overlap {overlap}; embedded as the worker does: heading + text, {minilm_files.MODEL_ID});"
        f" {len(meta['queries'])} queries = headings and sentences of every {HOLD_OUT_EVERY}th document,"
        f" held out of the corpus; cache {folder}"
    )
    return Corpus(meta["texts"], vectors, meta["queries"], query_vectors, description)


def main() -> None:
    """Builds (part of) the cached corpus, so a long embedding can run in short turns under the benchmark lock."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--chunk-tokens", type=int, default=64)
    parser.add_argument("--overlap", type=int, default=8)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--collect-only", action="store_true", help="read and chunk the sources, embed nothing")
    parser.add_argument(
        "--max-new-blocks", type=int, default=None, help=f"embed at most this many {BLOCK}-chunk blocks"
    )
    args = parser.parse_args()
    budget = 0 if args.collect_only else args.max_new_blocks
    corpus = asyncio.run(load(args.size, args.chunk_tokens, args.overlap, args.queries, budget))
    if corpus is None:
        print("more blocks remain")
        sys.exit(3)
    print(corpus.description)


if __name__ == "__main__":
    main()
