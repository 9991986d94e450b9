"""The knowledge service under test: its own host and in-process worker on per-session queues, and helpers."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import aio_pika

from avatarchat.knowledge.v1 import knowledge_pb2, knowledge_pb2_grpc
from services.knowledge.settings import KnowledgeSettings
from services.runtime.settings import RuntimeSettings
from tests.services.conftest import Account

Metadata = tuple[tuple[str, str], ...]


def knowledge_settings(base: RuntimeSettings, **overrides: object) -> KnowledgeSettings:
    """Settings with their own exchange and queue (the machine's RabbitMQ is shared), loopback URLs allowed."""
    tag = uuid.uuid4().hex[:10]
    values: dict[str, object] = {
        **base.model_dump(),
        "knowledge_allow_private_urls": True,
        "knowledge_exchange": f"test-{tag}.document.events",
        "knowledge_queue": f"test-{tag}.knowledge.ingest",
        "knowledge_max_attempts": 3,
        "knowledge_backoff_seconds": (0.2,),
        "knowledge_fetch_timeout_seconds": 5.0,
    }
    values.update(overrides)
    return KnowledgeSettings(**values)  # type: ignore[arg-type]


async def delete_topology(settings: KnowledgeSettings) -> None:
    """Removes the session's queues and exchange from the shared broker."""
    connection = await aio_pika.connect(settings.amqp_url)
    async with connection:
        channel = await connection.channel()
        for suffix in ("", ".retry", ".dlq"):
            await channel.queue_delete(settings.knowledge_queue + suffix)
        await channel.exchange_delete(settings.knowledge_exchange)


@dataclass
class Knowledge:
    """A client of the knowledge service under test and the settings it runs with."""

    stub: knowledge_pb2_grpc.KnowledgeServiceAsyncStub
    settings: KnowledgeSettings

    async def new_kb(self, account: Account, name: str = "") -> knowledge_pb2.KnowledgeBase:
        """A fresh knowledge base of the account's tenant."""
        response = await self.stub.CreateKnowledgeBase(
            knowledge_pb2.CreateKnowledgeBaseRequest(
                parent=account.tenant,
                knowledge_base=knowledge_pb2.KnowledgeBase(display_name=name or f"kb-{uuid.uuid4().hex[:8]}"),
            ),
            metadata=account.metadata,
        )
        return response.knowledge_base

    async def upload(
        self, account: Account, kb: str, content: bytes, mime_type: str = "", filename: str = "", title: str = ""
    ) -> knowledge_pb2.Document:
        """Adds an uploaded document."""
        upload = knowledge_pb2.DocumentUpload(content=content, mime_type=mime_type, filename=filename)
        response = await self.stub.AddDocument(
            knowledge_pb2.AddDocumentRequest(parent=kb, document=knowledge_pb2.Document(title=title, upload=upload)),
            metadata=account.metadata,
        )
        return response.document

    async def import_url(
        self, account: Account, kb: str, url: str, *, sitemap: bool = False, max_pages: int = 0
    ) -> knowledge_pb2.Document:
        """Adds a URL import."""
        mode = knowledge_pb2.URL_IMPORT_MODE_SITEMAP if sitemap else knowledge_pb2.URL_IMPORT_MODE_SINGLE_PAGE
        source = knowledge_pb2.UrlImport(url=url, mode=mode, max_pages=max_pages)
        response = await self.stub.AddDocument(
            knowledge_pb2.AddDocumentRequest(parent=kb, document=knowledge_pb2.Document(url_import=source)),
            metadata=account.metadata,
        )
        return response.document

    async def wait(
        self, account: Account, name: str, states: set[int] | None = None, wait_seconds: float = 90.0
    ) -> knowledge_pb2.Document:
        """Polls a document until it is ready or failed (or in one of `states`)."""
        wanted = states or {knowledge_pb2.DOCUMENT_STATE_READY, knowledge_pb2.DOCUMENT_STATE_FAILED}
        deadline = time.monotonic() + wait_seconds
        while True:
            doc = (
                await self.stub.GetDocument(knowledge_pb2.GetDocumentRequest(name=name), metadata=account.metadata)
            ).document
            if doc.state in wanted:
                return doc
            assert time.monotonic() < deadline, f"document stuck in {knowledge_pb2.DocumentState.Name(doc.state)}"
            await asyncio.sleep(0.2)

    async def search(
        self,
        account: Account,
        parent: str,
        query: str,
        mode: knowledge_pb2.SearchMode.ValueType = knowledge_pb2.SEARCH_MODE_UNSPECIFIED,
        top_k: int = 5,
    ) -> knowledge_pb2.SearchResponse:
        """Searches one knowledge base."""
        return await self.stub.Search(
            knowledge_pb2.SearchRequest(parent=parent, query=query, mode=mode, top_k=top_k), metadata=account.metadata
        )


Route = tuple[int, str, bytes] | Callable[[str], tuple[int, Mapping[str, str], bytes]]


class LoopbackSite:
    """A tiny HTTP server on 127.0.0.1 serving fixed routes (pages, sitemaps, errors, redirects)."""

    def __init__(self, routes: dict[str, Route]) -> None:
        self.routes = routes
        self.hits: dict[str, int] = {}
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                site.hits[self.path] = site.hits.get(self.path, 0) + 1
                route = site.routes.get(self.path)
                if route is None:
                    self.send_error(404)
                    return
                status, headers, body = (
                    route(self.path) if callable(route) else (route[0], {"content-type": route[1]}, route[2])
                )
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                """Keeps test output quiet."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        """The absolute URL of `path`."""
        return f"http://127.0.0.1:{self.port}{path}"

    def __enter__(self) -> LoopbackSite:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
