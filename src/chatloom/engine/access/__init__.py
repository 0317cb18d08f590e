"""Who may do what, with which keys: API keys, provider credentials, usage and rate limits."""
