"""Binary assets under content-addressed keys: a local folder (the embedded default) or S3/MinIO via `minio`.

Keys are `models/{sha256}.glb` and `previews/{sha256}.png`. Because a key names its content, `put` of an
existing key is a no-op: the same bytes are stored once, and nothing under a key ever changes, which is
what lets the edge serve them with immutable cache headers.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from minio import Minio
from minio.error import S3Error

from services.runtime.settings import RuntimeSettings

#: What keys may look like: lowercase path segments, no `..`, no leading slash.
_KEY = re.compile(r"^[a-z0-9][a-z0-9_-]*(/[a-z0-9][a-z0-9._-]*)+$")
_MISSING_CODES = frozenset({"NoSuchKey", "NoSuchObject", "NoSuchBucket", "ResourceNotFound"})


def model_key(sha256: str) -> str:
    """The key of an uploaded or optimized model."""
    return f"models/{sha256}.glb"


def preview_key(sha256: str) -> str:
    """The key of the preview image of the model with content hash `sha256`."""
    return f"previews/{sha256}.png"


def sha256_hex(data: bytes) -> str:
    """Lowercase hex SHA-256 of `data`."""
    return hashlib.sha256(data).hexdigest()


def check_key(key: str) -> str:
    """`key` if it is a well-formed object key; ValueError otherwise (keeps paths inside the store)."""
    if not _KEY.match(key) or ".." in key:
        raise ValueError(f"malformed object key {key[:80]!r}")
    return key


@dataclass(frozen=True)
class ObjectInfo:
    """What `head` says about a stored object."""

    size: int
    """Bytes."""
    etag: str
    """A strong validator of the bytes (the content hash for content-addressed keys)."""
    content_type: str
    """The media type it was stored with."""


class ObjectMissing(KeyError):
    """No object is stored under the key."""


class ObjectStore(Protocol):
    """Where binary assets live; every method is safe to call concurrently."""

    async def put(self, key: str, data: bytes, content_type: str) -> bool:
        """Stores `data` under `key` unless something is already there; True when it wrote."""
        ...

    async def get(self, key: str) -> bytes:
        """The whole object; ObjectMissing when absent."""
        ...

    async def get_range(self, key: str, start: int, length: int) -> bytes:
        """`length` bytes from `start` (fewer at the end); ObjectMissing when absent."""
        ...

    async def head(self, key: str) -> ObjectInfo | None:
        """Size, ETag and content type, or None when absent."""
        ...

    async def exists(self, key: str) -> bool:
        """Whether an object is stored under `key`."""
        ...

    async def delete(self, key: str) -> None:
        """Removes the object; absent objects are fine."""
        ...


def _etag_of(key: str, fallback: str) -> str:
    """The hash in a content-addressed key (`models/{sha}.glb` → sha), else the store's own tag."""
    stem = key.rsplit("/", 1)[-1].split(".", 1)[0]
    return stem if re.fullmatch(r"[0-9a-f]{64}", stem) else fallback.strip('"')


class LocalObjectStore:
    """Objects as files below one folder; writes go to a temp file and are renamed, so readers never see half."""

    def __init__(self, root: Path) -> None:
        self._root = root
        root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self._root / check_key(key)

    def _put(self, key: str, data: bytes, content_type: str) -> bool:
        path = self._path(key)
        if path.exists():
            return False
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        with tmp.open("wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        # The content type is a sidecar so a HEAD answers without sniffing; written before the object appears.
        path.with_name(path.name + ".type").write_text(content_type)
        os.replace(tmp, path)
        return True

    async def put(self, key: str, data: bytes, content_type: str) -> bool:
        """Stores `data` under `key` unless something is already there; True when it wrote."""
        return await asyncio.to_thread(self._put, key, data, content_type)

    def _read(self, key: str, start: int, length: int | None) -> bytes:
        try:
            with self._path(key).open("rb") as src:
                src.seek(start)
                return src.read() if length is None else src.read(length)
        except FileNotFoundError:
            raise ObjectMissing(key) from None

    async def get(self, key: str) -> bytes:
        """The whole object; ObjectMissing when absent."""
        return await asyncio.to_thread(self._read, key, 0, None)

    async def get_range(self, key: str, start: int, length: int) -> bytes:
        """`length` bytes from `start` (fewer at the end); ObjectMissing when absent."""
        return await asyncio.to_thread(self._read, key, start, length)

    def _head(self, key: str) -> ObjectInfo | None:
        path = self._path(key)
        try:
            stat = path.stat()
        except FileNotFoundError:
            return None
        sidecar = path.with_name(path.name + ".type")
        content_type = sidecar.read_text() if sidecar.exists() else "application/octet-stream"
        return ObjectInfo(stat.st_size, _etag_of(key, f"{stat.st_size:x}-{stat.st_mtime_ns:x}"), content_type)

    async def head(self, key: str) -> ObjectInfo | None:
        """Size, ETag and content type, or None when absent."""
        return await asyncio.to_thread(self._head, key)

    async def exists(self, key: str) -> bool:
        """Whether an object is stored under `key`."""
        return await self.head(key) is not None

    def _delete(self, key: str) -> None:
        path = self._path(key)
        for victim in (path, path.with_name(path.name + ".type")):
            with contextlib.suppress(FileNotFoundError):
                victim.unlink()

    async def delete(self, key: str) -> None:
        """Removes the object; absent objects are fine."""
        await asyncio.to_thread(self._delete, key)


class S3ObjectStore:
    """Objects in one bucket of an S3-compatible server; the blocking minio client runs in worker threads."""

    def __init__(self, client: Minio, bucket: str) -> None:
        self._client = client
        self._bucket = bucket
        self._bucket_ready = False

    @classmethod
    def from_settings(cls, settings: ObjectStoreSettings) -> S3ObjectStore:
        """A store for the endpoint, credentials and bucket in `settings`."""
        if not settings.s3_endpoint:
            raise ValueError("AVATARCHAT_S3_ENDPOINT is required when AVATARCHAT_OBJECT_STORE=s3")
        client = Minio(
            settings.s3_endpoint,
            access_key=settings.s3_access_key or None,
            secret_key=settings.s3_secret_key or None,
            secure=settings.s3_secure,
            region=settings.s3_region or None,
        )
        return cls(client, settings.s3_bucket)

    def _ensure_bucket(self) -> None:
        if self._bucket_ready:
            return
        if not self._client.bucket_exists(self._bucket):
            try:
                self._client.make_bucket(self._bucket)
            except S3Error as exc:
                # Another process created it between the check and the create.
                if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    raise
        self._bucket_ready = True

    def _stat(self, key: str) -> ObjectInfo | None:
        self._ensure_bucket()
        try:
            found = self._client.stat_object(self._bucket, check_key(key))
        except S3Error as exc:
            if exc.code in _MISSING_CODES:
                return None
            raise
        return ObjectInfo(
            int(found.size or 0),
            _etag_of(key, found.etag or ""),
            found.content_type or "application/octet-stream",
        )

    def _put(self, key: str, data: bytes, content_type: str) -> bool:
        if self._stat(key) is not None:
            return False
        self._client.put_object(self._bucket, key, io.BytesIO(data), len(data), content_type=content_type)
        return True

    async def put(self, key: str, data: bytes, content_type: str) -> bool:
        """Stores `data` under `key` unless something is already there; True when it wrote."""
        return await asyncio.to_thread(self._put, key, data, content_type)

    def _read(self, key: str, start: int, length: int) -> bytes:
        self._ensure_bucket()
        try:
            response = self._client.get_object(self._bucket, check_key(key), offset=start, length=length)
        except S3Error as exc:
            if exc.code in _MISSING_CODES:
                raise ObjectMissing(key) from None
            raise
        try:
            return bytes(response.read())
        finally:
            response.close()
            response.release_conn()

    async def get(self, key: str) -> bytes:
        """The whole object; ObjectMissing when absent."""
        return await asyncio.to_thread(self._read, key, 0, 0)

    async def get_range(self, key: str, start: int, length: int) -> bytes:
        """`length` bytes from `start` (fewer at the end); ObjectMissing when absent."""
        if length <= 0:
            return b""
        return await asyncio.to_thread(self._read, key, start, length)

    async def head(self, key: str) -> ObjectInfo | None:
        """Size, ETag and content type, or None when absent."""
        return await asyncio.to_thread(self._stat, key)

    async def exists(self, key: str) -> bool:
        """Whether an object is stored under `key`."""
        return await self.head(key) is not None

    def _delete(self, key: str) -> None:
        self._ensure_bucket()
        self._client.remove_object(self._bucket, check_key(key))

    async def delete(self, key: str) -> None:
        """Removes the object; absent objects are fine."""
        await asyncio.to_thread(self._delete, key)


class ObjectStoreSettings(RuntimeSettings):
    """Where binary assets live (`AVATARCHAT_OBJECT_STORE`, `AVATARCHAT_S3_*`)."""

    object_store: str = "local"
    """`local` (files under data_dir/objects) or `s3` (any S3-compatible server, e.g. MinIO)."""

    s3_endpoint: str = ""
    """`host:port` of the S3 server (no scheme), e.g. `127.0.0.1:9000` or `s3.eu-central-1.amazonaws.com`."""

    s3_access_key: str = ""
    """Access key id; empty for anonymous access."""

    s3_secret_key: str = ""
    """Secret access key."""

    s3_bucket: str = "avatarchat-assets"
    """Bucket of every asset; created on first use."""

    s3_region: str = ""
    """Region; empty lets the client ask the server."""

    s3_secure: bool = True
    """Use HTTPS; false only for a loopback MinIO or test server."""


def open_object_store(settings: ObjectStoreSettings) -> ObjectStore:
    """The store the settings choose; fails fast naming the key on a bad choice."""
    if settings.object_store == "local":
        return LocalObjectStore(settings.data_dir / "objects")
    if settings.object_store == "s3":
        return S3ObjectStore.from_settings(settings)
    raise ValueError(f"AVATARCHAT_OBJECT_STORE must be 'local' or 's3', not {settings.object_store!r}")
