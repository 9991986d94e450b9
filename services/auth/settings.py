"""Settings of the auth service (`AVATARCHAT_AUTH_<NAME>` for its own, `AVATARCHAT_<NAME>` for shared ones)."""

from __future__ import annotations

from services.runtime.settings import RuntimeSettings


class AuthSettings(RuntimeSettings):
    """Auth service settings; every default works on one machine."""

    auth_access_token_ttl_seconds: int = 600
    """How long an access token is valid (10 minutes)."""

    auth_refresh_token_ttl_seconds: int = 30 * 24 * 3600
    """How long an unused refresh token stays valid; each rotation starts the period again (30 days)."""

    auth_visitor_token_ttl_seconds: int = 900
    """How long a widget visitor token is valid (15 minutes)."""

    auth_key_rotation_seconds: int = 7 * 24 * 3600
    """How long a signing key signs before a new one replaces it (7 days)."""

    auth_key_cache_seconds: float = 30.0
    """How long a process trusts its cached view of the signing keys before reading them again."""

    auth_login_account_limit: int = 5
    """Login attempts allowed per tenant and e-mail within the window before RATE_LIMITED."""

    auth_login_address_limit: int = 100
    """Failed login attempts allowed per client address within the window before RATE_LIMITED."""

    auth_login_window_seconds: int = 900
    """The login throttling window (15 minutes)."""

    auth_api_key_touch_seconds: int = 60
    """An API key's last-used time is written at most this often, so validation stays read-only."""

    auth_password_time_cost: int = 3
    """argon2id passes (RFC 9106 low-memory profile: 3)."""

    auth_password_memory_kib: int = 65536
    """argon2id memory per hash in KiB (RFC 9106 low-memory profile: 64 MiB)."""

    auth_password_parallelism: int = 4
    """argon2id lanes."""

    @classmethod
    def of(cls, settings: RuntimeSettings) -> AuthSettings:
        """`settings` as AuthSettings: shared values kept, auth values from the environment or defaults."""
        if isinstance(settings, AuthSettings):
            return settings
        return cls(**settings.model_dump())
