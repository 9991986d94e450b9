"""The `avatarchat` operator command line."""
