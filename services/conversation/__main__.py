"""Runs the conversation service: `python -m services.conversation`."""

from services.conversation.server import main

main()
