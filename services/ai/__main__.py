"""Runs the AI service: `python -m services.ai`."""

from services.ai.server import main

main()
