"""The edge: REST (and later Socket.io) for browsers and API users, transcoded onto the gRPC services."""
