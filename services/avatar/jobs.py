"""Background jobs fed by RabbitMQ: preview rendering after an upload, optimization on request.

The pure work lives in `services.avatar.preview.render_preview` and `services.avatar.optimizer.optimize_glb`
(headless Chromium and gltf-transform); they are imported when a job runs, so the service starts, and
records a clear failure on the avatar, where they are not installed. A job that meets a missing or changed
avatar acks and does nothing (deliveries are at-least-once), and a failure of the work itself is recorded
on the avatar instead of retried; only infrastructure errors (database, object store) raise and are retried.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import logging
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

from avatarchat.avatar.v1 import avatar_pb2
from services.avatar.analysis import analyse
from services.avatar.image_headers import read_image_header
from services.avatar.store import EXCHANGE, AvatarRow, AvatarStore
from services.avatar.uploads import GLB_CONTENT_TYPE
from services.runtime.bus import Bus, ConsumerSpec, Handler, PermanentFailure
from services.runtime.object_store import ObjectStore, model_key, preview_key

log = logging.getLogger(__name__)

PREVIEW_MODULE = "services.avatar.preview"
OPTIMIZER_MODULE = "services.avatar.optimizer"
OPTIMIZE_REQUESTED = "avatar.optimize_requested"
_PNG = b"\x89PNG\r\n\x1a\n"
_COMPRESSION = {
    avatar_pb2.MESH_COMPRESSION_NONE: "none",
    avatar_pb2.MESH_COMPRESSION_MESHOPT: "meshopt",
    avatar_pb2.MESH_COMPRESSION_DRACO: "draco",
}


def _now() -> datetime:
    return datetime.now(UTC)


def load_module(name: str) -> ModuleType | None:
    """The job module `name`, or None when it (or what it needs, e.g. playwright) is not installed."""
    try:
        return importlib.import_module(name)
    except ImportError:
        log.warning("job module unavailable", extra={"module": name}, exc_info=True)
        return None


def _ids(body: Mapping[str, Any]) -> tuple[uuid.UUID, uuid.UUID]:
    try:
        return uuid.UUID(str(body["tenant_id"])), uuid.UUID(str(body["avatar_id"]))
    except (KeyError, ValueError):
        raise PermanentFailure("event without tenant_id/avatar_id") from None


class AvatarJobs:
    """The handlers of the preview and optimize queues."""

    def __init__(
        self,
        store: AvatarStore,
        objects: ObjectStore,
        *,
        preview_size: int = 512,
        preview_timeout: float = 120.0,
        optimize_timeout: float = 600.0,
    ) -> None:
        self._store = store
        self._objects = objects
        self._size = preview_size
        self._preview_timeout = preview_timeout
        self._optimize_timeout = optimize_timeout
        self._stopping = False
        self._renderer: Any = None
        self._running: set[asyncio.Task[None]] = set()

    async def start(self, bus: Bus, queue_prefix: str) -> None:
        """Starts consuming both queues on `bus`."""
        await bus.consume(
            ConsumerSpec(f"{queue_prefix}.preview", EXCHANGE, ("avatar.uploaded",), max_attempts=3),
            self._guarded(self.on_uploaded),
        )
        await bus.consume(
            ConsumerSpec(f"{queue_prefix}.optimize", EXCHANGE, (OPTIMIZE_REQUESTED,), max_attempts=3),
            self._guarded(self.on_optimize),
        )

    def _guarded(self, handler: Handler) -> Handler:
        """`handler` as a task `stop()` can cancel; a cancelled job fails normally, so the bus retries it."""

        async def run(body: Mapping[str, Any], routing_key: str) -> None:
            if self._stopping:
                raise RuntimeError("the worker is stopping; the job is retried")

            async def job() -> None:
                await handler(body, routing_key)

            task = asyncio.create_task(job())
            self._running.add(task)
            try:
                await task
            except asyncio.CancelledError:
                current = asyncio.current_task()
                if self._stopping and task.cancelled() and (current is None or not current.cancelling()):
                    raise RuntimeError("the worker stopped during the job; the job is retried") from None
                raise
            finally:
                self._running.discard(task)

        return run

    async def stop(self) -> None:
        """Cancels running jobs (they go back to the queue for a retry) before the broker connection closes."""
        self._stopping = True
        running = list(self._running)
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        # Let the bus forward and ack the interrupted deliveries while its channels are still open.
        for _ in range(50):
            if not self._running:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)
        if self._renderer is not None:
            await self._renderer.close()
            self._renderer = None

    # --- preview -------------------------------------------------------------------------------------------

    async def on_uploaded(self, body: Mapping[str, Any], routing_key: str) -> None:
        """Renders the preview of a freshly uploaded READY avatar."""
        tenant_id, avatar_id = _ids(body)
        row = await self._store.get(tenant_id, avatar_id)
        if row is None or row.state == "invalid" or row.preview_state == "ready":
            return
        await self.render(row)

    async def _preview_failed(self, row: AvatarRow, reason: str) -> None:
        log.warning("preview failed", extra={"avatar": str(row.id), "reason": reason})
        await self._store.modify(
            row.tenant_id, row.id, lambda _: {"preview_state": "failed", "preview_failure": reason[:500]}
        )

    async def render(self, row: AvatarRow) -> None:
        """Renders, stores (content-addressed by the model's hash) and records the preview of `row`."""
        module = load_module(PREVIEW_MODULE)
        if module is None:
            await self._preview_failed(row, "the preview renderer is not installed on this server")
            return
        await self._store.modify(row.tenant_id, row.id, lambda _: {"preview_state": "rendering"})
        model = await self._objects.get(model_key(row.content_sha256))
        if self._renderer is None:
            # One Chromium for the worker's lifetime; each render gets a fresh browser context.
            self._renderer = module.PreviewRenderer()
        try:
            async with asyncio.timeout(self._preview_timeout):
                png: bytes = await module.render_preview(model, self._size, self._size, renderer=self._renderer)
        except Exception as exc:
            await self._preview_failed(row, f"rendering failed: {type(exc).__name__}: {exc}")
            return
        header = read_image_header(png) if png.startswith(_PNG) else None
        if header is None:
            await self._preview_failed(row, "the renderer did not produce a PNG image")
            return
        key = preview_key(row.content_sha256)

        async def put() -> bool:
            return await self._objects.put(key, png, "image/png")

        await self._store.add_ref(row.tenant_id, key, row.id, put)
        await self._store.modify(
            row.tenant_id,
            row.id,
            lambda _: {
                "preview_state": "ready",
                "preview_width": header.width,
                "preview_height": header.height,
                "preview_failure": "",
                "preview_render_time": _now(),
            },
        )

    # --- optimization --------------------------------------------------------------------------------------

    async def on_optimize(self, body: Mapping[str, Any], routing_key: str) -> None:
        """Optimizes an OPTIMIZING avatar, validates the result and records sizes before and after."""
        tenant_id, avatar_id = _ids(body)
        row = await self._store.get(tenant_id, avatar_id)
        if row is None or row.state != "optimizing" or row.optimization is None:
            return
        if str(row.optimization.get("job_id", "")) != str(body.get("job_id", "")):
            return  # a newer request replaced this one
        module = load_module(OPTIMIZER_MODULE)
        if module is None:
            await self._finish(row, error="the optimizer is not installed on this server")
            return
        original = await self._objects.get(model_key(row.content_sha256))
        options = row.optimization.get("options", {})
        try:
            job_options = module.OptimizeOptions(
                compression=_COMPRESSION.get(options.get("mesh_compression", 0), "meshopt"),
                # 0 means "keep sizes"; the tool wants a bound, and no GPU takes textures over 16384.
                texture_max_size=int(options.get("max_texture_size", 0)) or 16384,
                webp=bool(options.get("webp_textures", False)),
                timeout_seconds=self._optimize_timeout,
            )
            async with asyncio.timeout(self._optimize_timeout):
                result = await module.optimize_glb(original, job_options)
            optimized = bytes(result.data)
        except Exception as exc:
            await self._finish(row, error=f"optimization failed: {type(exc).__name__}: {exc}"[:500])
            return
        analysis = await analyse(optimized)
        if not analysis.valid:
            codes = ", ".join(i["code"] for i in analysis.report["issues"] if i["severity"] == "error")[:300]
            await self._finish(row, error=f"the optimized model failed validation ({codes}); the original stays")
            return
        sha256 = hashlib.sha256(optimized).hexdigest()
        key = model_key(sha256)

        async def put() -> bool:
            return await self._objects.put(key, optimized, GLB_CONTENT_TYPE)

        await self._store.add_ref(row.tenant_id, key, row.id, put)
        await self._finish(row, sha256=sha256, size=len(optimized))

    async def _finish(self, row: AvatarRow, *, error: str = "", sha256: str = "", size: int = 0) -> None:
        def change(current: AvatarRow) -> dict[str, Any]:
            if current.state != "optimizing" or current.optimization is None:
                return {}
            job = {
                **current.optimization,
                "state": "failed" if error else "succeeded",
                "error": error,
                "finish_time": _now().isoformat(),
                "original_size_bytes": current.original_size_bytes,
                "optimized_size_bytes": size,
            }
            changes: dict[str, Any] = {"state": "ready", "optimization": job}
            if not error:
                changes |= {"optimized_sha256": sha256, "optimized_size_bytes": size}
            return changes

        if error:
            log.warning("optimization failed", extra={"avatar": str(row.id), "error": error})
        else:
            log.info(
                "avatar optimized",
                extra={"avatar": str(row.id), "before": row.original_size_bytes, "after": size},
            )
        await self._store.modify(row.tenant_id, row.id, change)
