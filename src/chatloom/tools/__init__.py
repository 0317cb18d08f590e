"""Tool execution and the outbound URL guard."""
