"""`python -m services.auth` runs the auth service."""

from services.auth.server import main

main()
