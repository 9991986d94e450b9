"""Entry point of the `avatarchat` command: up, migrate, status, seed, and service subcommands."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
from collections.abc import Sequence

from services.cli.catalog import MIGRATED_SERVICES, RUNNABLE_SERVICES
from services.runtime.settings import RuntimeSettings

#: Modules that add their own subcommands (each has `register(subparsers)` setting `handler`).
SUBCOMMAND_MODULES: tuple[str, ...] = ("services.avatar.cli",)


def _migrate(settings: RuntimeSettings) -> int:
    from services.runtime import migrations
    from services.runtime.db import database_url

    applied = migrations.migrate(database_url(settings), MIGRATED_SERVICES)
    print(f"{len(applied)} migrations applied" + (": " + ", ".join(applied) if applied else " (up to date)"))
    return 0


def _status(settings: RuntimeSettings) -> int:
    from services.cli.health import check_all

    results = asyncio.run(check_all(settings, RUNNABLE_SERVICES))
    for name, state in results.items():
        print(f"{name:<13} {settings.address_of(name):<17} {state}")
    return 0 if all(s == "SERVING" for s in results.values()) else 1


def _up(settings: RuntimeSettings) -> int:
    from services.cli.up import up

    return up(settings)


def _seed(settings: RuntimeSettings) -> int:
    from services.cli.seed import seed_demo

    print(asyncio.run(seed_demo(settings)))
    return 0


def parser() -> argparse.ArgumentParser:
    """The command-line grammar."""
    root = argparse.ArgumentParser(prog="avatarchat", description="Operate an avatarchat installation.")
    commands = root.add_subparsers(dest="command", required=True)
    commands.add_parser("up", help="migrate, start every service, seed the demo tenant, wait for Ctrl-C")
    commands.add_parser("migrate", help="apply pending database migrations")
    commands.add_parser("status", help="health of every service (exit 1 unless all are SERVING)")
    commands.add_parser("seed", help="create the demo tenant if it is missing (services must be running)")
    for module in SUBCOMMAND_MODULES:
        importlib.import_module(module).register(commands)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    """Runs one command and returns its exit status."""
    args = parser().parse_args(argv)
    handlers = {"up": _up, "migrate": _migrate, "status": _status, "seed": _seed}
    handler = handlers.get(args.command)
    if handler is None:  # a subcommand registered by a service module carries its own handler
        result: int = args.handler(args)
        return result
    return handler(RuntimeSettings())


if __name__ == "__main__":
    sys.exit(main())
