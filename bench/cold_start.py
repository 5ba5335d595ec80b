"""Cold-start wall time of the CLI and the package import (median of N runs).

python bench/cold_start.py [--runs 10]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time

TARGET_HELP_MS = 150.0


def wall_ms(cmd: list[str], runs: int) -> tuple[float, float]:
    subprocess.run(cmd, capture_output=True, check=True)  # warm the file cache
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=True)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    exe = shutil.which("tooldeck") or f"{sys.executable} -m tooldeck"
    commands = {
        "tooldeck --help": [*exe.split(), "--help"],
        "tooldeck tools list": [*exe.split(), "tools", "list"],
        'python -c "import tooldeck"': [sys.executable, "-c", "import tooldeck"],
        'python -c "pass" (interpreter floor)': [sys.executable, "-c", "pass"],
    }
    print(f"median and best of {args.runs} runs; target: --help <= {TARGET_HELP_MS:.0f} ms\n")
    print(f"| {'command':<38} | {'median ms':>9} | {'best ms':>8} |")
    print(f"|{'-' * 40}|{'-' * 11}|{'-' * 10}|")
    for name, cmd in commands.items():
        median, best = wall_ms(cmd, args.runs)
        print(f"| {name:<38} | {median:>9.0f} | {best:>8.0f} |")


if __name__ == "__main__":
    main()
