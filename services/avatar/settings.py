"""Settings of the avatar service."""

from __future__ import annotations

from services.runtime.object_store import ObjectStoreSettings


class AvatarSettings(ObjectStoreSettings):
    """Avatar service settings (`AVATARCHAT_AVATAR_<NAME>` for its own, `AVATARCHAT_<NAME>` for shared ones)."""

    avatar_dependency_timeout_seconds: float = 5.0
    """Deadline of calls to the tenant service (quota)."""

    avatar_queue_prefix: str = "avatar"
    """Prefix of the job queues (`<prefix>.preview`, `<prefix>.optimize`); separate deployments sharing a
    broker, or test sessions, set their own."""

    avatar_preview_size: int = 512
    """Width and height in pixels of rendered previews."""

    avatar_jobs_enabled: bool = True
    """Consume preview and optimization jobs in this process (false leaves them to dedicated workers)."""
