"""The chat engine: one turn from context to stored chat; knows no HTTP."""
