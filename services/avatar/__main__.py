"""Runs the avatar service: `python -m services.avatar`."""

from services.avatar.server import main

main()
