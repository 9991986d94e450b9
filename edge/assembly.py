"""The whole edge: REST from `create_app`, plus Socket.io for the widget and the embed/demo routes."""

from __future__ import annotations

from starlette.applications import Starlette

from edge.app import create_app
from edge.assets import asset_routes
from edge.embed_routes import embed_routes
from edge.realtime.server import Realtime, build_realtime
from edge.settings import EdgeSettings
from services.runtime.object_store import ObjectStoreSettings, open_object_store


def build_edge_app(settings: EdgeSettings) -> tuple[Starlette, Realtime]:
    """The served app and its Socket.io server (for tests and internal functions such as presence)."""
    realtime = build_realtime(settings)
    # The edge serves the avatar service's content-addressed assets from the same object store it writes.
    objects = open_object_store(ObjectStoreSettings(data_dir=settings.data_dir))
    app = create_app(
        settings,
        extra_routes=[*realtime.routes, *embed_routes(settings), *asset_routes(objects)],
        lifespan_hooks=[realtime.lifespan],
    )
    return app, realtime
