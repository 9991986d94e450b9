"""ChatbotService: thin RPC methods over the chatbot store, lifecycle, embeds and avatar directory."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import grpc

from avatarchat.chatbot.v1 import chatbot_pb2, chatbot_pb2_grpc
from services.chatbot import embed_config, validate, validate_placement, visitor_identity
from services.chatbot.avatar_directory import AvatarDirectory
from services.chatbot.convert import chatbot_message, personality_of, placement_of, timestamp, to_json
from services.chatbot.embed_ids import new_embed_id
from services.chatbot.embeds import Embeds
from services.chatbot.lifecycle import ChatbotLifecycle
from services.chatbot.store import ChatbotRow, ChatbotStore, NewChatbot
from services.chatbot.visitor_identity import SecretBox
from services.runtime import errors
from services.runtime.context import require_tenant_access
from services.runtime.names import parse_tenant
from services.runtime.pagination import PageTokens, page_size
from services.runtime.validation import Checks

Context = grpc.aio.ServicerContext[Any, Any]


class ChatbotServicer(chatbot_pb2_grpc.ChatbotServiceServicer):
    """Implements avatarchat.chatbot.v1.ChatbotService."""

    def __init__(
        self,
        store: ChatbotStore,
        *,
        lifecycle: ChatbotLifecycle,
        embeds: Embeds,
        avatars: AvatarDirectory,
        box: SecretBox,
        page_tokens: PageTokens,
        public_base_url: str,
    ) -> None:
        self._store = store
        self._lifecycle = lifecycle
        self._embeds = embeds
        self._avatars = avatars
        self._box = box
        self._pages = page_tokens
        self._base_url = public_base_url

    def _ids(self, name: str, field: str = "name") -> tuple[uuid.UUID, uuid.UUID]:
        tenant_id, chatbot_id = validate.chatbot_ids(name, field)
        require_tenant_access(tenant_id, name)
        return tenant_id, chatbot_id

    async def _row(self, name: str, field: str = "name") -> ChatbotRow:
        row = await self._store.get(*self._ids(name, field))
        if row is None:
            raise errors.NotFound(name)
        return row

    async def ListChatbots(
        self, request: chatbot_pb2.ListChatbotsRequest, context: Context
    ) -> chatbot_pb2.ListChatbotsResponse:
        """A page of the tenant's chatbots, oldest first."""
        tenant_id = parse_tenant(request.parent, "parent")
        require_tenant_access(tenant_id, request.parent)
        size = page_size(request.page_size)
        scope = f"{request.parent}/chatbots"
        cursor = self._pages.decode(request.page_token, scope)
        after = (datetime.fromisoformat(cursor[0]), uuid.UUID(cursor[1])) if cursor else None
        rows = await self._store.page(tenant_id, size + 1, after)
        response = chatbot_pb2.ListChatbotsResponse(chatbots=[chatbot_message(r) for r in rows[:size]])
        if len(rows) > size:
            last = rows[size - 1]
            response.next_page_token = self._pages.encode([last.create_time.isoformat(), str(last.id)], scope)
        return response

    async def CreateChatbot(
        self, request: chatbot_pb2.CreateChatbotRequest, context: Context
    ) -> chatbot_pb2.CreateChatbotResponse:
        """Validates everything, checks the avatar, takes quota and stores the chatbot with a fresh embed id."""
        tenant_id = parse_tenant(request.parent, "parent")
        require_tenant_access(tenant_id, request.parent)
        bot = request.chatbot
        checks = Checks()
        new = NewChatbot(
            display_name=validate.display_name(checks, "chatbot.display_name", bot.display_name),
            state=validate.state(checks, "chatbot.state", bot.state),
            knowledge_bases=validate.knowledge_bases(checks, "chatbot.knowledge_bases", bot.knowledge_bases, tenant_id),
            personality=to_json(validate.personality(checks, "chatbot.personality", bot.personality)),
        )
        # Without a placement the widget shows on phones too; an explicit placement says what it wants.
        rules = bot.placement if bot.HasField("placement") else chatbot_pb2.Placement(show_on_mobile=True)
        new.placement = to_json(validate_placement.placement(checks, "chatbot.placement", rules))
        checks.done()
        if bot.avatar:
            new.avatar = validate.avatar_of_tenant(bot.avatar, tenant_id, "chatbot.avatar")
            await self._avatars.check_assignable(tenant_id, new.avatar)
        row = await self._lifecycle.create(tenant_id, new)
        return chatbot_pb2.CreateChatbotResponse(chatbot=chatbot_message(row))

    async def GetChatbot(
        self, request: chatbot_pb2.GetChatbotRequest, context: Context
    ) -> chatbot_pb2.GetChatbotResponse:
        """Returns one chatbot."""
        return chatbot_pb2.GetChatbotResponse(chatbot=chatbot_message(await self._row(request.name)))

    async def UpdateChatbot(
        self, request: chatbot_pb2.UpdateChatbotRequest, context: Context
    ) -> chatbot_pb2.UpdateChatbotResponse:
        """Changes display name, state and knowledge bases under a field mask."""
        tenant_id, chatbot_id = self._ids(request.chatbot.name, "chatbot.name")
        paths = validate.chatbot_update_paths(request.update_mask)
        bot = request.chatbot
        checks = Checks()
        changes: dict[str, Any] = {}
        if "display_name" in paths:
            changes["display_name"] = validate.display_name(checks, "chatbot.display_name", bot.display_name)
        if "state" in paths:
            changes["state"] = validate.state(checks, "chatbot.state", bot.state)
        if "knowledge_bases" in paths:
            changes["knowledge_bases"] = validate.knowledge_bases(
                checks, "chatbot.knowledge_bases", bot.knowledge_bases, tenant_id
            )
        checks.done()
        row = await self._store.modify(tenant_id, chatbot_id, lambda _: changes)
        if row is None:
            raise errors.NotFound(bot.name)
        return chatbot_pb2.UpdateChatbotResponse(chatbot=chatbot_message(row))

    async def DeleteChatbot(
        self, request: chatbot_pb2.DeleteChatbotRequest, context: Context
    ) -> chatbot_pb2.DeleteChatbotResponse:
        """Deletes a chatbot; its embed id stops resolving and its plan slot is freed."""
        tenant_id, chatbot_id = self._ids(request.name)
        await self._lifecycle.delete(tenant_id, chatbot_id, request.name)
        return chatbot_pb2.DeleteChatbotResponse()

    async def AssignAvatar(
        self, request: chatbot_pb2.AssignAvatarRequest, context: Context
    ) -> chatbot_pb2.AssignAvatarResponse:
        """Sets (after checking it with the avatar service) or clears the chatbot's avatar."""
        row = await self._row(request.name)
        if request.avatar:
            validate.avatar_of_tenant(request.avatar, row.tenant_id)
            await self._avatars.check_assignable(row.tenant_id, request.avatar)
        updated = await self._store.modify(row.tenant_id, row.id, lambda _: {"avatar": request.avatar})
        if updated is None:
            raise errors.NotFound(request.name)
        return chatbot_pb2.AssignAvatarResponse(chatbot=chatbot_message(updated))

    async def UpdatePersonality(
        self, request: chatbot_pb2.UpdatePersonalityRequest, context: Context
    ) -> chatbot_pb2.UpdatePersonalityResponse:
        """Merges the masked personality fields and validates the result as a whole."""
        tenant_id, chatbot_id = self._ids(request.name)
        validate.check_mask(request.update_mask, chatbot_pb2.Personality.DESCRIPTOR)

        def change(row: ChatbotRow) -> dict[str, Any]:
            merged = personality_of(row)
            validate.merge_masked(merged, request.personality, request.update_mask)
            checks = Checks()
            checked = validate.personality(checks, "personality", merged)
            checks.done()
            return {"personality": to_json(checked)}

        row = await self._store.modify(tenant_id, chatbot_id, change)
        if row is None:
            raise errors.NotFound(request.name)
        return chatbot_pb2.UpdatePersonalityResponse(chatbot=chatbot_message(row))

    async def UpdatePlacement(
        self, request: chatbot_pb2.UpdatePlacementRequest, context: Context
    ) -> chatbot_pb2.UpdatePlacementResponse:
        """Merges the masked placement fields and validates the result as a whole."""
        tenant_id, chatbot_id = self._ids(request.name)
        validate.check_mask(request.update_mask, chatbot_pb2.Placement.DESCRIPTOR)

        def change(row: ChatbotRow) -> dict[str, Any]:
            merged = placement_of(row)
            validate.merge_masked(merged, request.placement, request.update_mask)
            checks = Checks()
            checked = validate_placement.placement(checks, "placement", merged)
            checks.done()
            return {"placement": to_json(checked)}

        row = await self._store.modify(tenant_id, chatbot_id, change)
        if row is None:
            raise errors.NotFound(request.name)
        return chatbot_pb2.UpdatePlacementResponse(chatbot=chatbot_message(row))

    async def GetEmbedScript(
        self, request: chatbot_pb2.GetEmbedScriptRequest, context: Context
    ) -> chatbot_pb2.GetEmbedScriptResponse:
        """The snippet a tenant pastes into its site."""
        row = await self._row(request.name)
        return chatbot_pb2.GetEmbedScriptResponse(
            snippet=embed_config.snippet(self._base_url, row.embed_id),
            script_url=embed_config.script_url(self._base_url),
            embed_id=row.embed_id,
        )

    async def GetEmbedConfig(
        self, request: chatbot_pb2.GetEmbedConfigRequest, context: Context
    ) -> chatbot_pb2.GetEmbedConfigResponse:
        """Public: what the widget needs, nothing secret."""
        return chatbot_pb2.GetEmbedConfigResponse(embed_config=await self._embeds.config(request.embed_id))

    async def RotateEmbedId(
        self, request: chatbot_pb2.RotateEmbedIdRequest, context: Context
    ) -> chatbot_pb2.RotateEmbedIdResponse:
        """Replaces the embed id; the old one is NOT_FOUND from the moment this returns."""
        tenant_id, chatbot_id = self._ids(request.name)
        row = await self._store.rotate_embed_id(tenant_id, chatbot_id, new_embed_id())
        if row is None:
            raise errors.NotFound(request.name)
        return chatbot_pb2.RotateEmbedIdResponse(chatbot=chatbot_message(row))

    async def RotateVisitorSecret(
        self, request: chatbot_pb2.RotateVisitorSecretRequest, context: Context
    ) -> chatbot_pb2.RotateVisitorSecretResponse:
        """Creates or replaces the visitor secret and shows it this once; only its ciphertext is stored."""
        tenant_id, chatbot_id = self._ids(request.name)
        secret = visitor_identity.new_secret()
        row = await self._store.set_visitor_secret(tenant_id, chatbot_id, self._box.seal(secret, tenant_id, chatbot_id))
        if row is None or row.visitor_secret_rotate_time is None:
            raise errors.NotFound(request.name)
        return chatbot_pb2.RotateVisitorSecretResponse(
            secret=secret, rotate_time=timestamp(row.visitor_secret_rotate_time)
        )

    async def ResolveEmbed(
        self, request: chatbot_pb2.ResolveEmbedRequest, context: Context
    ) -> chatbot_pb2.ResolveEmbedResponse:
        """Internal: the edge's connect-time check of origin, page, hours and visitor identity."""
        return await self._embeds.resolve(request)
