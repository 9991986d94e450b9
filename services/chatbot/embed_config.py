"""What a visitor's browser may see of a chatbot: the embed config and the snippet that loads the widget."""

from __future__ import annotations

import hashlib
import html

from avatarchat.avatar.v1 import avatar_pb2
from avatarchat.chatbot.v1 import chatbot_pb2
from services.chatbot.convert import personality_of, placement_of
from services.chatbot.store import ChatbotRow
from services.chatbot.tenant_directory import TenantDefaults

SCRIPT_PATH = "/embed.js"


def public_url(base_url: str, url: str) -> str:
    """Avatar URLs are edge paths (`/models/...`); the widget runs on the tenant's site, so make them absolute."""
    if url.startswith("/") and not url.startswith("//"):
        return base_url + url
    return url


def _avatar(config: chatbot_pb2.EmbedConfig, avatar: avatar_pb2.Avatar, base_url: str) -> None:
    model = avatar.model_url or avatar.optimized_model_url or avatar.original_model_url
    config.avatar_model_url = public_url(base_url, model)
    if avatar.preview.state == avatar_pb2.PREVIEW_STATE_READY and avatar.preview.url:
        config.avatar_thumbnail_url = public_url(base_url, avatar.preview.url)
    for entry in avatar.animation_map.entries:
        # AnimationBinding names clips only; morph-target entries are expressions the widget cannot play as clips.
        if entry.WhichOneof("target") == "clip":
            config.animations.append(chatbot_pb2.AnimationBinding(behaviour=entry.behaviour, clip=entry.clip))
    config.viseme_morphs.update(avatar.animation_map.viseme_morphs)


def build(
    row: ChatbotRow, avatar: avatar_pb2.Avatar | None, defaults: TenantDefaults, base_url: str
) -> chatbot_pb2.EmbedConfig:
    """The browser-safe config: names, greeting, theme and placement (no domains), avatar; never instructions."""
    personality = personality_of(row)
    placement = placement_of(row)
    # The allow-list is the edge's business; publishing it would only map out the tenant's sites.
    del placement.allowed_domains[:]
    if placement.HasField("business_hours") and not placement.business_hours.time_zone:
        placement.business_hours.time_zone = defaults.time_zone or "UTC"
    config = chatbot_pb2.EmbedConfig(
        embed_id=row.embed_id,
        bot_name=personality.display_name or row.display_name,
        greeting=personality.greeting,
        language=personality.language or defaults.language,
        placement=placement,
        visitor_identity_enabled=row.visitor_secret_rotate_time is not None,
    )
    if avatar is not None:
        _avatar(config, avatar, base_url)
    digest = hashlib.sha256(config.SerializeToString(deterministic=True)).hexdigest()
    config.config_version = digest[:20]
    return config


def script_url(base_url: str) -> str:
    """The widget loader, the same for every chatbot."""
    return base_url + SCRIPT_PATH


def snippet(base_url: str, embed_id: str) -> str:
    """One async script tag; the id rides in the URL (CDN cache key) and in a data attribute for the loader."""
    src = html.escape(f"{script_url(base_url)}?id={embed_id}", quote=True)
    return f'<script async src="{src}" data-embed-id="{html.escape(embed_id, quote=True)}"></script>'
