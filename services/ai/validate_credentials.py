"""Request checks of the provider-credential RPCs; no message ever repeats a key or a URL that was sent."""

from __future__ import annotations

import re
import uuid
from urllib.parse import urlsplit

from services.ai.credentials import COLLECTION, TENANT_PROVIDERS
from services.ai.providers.gemini_provider import VERTEX_ID
from services.runtime import errors
from services.runtime.addresses import refused_addresses
from services.runtime.context import require_tenant_access
from services.runtime.names import parse_tenant
from services.runtime.validation import Checks

MAX_KEY = 1024
MAX_BASE_URL = 2048
NAME_PATTERN = f"tenants/{{tenant}}/{COLLECTION}/{{provider}}"
_NAME = re.compile(rf"^(tenants/[^/]+)/{COLLECTION}/([^/]+)$")
# Keys travel in an HTTP header: printable ASCII without spaces is what every provider issues.
_PRINTABLE = re.compile(r"^[\x21-\x7e]+$")


def credential(name: str) -> tuple[uuid.UUID, str]:
    """Tenant id and provider of a credential name the caller may use (NOT_FOUND for another tenant's)."""
    match = _NAME.match(name) if len(name) <= 512 else None
    if match is None:
        raise errors.InvalidArgument.field("name", f"expected {NAME_PATTERN}")
    tenant_id = parse_tenant(match.group(1), "name")
    require_tenant_access(tenant_id, name)
    provider = match.group(2)
    if provider not in TENANT_PROVIDERS:
        raise errors.InvalidArgument.field("name", f"provider must be one of {', '.join(TENANT_PROVIDERS)}")
    return tenant_id, provider


def api_key(checks: Checks, value: str, provider: str) -> None:
    """1-1024 printable ASCII characters; the description never quotes the value."""
    if not value:
        checks.fail("api_key", "required")
    elif len(value) > MAX_KEY:
        checks.fail("api_key", f"at most {MAX_KEY} characters")
    elif not _PRINTABLE.match(value):
        checks.fail("api_key", "printable ASCII characters only, without spaces or line breaks")
    elif provider == VERTEX_ID and value.startswith("{"):
        # A service account key names the token endpoint the AI service would call: an operator's setting only.
        checks.fail("api_key", "a Vertex AI API key; service account keys are platform settings")


def base_url(checks: Checks, value: str) -> str:
    """Empty, or an http(s) URL with a host and no user info, query or fragment (which could hold secrets)."""
    if not value:
        return ""
    if len(value) > MAX_BASE_URL:
        checks.fail("base_url", f"at most {MAX_BASE_URL} characters")
        return ""
    if not _PRINTABLE.match(value):
        checks.fail("base_url", "printable ASCII characters only, without spaces")
        return ""
    try:
        parts = urlsplit(value)
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        checks.fail("base_url", "not a valid URL")
        return ""
    if parts.scheme not in ("http", "https"):
        checks.fail("base_url", "must start with https:// or http://")
    elif not parts.hostname or not port_ok:
        checks.fail("base_url", "must name a host (and a valid port, if any)")
    elif "@" in parts.netloc:
        checks.fail("base_url", "must not contain user info; send the key in api_key")
    elif parts.query or parts.fragment or value.endswith(("?", "#")):
        checks.fail("base_url", "must not have a query or fragment")
    return value


async def callable_base_url(url: str, allow_private: bool) -> None:
    """INVALID_ARGUMENT unless every address the base URL's host resolves to may be called (SSRF guard)."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    refused = await refused_addresses(parts.hostname or "", port, allow_private)
    if refused is None:
        raise errors.InvalidArgument.field("base_url", "the host does not resolve")
    if refused:
        raise errors.InvalidArgument.field(
            "base_url", "resolves to a private, loopback or link-local address, which this platform does not call"
        )
