"""AIP-158 pagination: page sizes and opaque, signed keyset page tokens bound to their request."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Sequence
from typing import Any

from services.runtime.errors import InvalidArgument

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000


def page_size(value: int, field: str = "page_size") -> int:
    """0 means the default, values above the maximum are capped, negatives are refused."""
    if value < 0:
        raise InvalidArgument.field(field, "must not be negative")
    return min(value or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


class PageTokens:
    """Encodes a keyset cursor as an HMAC-signed token that only the same request may present again."""

    def __init__(self, secret: str) -> None:
        self._key = hashlib.sha256(("page-token:" + secret).encode()).digest()

    def _sign(self, body: bytes, scope: str) -> bytes:
        return hmac.new(self._key, body + b"\x00" + scope.encode(), hashlib.sha256).digest()[:16]

    def encode(self, cursor: Sequence[Any], scope: str) -> str:
        """A token for the page after `cursor`, valid only for requests with the same `scope`."""
        body = json.dumps(list(cursor), separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(self._sign(body, scope) + body).decode().rstrip("=")

    def decode(self, token: str, scope: str, field: str = "page_token") -> list[Any] | None:
        """The cursor of `token`; None for an empty token; INVALID_ARGUMENT for a foreign or broken one."""
        if not token:
            return None
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (ValueError, TypeError):
            raise InvalidArgument.field(field, "malformed page token") from None
        mac, body = raw[:16], raw[16:]
        if len(mac) != 16 or not hmac.compare_digest(mac, self._sign(body, scope)):
            raise InvalidArgument.field(field, "page token does not belong to this request")
        cursor = json.loads(body)
        if not isinstance(cursor, list):
            raise InvalidArgument.field(field, "malformed page token")
        return cursor
