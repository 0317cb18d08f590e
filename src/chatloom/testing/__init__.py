"""Test doubles that run for real: an HTTP LLM server on loopback for tests and benchmarks."""
