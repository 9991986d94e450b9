"""Runs the chatbot service: `python -m services.chatbot`."""

from services.chatbot.server import main

main()
