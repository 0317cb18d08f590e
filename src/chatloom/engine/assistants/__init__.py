"""Assistant documents as the engine reads them: the in-process cache and the rendered prompt."""
