"""Settings of the tenant service."""

from __future__ import annotations

from services.runtime.settings import RuntimeSettings


class TenantSettings(RuntimeSettings):
    """Tenant service settings (`AVATARCHAT_<NAME>`)."""

    signup_open: bool = True
    """Whether anyone may create a tenant through the public CreateTenant (self-serve sign-up)."""

    default_plan: str = "free"
    """Plan id a new tenant starts on when it names none."""
