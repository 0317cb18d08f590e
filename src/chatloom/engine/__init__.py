"""The chat engine: one turn from request to stored chat, and the records around it; knows no HTTP.

Its sub-packages, top to bottom (each imports only those below it): `turn` (the pipeline), `squads` and
`context`, `calls` (models, tools), `access` (keys, credentials, limits), `records` (CRUD), `notify`
(server messages), `assistants` (assistant documents: typed views, cache, prompts).
"""
