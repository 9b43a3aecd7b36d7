"""The HTTP gateway: auth, commands forwarded over RPC, and the per-client read model."""
