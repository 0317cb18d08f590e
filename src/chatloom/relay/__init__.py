"""Resumable turn streams: the numbered frames of every streamed turn, kept so a client that lost its
connection can read on from any server process. `memory.py` serves one process; `postgres.py` and
`redis.py` relay streams between processes. Framing is the API's job: the relay only stores bytes."""
