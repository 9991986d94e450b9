"""`/openapi.json` and a self-hosted Swagger UI at `/docs` (no CDN: the files come from swagger-ui-dist)."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from edge.state import EdgeState
from services.runtime.settings import PROJECT_ROOT

#: Where `npm ci` puts the package when the Makefile has not copied it next to the edge yet.
NODE_MODULES_ASSETS = PROJECT_ROOT / "node_modules" / "swagger-ui-dist"
_NEEDED = ("swagger-ui.css", "swagger-ui-bundle.js")

_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>avatarchat API</title>
  <link rel="stylesheet" href="/docs/assets/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/assets/swagger-ui-bundle.js"></script>
  <script src="/docs/init.js"></script>
</body>
</html>
"""

# Kept out of the page so a strict Content-Security-Policy (script-src 'self') can be added later.
_INIT = """window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  persistAuthorization: true,
  displayRequestDuration: true,
});
"""


def assets_dir(configured: Path) -> Path | None:
    """The first folder holding the Swagger UI files: the configured copy, then node_modules."""
    for candidate in (configured, NODE_MODULES_ASSETS):
        if all((candidate / name).is_file() for name in _NEEDED):
            return candidate
    return None


async def openapi_json(request: Request) -> Response:
    """The OpenAPI 3.1 document, built once at start-up."""
    edge: EdgeState = request.app.state.edge
    return Response(edge.openapi, media_type="application/json")


def docs_routes(configured_assets: Path) -> list[BaseRoute]:
    """The docs page, its script and its assets; a 503 explaining the build step if assets are missing."""
    folder = assets_dir(configured_assets)
    routes: list[BaseRoute] = [Route("/openapi.json", openapi_json, methods=["GET"])]
    if folder is None:

        async def missing(request: Request) -> Response:
            text = "API docs assets are missing: run `make deps` (swagger-ui-dist). /openapi.json works.\n"
            return PlainTextResponse(text, 503)

        return [*routes, Route("/docs", missing, methods=["GET"])]

    async def page(request: Request) -> Response:
        return HTMLResponse(_PAGE)

    async def init(request: Request) -> Response:
        return Response(_INIT, media_type="text/javascript")

    return [
        *routes,
        Route("/docs", page, methods=["GET"]),
        Route("/docs/init.js", init, methods=["GET"]),
        Mount("/docs/assets", app=StaticFiles(directory=folder), name="docs-assets"),
    ]
