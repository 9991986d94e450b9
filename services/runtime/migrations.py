"""Versioned schema migrations with yoyo: one folder of SQL files per service, applied in order."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

log = logging.getLogger(__name__)

SERVICES_DIR = Path(__file__).resolve().parents[1]


def migration_dirs(services: Sequence[str]) -> list[Path]:
    """The runtime's own migrations first, then each service's that has a migrations folder."""
    dirs = [SERVICES_DIR / "runtime" / "migrations"]
    dirs += [SERVICES_DIR / s / "migrations" for s in services if (SERVICES_DIR / s / "migrations").is_dir()]
    return dirs


def _yoyo_url(url: str) -> str:
    # yoyo picks its DB-API driver from the scheme; psycopg 3 understands libpq URLs with ?host=/socket.
    return "postgresql+psycopg://" + url.split("://", 1)[1]


def migrate(url: str, services: Sequence[str]) -> list[str]:
    """Applies every pending migration of `services` to the database at `url`; returns the applied ids."""
    from yoyo import get_backend, read_migrations

    backend = get_backend(_yoyo_url(url))
    applied: list[str] = []
    try:
        with backend.lock():
            for folder in migration_dirs(services):
                pending = backend.to_apply(read_migrations(str(folder)))
                if pending:
                    backend.apply_migrations(pending)
                    applied += [m.id for m in pending]
    finally:
        backend.connection.close()
    for migration_id in applied:
        log.info("applied migration", extra={"migration": migration_id})
    return applied
