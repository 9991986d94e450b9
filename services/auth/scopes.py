"""The API-key scopes the platform knows; every `api_key_scope` in the contracts must be listed here."""

from __future__ import annotations

#: Scopes an API key may be granted, `<resource>.<read|write>`.
API_KEY_SCOPES: frozenset[str] = frozenset(
    {
        "tenant.read",
        "tenant.write",
        "chatbots.read",
        "chatbots.write",
        "knowledge.read",
        "knowledge.write",
        "conversations.read",
        "analytics.read",
        "analytics.write",
        "billing.read",
    }
)
