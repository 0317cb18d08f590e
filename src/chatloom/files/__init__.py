"""Uploaded files at the edge: where their content is kept (`storage`), and how text is taken out of it
(`extraction`, run in a separate, killable process by `worker`). Nothing here knows the database or the
engine: the engine's file records use it."""
