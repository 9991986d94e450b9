"""Embed ids: `emb_` and 22 URL-safe base64 characters of 128 random bits, public but unguessable."""

from __future__ import annotations

import re
import secrets

PREFIX = "emb_"
EMBED_ID = re.compile(r"^emb_[A-Za-z0-9_-]{22}$")
#: Longest embed id accepted before answering NOT_FOUND/INVALID_ARGUMENT, so junk never reaches SQL.
MAX_LENGTH = 64


def new_embed_id() -> str:
    """A fresh embed id from the system CSPRNG."""
    # 16 bytes encode to exactly 22 base64url characters once the '==' padding is dropped.
    return PREFIX + secrets.token_urlsafe(16)


def well_formed(value: str) -> bool:
    """Whether `value` has the shape of an embed id (a cheap check before any lookup)."""
    return bool(EMBED_ID.match(value))
