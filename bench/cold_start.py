"""Cold-start wall time of the CLI and the package import (median of N runs), and what
``tooldeck tools list`` imports.

``tools list`` lists every built-in tool (search, web_fetch, summarize, wikipedia, youtube,
calculator, retriever) from their lazy declarations, building none: it must import neither
LangChain nor any tool's library. The row "build every tool" is the baseline measured in the
same run: the same registry with every tool built, which is what ``tools list`` did before
tools were declared lazily. The second table says, for each library of
``tooldeck.testing.HEAVY_LIBRARIES``, whether ``tools list`` imported it and, if so, the
tooldeck line whose import pulled it in; the third lists the packages that cost the most
import time (``python -X importtime``, self time summed per top-level package).

python bench/cold_start.py [--runs 10]
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections import Counter

from tooldeck.testing import HEAVY_LIBRARIES as HEAVY

TARGET_HELP_MS = 150.0
TARGET_TOOLS_LIST_MS = 1000.0

# Run in a child: record, for each heavy library, the tooldeck frame (and the direct importer)
# of its first import, then run `tooldeck tools list` with its output discarded.
_TRACE = """
import contextlib, importlib.abc, io, json, sys, traceback
WATCH = set(json.loads(sys.argv[1]))
found = {}

class Watch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        top = name.partition(".")[0]
        if top in WATCH and top not in found:
            stack = [f for f in traceback.extract_stack()[:-1] if "importlib" not in f.filename]
            ours = [f for f in stack if "/tooldeck/" in f.filename]
            short = lambda name: name.rsplit("/site-packages/", 1)[-1].rsplit("/src/", 1)[-1]
            where = lambda f: f"{short(f.filename)}:{f.lineno}"
            found[top] = {
                "tooldeck": where(ours[-1]) if ours else None,
                "importer": where(stack[-1]) if stack else None,
            }
        return None

sys.meta_path.insert(0, Watch())
from tooldeck.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    code = main(["tools", "list"])
print(json.dumps({"exit": code, "imported": found}))
"""


# The registry of `tools list` with every tool built, as listing did before declarations.
_BUILD_ALL = (
    "from tooldeck.config import load_config\n"
    "from tooldeck.tools.registry import build_registry\n"
    "registry = build_registry(load_config())\n"
    "tools = [entry.tool for entry in registry.entries()]\n"
    "print([entry.availability for entry in registry.entries()])\n"
)


def timings_ms(cmd: list[str], runs: int) -> tuple[float, float, float]:
    """Median and best wall time, and median CPU time (user + system, children), in ms.

    CPU time barely moves when other processes share the machine; wall time does.
    """
    subprocess.run(cmd, capture_output=True, check=True)  # warm the file cache
    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=True)
        walls.append((time.perf_counter() - start) * 1000)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        cpus.append(cpu * 1000)
    return statistics.median(walls), min(walls), statistics.median(cpus)


def heavy_imports() -> dict[str, dict[str, str | None]]:
    """Heavy libraries that ``tools list`` imports, with where each first came from."""
    out = subprocess.run(
        [sys.executable, "-c", _TRACE, json.dumps(HEAVY)],
        capture_output=True,
        text=True,
        check=True,
    )
    report = json.loads(out.stdout.strip().splitlines()[-1])
    if report["exit"] != 0:
        msg = f"tooldeck tools list exited {report['exit']}: {out.stderr}"
        raise SystemExit(msg)
    imported: dict[str, dict[str, str | None]] = report["imported"]
    return imported


def import_costs(exe: list[str], top: int) -> list[tuple[str, float]]:
    """The ``top`` packages by summed self import time (ms) under ``-X importtime``."""
    cmd = [exe[0], "-X", "importtime", *exe[1:], "tools", "list"]
    if exe[0] != sys.executable:  # a console script: run the module in this interpreter
        cmd = [sys.executable, "-X", "importtime", "-m", "tooldeck", "tools", "list"]
    err = subprocess.run(cmd, capture_output=True, text=True, check=True).stderr
    micros: Counter[str] = Counter()
    for line in err.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+\d+ \|\s*(\S+)", line)
        if match:
            micros[match.group(2).partition(".")[0]] += int(match.group(1))
    return [(package, us / 1000) for package, us in micros.most_common(top)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    exe = (shutil.which("tooldeck") or f"{sys.executable} -m tooldeck").split()
    commands = {
        "tooldeck --help": [*exe, "--help"],
        "tooldeck tools list": [*exe, "tools", "list"],
        "tooldeck tools list --json": [*exe, "tools", "list", "--json"],
        "build every tool (tools list before)": [sys.executable, "-c", _BUILD_ALL],
        'python -c "import tooldeck"': [sys.executable, "-c", "import tooldeck"],
        'python -c "pass" (interpreter floor)': [sys.executable, "-c", "pass"],
    }
    print(
        f"median and best of {args.runs} runs; targets: --help <= {TARGET_HELP_MS:.0f} ms, "
        f"tools list (every built-in tool) < {TARGET_TOOLS_LIST_MS:.0f} ms\n"
    )
    print(f"| {'command':<38} | {'median ms':>9} | {'best ms':>8} | {'CPU ms':>7} |")
    print(f"|{'-' * 40}|{'-' * 11}|{'-' * 10}|{'-' * 9}|")
    medians, cpu = {}, {}
    for name, cmd in commands.items():
        median, best, cpu[name] = timings_ms(cmd, args.runs)
        medians[name] = median
        print(f"| {name:<38} | {median:>9.0f} | {best:>8.0f} | {cpu[name]:>7.0f} |", flush=True)
    listing = medians["tooldeck tools list"]
    before = medians["build every tool (tools list before)"]
    verdict = "met" if listing < TARGET_TOOLS_LIST_MS else "NOT met"
    ratio_cpu = cpu["tooldeck tools list"] / cpu["build every tool (tools list before)"]
    print(
        f"\ntools list / build every tool: {listing / before:.2f} wall, {ratio_cpu:.2f} CPU "
        f"({listing:.0f} ms vs {before:.0f} ms); target < {TARGET_TOOLS_LIST_MS:.0f} ms: {verdict}"
    )

    imported = heavy_imports()
    print("\nheavy libraries imported by `tooldeck tools list`:\n")
    print("| library | imported | first imported from (tooldeck line; direct importer) |")
    print("|---------|----------|--------------------------------------------------------|")
    for name in HEAVY:
        where = imported.get(name)
        origin = f"{where['tooldeck']}; {where['importer']}" if where else ""
        print(f"| {name} | {'YES' if where else 'no'} | {origin} |")

    print("\npackages by import time in `tooldeck tools list` (-X importtime, self ms):\n")
    print("| package | ms |")
    print("|---------|----|")
    for package, ms in import_costs(exe, 10):
        print(f"| {package} | {ms:.0f} |")


if __name__ == "__main__":
    main()
