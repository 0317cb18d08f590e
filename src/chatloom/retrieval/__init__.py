"""Retrieval for knowledge bases: extracted text cut into passages (`chunks`), indexed in the server's
database (`store.passages`), embedded when the org has an embedding model (`indexing`), and searched by
full text and vectors merged by reciprocal rank fusion (`search`)."""
