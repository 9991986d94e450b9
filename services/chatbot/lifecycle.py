"""Creating and deleting chatbots against the tenant's plan: quota first, given back on failure or delete."""

from __future__ import annotations

import logging
import uuid

from services.chatbot.embed_ids import new_embed_id
from services.chatbot.store import ChatbotRow, ChatbotStore, NewChatbot
from services.runtime import errors
from services.runtime.quota import PlanQuota

log = logging.getLogger(__name__)


class ChatbotLifecycle:
    """Keeps the tenant service's chatbot counter equal to the number of chatbot rows."""

    def __init__(self, store: ChatbotStore, quota: PlanQuota) -> None:
        self._store = store
        self._quota = quota

    async def create(self, tenant_id: uuid.UUID, new: NewChatbot) -> ChatbotRow:
        """Reserves one chatbot of the plan (LIMIT_EXCEEDED propagates), then inserts; releases if the insert fails."""
        await self._quota.reserve(tenant_id)
        try:
            return await self._store.create(tenant_id, new, new_embed_id())
        except BaseException:
            await self._quota.release_or_log(tenant_id)
            raise

    async def delete(self, tenant_id: uuid.UUID, chatbot_id: uuid.UUID, name: str) -> None:
        """Deletes the chatbot (NOT_FOUND if missing) and gives its slot back."""
        if not await self._store.delete(tenant_id, chatbot_id):
            raise errors.NotFound(name)
        # The chatbot is already gone: failing the call would only invite a retry answering NOT_FOUND.
        await self._quota.release_or_log(tenant_id)
