"""The auth service: users, sessions, access and visitor tokens, API keys and the signing keys behind them."""
