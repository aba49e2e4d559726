"""gRPC over mutual TLS: credentials, the Exchange server, the client side of a session."""
