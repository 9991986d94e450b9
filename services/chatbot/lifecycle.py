"""Creating and deleting chatbots against the tenant's plan: quota first, given back on failure or delete."""

from __future__ import annotations

import logging
import uuid

from services.chatbot.embed_ids import new_embed_id
from services.chatbot.store import ChatbotRow, ChatbotStore, NewChatbot
from services.chatbot.tenant_directory import TenantDirectory
from services.runtime import errors

log = logging.getLogger(__name__)


class ChatbotLifecycle:
    """Keeps the tenant service's chatbot counter equal to the number of chatbot rows."""

    def __init__(self, store: ChatbotStore, tenants: TenantDirectory) -> None:
        self._store = store
        self._tenants = tenants

    async def create(self, tenant_id: uuid.UUID, new: NewChatbot) -> ChatbotRow:
        """Reserves one chatbot of the plan (LIMIT_EXCEEDED propagates), then inserts; releases if the insert fails."""
        await self._tenants.reserve_chatbot(tenant_id)
        try:
            return await self._store.create(tenant_id, new, new_embed_id())
        except BaseException:
            await self._release(tenant_id)
            raise

    async def delete(self, tenant_id: uuid.UUID, chatbot_id: uuid.UUID, name: str) -> None:
        """Deletes the chatbot (NOT_FOUND if missing) and gives its slot back."""
        if not await self._store.delete(tenant_id, chatbot_id):
            raise errors.NotFound(name)
        await self._release(tenant_id)

    async def _release(self, tenant_id: uuid.UUID) -> None:
        try:
            await self._tenants.release_chatbot(tenant_id)
        except errors.ServiceError:
            # The chatbot is already gone (or never existed); failing the call would only invite a retry
            # that answers NOT_FOUND. The counter drifts by one until reconciled, which the log makes visible.
            log.exception("chatbot quota not released", extra={"tenant": str(tenant_id)})
