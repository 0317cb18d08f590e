"""What one run of `python -m bench.turns` measured: its settings, a row per measured phase, the
time-to-first-token pairs per backend, and the notes the report prints.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from bench.load import PhaseResult


@dataclass
class Row:
    """One measured phase: who served it (a backend, or the fake LLM alone) and what it did."""

    target: str
    scenario: str
    result: PhaseResult


@dataclass
class FirstTokens:
    """Time to the first `data:` frame through chatloom and straight from the fake LLM, in seconds."""

    backend: str
    server: list[float]
    direct: list[float]
    errors: int = 0


@dataclass
class Run:
    """The settings of a run (`quick`: sized by `--quick`) and everything it measured."""

    turns: int
    concurrency: int
    warmup: int
    first_token_turns: int
    quick: bool = False
    rows: list[Row] = field(default_factory=list)
    first_tokens: list[FirstTokens] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)
    load_average: str = field(default_factory=lambda: " ".join(f"{x:.2f}" for x in os.getloadavg()))
