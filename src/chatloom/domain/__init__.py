"""Plain values every layer speaks: messages, events, usage, errors. Imports nothing of ours."""
