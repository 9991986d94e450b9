"""Password hashing with argon2id, off the event loop, with a dummy hash so misses cost what hits cost."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError


class Passwords:
    """Hashes and verifies passwords; argon2-cffi's defaults are RFC 9106's low-memory argon2id profile."""

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self._hasher = hasher or PasswordHasher()
        # Verified against when a user is missing, so an unknown e-mail takes as long as a wrong password.
        self._dummy = self._hasher.hash("avatarchat-dummy-password")

    async def hash(self, password: str) -> str:
        """The argon2id hash of `password` (PHC string with its parameters and salt)."""
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, stored: str | None, password: str) -> bool:
        """Whether `password` matches `stored`; a missing hash is checked against the dummy and fails."""
        target = stored or self._dummy
        try:
            ok = await asyncio.to_thread(self._hasher.verify, target, password)
        except (VerificationError, InvalidHashError):
            return False
        return bool(ok) and stored is not None

    def needs_rehash(self, stored: str) -> bool:
        """Whether `stored` was made with weaker parameters than the current ones."""
        return self._hasher.check_needs_rehash(stored)
