"""LLM wire protocols. Each adapter turns a `ModelRequest` into calls on one upstream dialect."""
