"""Artifacts of a finished conversation: structured outputs, their definitions, conditions and extraction,
and the session artifact they are saved in."""
