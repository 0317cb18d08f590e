"""chatloom: a self-hostable server for text conversations with LLM assistants (Vapi's Chat API)."""

__version__ = "0.1.0"
