"""The public side of a chatbot: its embed config for browsers and the edge's connect-time ResolveEmbed."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from avatarchat.chatbot.v1 import chatbot_pb2
from services.chatbot import embed_config, embed_ids, placement, visitor_identity
from services.chatbot.avatar_directory import AvatarDirectory
from services.chatbot.convert import chatbot_name, personality_of, placement_of
from services.chatbot.store import ChatbotRow, ChatbotStore
from services.chatbot.tenant_directory import TenantDefaults, TenantDirectory
from services.chatbot.visitor_identity import SecretBox
from services.runtime import errors
from services.runtime.context import require_tenant_access


def _now() -> datetime:
    return datetime.now(UTC)


class Embeds:
    """Looks chatbots up by embed id; paused, rotated-away and unknown ids are all NOT_FOUND."""

    def __init__(
        self,
        store: ChatbotStore,
        avatars: AvatarDirectory,
        tenants: TenantDirectory,
        box: SecretBox,
        *,
        public_base_url: str,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self._store = store
        self._avatars = avatars
        self._tenants = tenants
        self._box = box
        self._base_url = public_base_url
        self._clock = clock

    async def _active(self, embed_id: str) -> ChatbotRow:
        if not embed_id:
            raise errors.InvalidArgument.field("embed_id", "required")
        if len(embed_id) > embed_ids.MAX_LENGTH or not embed_ids.well_formed(embed_id):
            raise errors.InvalidArgument.field("embed_id", "not an embed id (emb_ and 22 URL-safe characters)")
        row = await self._store.by_embed_id(embed_id)
        if row is None or row.state != "active":
            raise errors.NotFound(f"embed {embed_id}")
        return row

    async def config(self, embed_id: str) -> chatbot_pb2.EmbedConfig:
        """The browser-safe config of an active chatbot, with its avatar when the avatar service answers."""
        row = await self._active(embed_id)
        avatar = await self._avatars.for_embed(row.tenant_id, row.avatar)
        rules = placement_of(row)
        zone_missing = rules.HasField("business_hours") and not rules.business_hours.time_zone
        needs_tenant = zone_missing or not personality_of(row).language
        defaults = await self._tenants.defaults(row.tenant_id) if needs_tenant else TenantDefaults()
        return embed_config.build(row, avatar, defaults, self._base_url)

    async def resolve(self, request: chatbot_pb2.ResolveEmbedRequest) -> chatbot_pb2.ResolveEmbedResponse:
        """Origin, path and hours checks plus the visitor's identity, for the edge before it issues a token."""
        row = await self._active(request.embed_id)
        # A service acting for one tenant must not learn about another tenant's embed ids.
        require_tenant_access(row.tenant_id, f"embed {request.embed_id}")
        visitor_id, verified = await self._visitor(row, request.visitor_id, request.visitor_signature)
        rules = placement_of(row)
        visible = True
        if request.page_url:
            path = placement.page_path(request.page_url)
            visible = placement.path_visible(path, rules.include_paths, rules.exclude_paths)
        hours = rules.business_hours
        if visible and hours.windows and hours.hide_outside_hours:
            zone = hours.time_zone or (await self._tenants.defaults(row.tenant_id)).time_zone or "UTC"
            spans = (placement.window(w.day, w.start_time, w.end_time) for w in hours.windows)
            windows = [w for w in spans if w is not None]
            visible = placement.is_open(windows, zone, self._clock())
        return chatbot_pb2.ResolveEmbedResponse(
            chatbot=chatbot_name(row),
            visitor_id=visitor_id,
            visitor_verified=verified,
            # An empty allow-list allows nothing: a bot is embeddable only where its tenant said so.
            origin_allowed=placement.origin_allowed(request.origin, rules.allowed_domains),
            visible=visible,
        )

    async def _visitor(self, row: ChatbotRow, visitor_id: str, signature: str) -> tuple[str, bool]:
        if len(visitor_id) > visitor_identity.MAX_VISITOR_ID_LENGTH or any(ord(c) < 32 for c in visitor_id):
            raise errors.InvalidArgument.field(
                "visitor_id", f"at most {visitor_identity.MAX_VISITOR_ID_LENGTH} printable characters"
            )
        if signature:
            if not visitor_id:
                raise errors.InvalidArgument.field("visitor_id", "required with visitor_signature")
            sealed = await self._store.visitor_secret(row.tenant_id, row.id)
            if sealed is None:
                raise errors.Unauthenticated("this chatbot has no visitor secret, so signed visitors are refused")
            secret = self._box.unseal(sealed, row.tenant_id, row.id)
            if not visitor_identity.signature_valid(secret, visitor_id, signature):
                raise errors.Unauthenticated("visitor signature does not match")
            return visitor_id, True
        if visitor_identity.is_anonymous_id(visitor_id):
            return visitor_id, False
        # An unsigned claim ("customer-42") is not trusted, nor refused: the visitor chats as a new anonymous one,
        # so a site that passes ids before it signs them still gets its widget, and nobody borrows another's id.
        return visitor_identity.new_anonymous_id(), False
