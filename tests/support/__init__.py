"""Test support: databases for each backend, the server in a thread, API clients."""
