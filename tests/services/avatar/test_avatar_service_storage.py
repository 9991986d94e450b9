"""The object store behind avatars: the local folder and S3 (a real S3-compatible server, moto, on loopback)."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import pytest

from avatarchat.avatar.v1 import avatar_pb2, avatar_pb2_grpc
from services.avatar.server import build
from services.avatar.settings import AvatarSettings
from services.runtime.object_store import (
    LocalObjectStore,
    ObjectMissing,
    ObjectStore,
    ObjectStoreSettings,
    S3ObjectStore,
    check_key,
    model_key,
    open_object_store,
    preview_key,
    sha256_hex,
)
from services.runtime.settings import RuntimeSettings
from tests.conftest import free_port
from tests.services.avatar.conftest import upload
from tests.services.avatar.glb_samples import sample_glb
from tests.services.conftest import Stack

MOTO = Path(shutil.which("moto_server") or Path(__file__).resolve().parents[3] / ".venv/bin/moto_server")


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """A moto S3 server on a free loopback port (it does not check signatures)."""
    if not MOTO.exists():
        pytest.skip("moto_server is not installed (pip install 'moto[server]')")
    port = free_port()
    process = subprocess.Popen(
        [str(MOTO), "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert process.poll() is None, "moto_server exited"
                assert time.monotonic() < deadline, "moto_server did not start"
                time.sleep(0.1)
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


def _s3_settings(endpoint: str, bucket: str) -> ObjectStoreSettings:
    return ObjectStoreSettings(
        object_store="s3",
        s3_endpoint=endpoint,
        s3_access_key="testing",
        s3_secret_key="testing",
        s3_bucket=bucket,
        s3_region="us-east-1",
        s3_secure=False,
    )


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    """Each implementation behind the same protocol."""
    if request.param == "local":
        return LocalObjectStore(tmp_path / "objects")
    endpoint: str = request.getfixturevalue("s3_endpoint")
    return open_object_store(_s3_settings(endpoint, f"test-{tmp_path.name[-20:].lower().replace('_', '-')}"))


async def test_put_is_idempotent_and_reads_whole_ranges_and_heads(store: ObjectStore) -> None:
    data = bytes(range(256)) * 40
    sha = sha256_hex(data)
    key = model_key(sha)
    assert not await store.exists(key)
    assert await store.head(key) is None
    assert await store.put(key, data, "model/gltf-binary") is True
    assert await store.put(key, b"other bytes", "model/gltf-binary") is False  # same key: stored once, unchanged
    assert await store.get(key) == data
    assert await store.get_range(key, 10, 20) == data[10:30]
    assert await store.get_range(key, len(data) - 5, 100) == data[-5:]
    info = await store.head(key)
    assert info is not None
    assert (info.size, info.etag, info.content_type) == (len(data), sha, "model/gltf-binary")
    png_key = preview_key(sha)
    await store.put(png_key, b"\x89PNG\r\n\x1a\n", "image/png")
    assert (await store.head(png_key)).content_type == "image/png"  # type: ignore[union-attr]
    await store.delete(key)
    await store.delete(key)  # absent is fine
    assert not await store.exists(key)
    with pytest.raises(ObjectMissing):
        await store.get(key)
    with pytest.raises(ObjectMissing):
        await store.get_range(key, 0, 1)


async def test_concurrent_puts_of_the_same_bytes_store_one_object(store: ObjectStore) -> None:
    data = b"same bytes" * 1000
    key = model_key(sha256_hex(data))
    await asyncio.gather(*(store.put(key, data, "model/gltf-binary") for _ in range(8)))
    assert await store.get(key) == data


def test_keys_cannot_leave_the_store() -> None:
    for bad in ("../etc/passwd", "/models/x.glb", "models/../../x", "Models/X.glb", "models", ""):
        with pytest.raises(ValueError, match="malformed object key"):
            check_key(bad)


def test_the_store_is_chosen_by_configuration(tmp_path: Path) -> None:
    assert isinstance(open_object_store(ObjectStoreSettings(data_dir=tmp_path)), LocalObjectStore)
    assert isinstance(open_object_store(_s3_settings("127.0.0.1:9", "b")), S3ObjectStore)
    with pytest.raises(ValueError, match="AVATARCHAT_S3_ENDPOINT"):
        open_object_store(ObjectStoreSettings(object_store="s3"))
    with pytest.raises(ValueError, match="AVATARCHAT_OBJECT_STORE"):
        open_object_store(ObjectStoreSettings(object_store="ftp"))


@pytest.fixture
async def s3_avatar_service(s3_endpoint: str, settings: RuntimeSettings) -> AsyncIterator[tuple[int, S3ObjectStore]]:
    """A second avatar service on the same database whose object store is the S3 server."""
    s3 = _s3_settings(s3_endpoint, "avatar-service")
    values = {**settings.model_dump(), **s3.model_dump(include={"object_store", "s3_endpoint", "s3_access_key"})}
    values |= s3.model_dump(include={"s3_secret_key", "s3_bucket", "s3_region", "s3_secure"})
    # No job consumers here: the stack's avatar service already consumes this session's queues.
    host = await build(AvatarSettings(**values, avatar_jobs_enabled=False), port=0)
    port = await host.start()
    yield port, S3ObjectStore.from_settings(s3)
    await host.stop(0.5)


async def test_the_avatar_service_stores_models_in_s3(
    stack: Stack, s3_avatar_service: tuple[int, S3ObjectStore]
) -> None:
    port, s3 = s3_avatar_service
    content = sample_glb().replace(b"avatarchat tests", b"avatarchat s3 ok")
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        avatars = avatar_pb2_grpc.AvatarServiceStub(channel)
        account = await stack.new_tenant("s3")
        avatar = await upload(avatars, account, content)
        assert avatar.state == avatar_pb2.AVATAR_STATE_READY
        assert await s3.get(model_key(avatar.content_sha256)) == content
        default = (
            await avatars.GetDefaultAvatar(avatar_pb2.GetDefaultAvatarRequest(), metadata=account.metadata)
        ).avatar
        assert await s3.exists(model_key(default.content_sha256))  # stored at start-up, in S3 too
        await avatars.DeleteAvatar(avatar_pb2.DeleteAvatarRequest(name=avatar.name), metadata=account.metadata)
        assert not await s3.exists(model_key(avatar.content_sha256))
