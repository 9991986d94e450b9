"""Reads a sitemap (or a sitemap index one level deep) into the page URLs of the same host, up to a cap."""

from __future__ import annotations

from urllib.parse import urlsplit

import defusedxml.ElementTree as SafeXml  # type: ignore[import-untyped]  # ships no stubs

from services.knowledge.errors import CorruptDocumentError
from services.knowledge.url_fetch import SafeFetcher


def _locs(content: bytes) -> tuple[str, list[str]]:
    """The root tag (`urlset` or `sitemapindex`) and every `<loc>` of a sitemap document."""
    try:
        root = SafeXml.fromstring(content)
    except Exception:
        raise CorruptDocumentError("the sitemap is not well-formed XML") from None
    tag = root.tag.rsplit("}", 1)[-1]
    locs = [(el.text or "").strip() for el in root.iter() if el.tag.rsplit("}", 1)[-1] == "loc"]
    return tag, [loc for loc in locs if loc]


async def sitemap_pages(fetcher: SafeFetcher, url: str, max_pages: int) -> list[str]:
    """Page URLs of the sitemap at `url` on its own host, in sitemap order, at most `max_pages`."""
    host = urlsplit(url).hostname
    tag, locs = _locs((await fetcher.fetch(url)).content)
    if tag == "sitemapindex":
        nested: list[str] = []
        for child in locs:
            if urlsplit(child).hostname == host and len(nested) < max_pages:
                nested += _locs((await fetcher.fetch(child)).content)[1]
        locs = nested
    pages: list[str] = []
    for loc in locs:
        if urlsplit(loc).hostname == host and loc not in pages:
            pages.append(loc)
        if len(pages) >= max_pages:
            break
    if not pages:
        raise CorruptDocumentError("the sitemap lists no pages on its own host")
    return pages
