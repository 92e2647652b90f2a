"""Start-up wall time of the CLI: `stackyard --help`, `stackyard validate dev`, and the CLI import.

Each figure is the median of several runs in fresh interpreters, measured here
rather than asserted in tests (timings belong to benchmarks, not to pytest).
Run: `.venv/bin/python benchmarks/startup.py [--runs N]`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

CASES = {
    "python -c pass (floor)": [sys.executable, "-c", "pass"],
    "import stacks.cli": [sys.executable, "-c", "import stacks.cli"],
    "stackyard --help": [sys.executable, "-m", "stacks.cli", "--help"],
    "stackyard validate dev": [sys.executable, "-m", "stacks.cli", "validate", "dev"],
}


def wall_time(command: list[str], runs: int) -> float:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, cwd=REPO, env=env, check=True, stdout=subprocess.DEVNULL)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def measure(runs: int = 7) -> dict[str, float]:
    return {name: wall_time(command, runs) for name, command in CASES.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    results = measure(args.runs)
    print(f"| command | median wall time (s), {args.runs} runs |\n|---|---|")
    for name, seconds in results.items():
        print(f"| `{name}` | {seconds:.3f} |")


if __name__ == "__main__":
    main()
