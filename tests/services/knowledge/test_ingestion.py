"""Ingestion end to end: uploads and loopback URL imports reach ready and are found; failures dead-letter."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest

from avatarchat.knowledge.v1 import knowledge_pb2
from services.runtime.bus import Bus, DeadLetter
from tests.services.conftest import Account
from tests.services.knowledge.sample_documents import PRICING_HTML, make_pdf
from tests.services.knowledge.service_env import Knowledge, LoopbackSite, Route

READY = knowledge_pb2.DOCUMENT_STATE_READY
FAILED = knowledge_pb2.DOCUMENT_STATE_FAILED

FAQ_PAGE = b"""<!DOCTYPE html><html><head><title>Shipping FAQ</title></head><body><main>
<h1>Shipping</h1><p>Orders leave our warehouse in Rotterdam within two working days.</p>
<h2>Returns</h2><p>Parcels can be returned free of charge within thirty days using the prepaid label.</p>
</main></body></html>"""
ABOUT_PAGE = b"""<!DOCTYPE html><html><head><title>About</title></head><body><main>
<h1>About us</h1><p>The company was founded by two beekeepers who sell honey from the Veluwe.</p>
</main></body></html>"""


@pytest.fixture(scope="module")
def site() -> Iterator[LoopbackSite]:
    """Pages, a sitemap, a page that always fails and a redirect, on loopback."""
    routes: dict[str, Route] = {
        "/faq.html": (200, "text/html; charset=utf-8", FAQ_PAGE),
        "/about.html": (200, "text/html", ABOUT_PAGE),
        "/always-500": (500, "text/plain", b"boom"),
        "/moved": lambda path: (302, {"location": "/faq.html"}, b""),
    }
    with LoopbackSite(routes) as running:
        sitemap = (
            '<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            f"<url><loc>{running.url('/faq.html')}</loc></url><url><loc>{running.url('/about.html')}</loc></url>"
            "<url><loc>https://elsewhere.example/x.html</loc></url></urlset>"
        )
        running.routes["/sitemap.xml"] = (200, "application/xml", sitemap.encode())
        yield running


def passage(doc_text: str, result: knowledge_pb2.SearchResult) -> None:
    """The result's text is where its offsets say (for single-source documents)."""
    assert result.source.char_end - result.source.char_start == len(result.text)
    assert result.text in doc_text


async def test_pdf_and_html_uploads_are_searchable_with_sources(knowledge: Knowledge, account: Account) -> None:
    kb = await knowledge.new_kb(account)
    pdf = await knowledge.upload(account, kb.name, make_pdf(), "application/pdf", "manual.pdf")
    html = await knowledge.upload(account, kb.name, PRICING_HTML, "text/html", "pricing.html")
    pdf = await knowledge.wait(account, pdf.name)
    html = await knowledge.wait(account, html.name)
    assert pdf.state == READY, pdf.failure_reason
    assert html.state == READY, html.failure_reason
    assert (pdf.mime_type, pdf.title, pdf.page_count) == ("application/pdf", "Operations Manual", 2)
    assert (html.title, html.progress_percent) == ("Acme Pricing", 100)

    found = await knowledge.search(account, kb.name, "How do I point the agent at my server?")
    best = found.results[0]
    assert "settings file" in best.text
    assert (best.source.document, best.source.title, best.source.page_number) == (pdf.name, "Operations Manual", 2)
    assert best.source.char_end > best.source.char_start >= 0
    assert best.vector_rank > 0
    assert best.score > 0
    assert found.knowledge_versions[kb.name] == 2

    price = (await knowledge.search(account, kb.name, "How much does the Enterprise plan cost per seat?")).results[0]
    assert "$99" in price.text
    assert price.source.document == html.name
    assert list(price.source.title_path)[:2] == ["Pricing", "Enterprise"]
    assert price.source.char_end - price.source.char_start == len(price.text)


async def test_url_imports_from_loopback(knowledge: Knowledge, account: Account, site: LoopbackSite) -> None:
    kb = await knowledge.new_kb(account)
    page = await knowledge.wait(account, (await knowledge.import_url(account, kb.name, site.url("/moved"))).name)
    assert page.state == READY, page.failure_reason
    assert (page.title, page.page_count, page.mime_type) == ("Shipping FAQ", 1, "text/html")
    answer = (await knowledge.search(account, kb.name, "How long do I have to return a parcel?")).results[0]
    assert "thirty days" in answer.text
    assert answer.source.url == site.url("/faq.html")
    passage(answer.text, answer)

    other = await knowledge.new_kb(account)
    imported = await knowledge.import_url(account, other.name, site.url("/sitemap.xml"), sitemap=True, max_pages=5)
    imported = await knowledge.wait(account, imported.name)
    assert imported.state == READY, imported.failure_reason
    assert imported.page_count == 2  # the off-host entry is skipped
    honey = (await knowledge.search(account, other.name, "Who founded the company?")).results[0]
    assert "beekeepers" in honey.text
    assert honey.source.url == site.url("/about.html")
    assert site.hits.get("/x.html") is None

    duplicate = await knowledge.wait(
        account, (await knowledge.import_url(account, kb.name, site.url("/faq.html"))).name
    )
    assert duplicate.state == FAILED
    assert "same content" in duplicate.failure_reason


async def test_unreadable_document_fails_at_once_into_the_dead_letter_queue(
    knowledge: Knowledge, account: Account
) -> None:
    kb = await knowledge.new_kb(account)
    doc = await knowledge.upload(account, kb.name, b"%PDF-1.7\n" + uuid.uuid4().bytes * 40, "application/pdf")
    doc = await knowledge.wait(account, doc.name)
    assert doc.state == FAILED
    assert doc.attempt_count == 1
    assert doc.failure_reason
    assert doc.chunk_count == 0
    letter = await dead_letter_of(knowledge, doc.name)
    assert letter.reason == f"PermanentFailure: {doc.failure_reason}"


async def test_document_that_always_fails_retries_then_dead_letters(
    knowledge: Knowledge, account: Account, site: LoopbackSite
) -> None:
    kb = await knowledge.new_kb(account)
    doc = await knowledge.import_url(account, kb.name, site.url("/always-500"))
    doc = await knowledge.wait(account, doc.name, wait_seconds=60)
    assert doc.state == FAILED
    assert doc.attempt_count == knowledge.settings.knowledge_max_attempts
    assert "HTTP 500" in doc.failure_reason
    assert site.hits["/always-500"] == knowledge.settings.knowledge_max_attempts
    letter = await dead_letter_of(knowledge, doc.name)
    assert "HTTP 500" in letter.reason
    assert letter.attempts == knowledge.settings.knowledge_max_attempts


async def dead_letter_of(knowledge: Knowledge, name: str) -> DeadLetter:
    """The dead-lettered job of the document `name` (waits briefly: the ack races the state write)."""
    document_id = name.rsplit("/", 1)[1]
    bus = await Bus.connect(knowledge.settings.amqp_url)
    try:
        for _ in range(50):
            letters = await bus.dead_letters(knowledge.settings.knowledge_queue, limit=1000)
            found = [x for x in letters if x.body.get("document_id") == document_id]
            if found:
                return found[0]
            await asyncio.sleep(0.1)
    finally:
        await bus.close()
    raise AssertionError(f"no dead letter for {name}")
