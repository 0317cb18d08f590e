"""Command-line options of `python -m bench.turns`: the sizes of the run (full by default, or `--quick`),
the backends, and where the report goes.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent / "results"
RESULTS = RESULTS_DIR / "turns.md"
QUICK_RESULTS = RESULTS_DIR / "turns-quick.md"
BACKENDS = ("sqlite", "postgresql")


@dataclass(frozen=True)
class Sizes:
    """How many turns a run makes: measured per scenario, warm-up per scenario, first-token pairs."""

    turns: int
    warmup: int
    first_token_turns: int


FULL = Sizes(turns=2000, warmup=200, first_token_turns=300)
QUICK = Sizes(turns=400, warmup=50, first_token_turns=100)


def parse_args(argv: Sequence[str] | None, description: str | None = None) -> argparse.Namespace:
    """Parses and checks the options; `--quick` picks the QUICK sizes, explicit sizes win over both."""
    parser = argparse.ArgumentParser(prog="python -m bench.turns", description=description)
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"a fast iteration: {QUICK.turns} turns, {QUICK.warmup} warm-up, {QUICK.first_token_turns} "
        f"first-token turns, report to {QUICK_RESULTS.name} unless --output is given",
    )
    parser.add_argument("--turns", type=int, help=f"measured turns per scenario (default {FULL.turns})")
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent clients (default 8)")
    parser.add_argument(
        "--warmup", type=int, help=f"unmeasured turns before each scenario (default {FULL.warmup})"
    )
    parser.add_argument(
        "--first-token-turns",
        type=int,
        help=f"streamed turns at concurrency 1 (default {FULL.first_token_turns})",
    )
    parser.add_argument(
        "--backends", default=",".join(BACKENDS), help="comma-separated: sqlite,postgresql (default both)"
    )
    parser.add_argument(
        "--output", type=Path, help=f"Markdown file (default {RESULTS}, with --quick {QUICK_RESULTS})"
    )
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    args.turns = sizes.turns if args.turns is None else args.turns
    args.warmup = sizes.warmup if args.warmup is None else args.warmup
    if args.first_token_turns is None:
        args.first_token_turns = sizes.first_token_turns
    if args.output is None:
        args.output = QUICK_RESULTS if args.quick else RESULTS
    args.backends = [name.strip() for name in args.backends.split(",") if name.strip()]
    unknown = set(args.backends) - set(BACKENDS)
    if unknown or not args.backends:
        parser.error(f"--backends takes a comma-separated subset of {','.join(BACKENDS)}")
    if args.turns < 1 or args.concurrency < 1 or args.warmup < 0 or args.first_token_turns < 0:
        parser.error("--turns and --concurrency must be >= 1; --warmup and --first-token-turns >= 0")
    return args
