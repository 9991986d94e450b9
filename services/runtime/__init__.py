"""What every service stands on: settings, database, errors, auth context, gRPC server and clients."""
