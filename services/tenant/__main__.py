"""Runs the tenant service: `python -m services.tenant`."""

from services.tenant.server import main

main()
