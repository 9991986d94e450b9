"""Which services exist and run as their own processes, in start order."""

from __future__ import annotations

#: Services implemented so far; `avatarchat up` starts each as `python -m services.<name>`.
RUNNABLE_SERVICES: tuple[str, ...] = ("auth", "tenant", "chatbot", "knowledge", "avatar", "ai", "conversation")

#: Services whose migrations exist (a service may own a schema before it runs).
MIGRATED_SERVICES: tuple[str, ...] = RUNNABLE_SERVICES

DEMO_SLUG = "demo"
DEMO_EMAIL = "owner@demo.avatarchat.local"
DEMO_PASSWORD = "demo-password-123"
