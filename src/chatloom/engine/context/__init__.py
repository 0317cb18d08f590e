"""A conversation's context: the model's window, fitting history into it, summaries, history rules."""
