"""avatarchat's gRPC services and the runtime they stand on."""
