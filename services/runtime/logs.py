"""Logging set-up: one JSON object per line, each carrying the request id of the call it belongs to."""

from __future__ import annotations

import logging
import sys

from pythonjsonlogger.json import JsonFormatter

from services.runtime.context import request_id_var


class RequestIdFilter(logging.Filter):
    """Adds `request_id` and `service` to every record."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def filter(self, record: logging.LogRecord) -> bool:
        """Always keeps the record; only annotates it."""
        record.request_id = request_id_var.get()
        record.service = self._service
        return True


def configure(service: str, level: str = "INFO", json_lines: bool = True) -> None:
    """Sends the root logger to stderr as JSON lines (or plain text) at `level`."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestIdFilter(service))
    if json_lines:
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s %(service)s %(request_id)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            )
        )
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s [%(service)s] %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
