"""Calls a turn makes: models (retries, fallbacks, prices), tools (definitions, runs), grounding."""
