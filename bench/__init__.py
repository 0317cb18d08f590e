"""Reproducible benchmarks of chatloom; each prints a Markdown table and writes it under `bench/results/`.

`python -m bench.turns` measures the server's own cost per chat turn (CPU and latency, LLM excluded) on
SQLite and PostgreSQL against the fake LLM, through `/chat` and through `/chat/responses`, next to a baseline
of the fake LLM alone. See bench/README.md.
"""
