"""Secrets at rest: Fernet encryption of credential secrets, and the sealed form they are stored in."""
