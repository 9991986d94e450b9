"""Runs the knowledge service: `python -m services.knowledge`."""

from services.knowledge.server import main

main()
