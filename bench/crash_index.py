"""Crash check of the index lifecycle: ``kill -9`` of ``tooldeck index`` at random moments.

python bench/crash_index.py [--runs 50] [--seed 1]

Each run changes a small corpus (the API fixtures plus slices of the TF Hub API file), starts
``tooldeck index NAME CORPUS`` (plain or ``--rebuild``, at random) with ``TOOLDECK_DATA_DIR`` in
a temporary folder, and sends SIGKILL after a random delay: anywhere in a rebuild, and for a
plain run from the end of its start-up to just past its undisturbed end (where it writes).
Then a plain re-run and ``tooldeck ask NAME ... --no-llm --json`` must succeed, and SQLite and
Chroma must hold exactly the chunk ids of the corpus as it now is. The data folder is kept from
run to run, so a run also starts from whatever the previous ones left.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures"
NAME = "crash"


@dataclass
class Tally:
    """Counts of one mode (plain or rebuild)."""

    runs: int = 0
    killed: int = 0
    recovered: int = 0
    mismatches: int = 0
    failures: int = 0


def _state(data_dir: Path, before: str | None) -> str:
    """What a kill left: the published build's state and any unpublished build."""
    import sqlite3

    from tooldeck.rag.lifecycle import index_path, published

    folder = index_path(data_dir, NAME)
    build, token = published(folder)
    where = folder / "builds"
    builds = {p.name for p in where.iterdir()} if where.is_dir() else set()
    notes = []
    if build is None:
        notes.append("no index")
    else:
        db = sqlite3.connect(f"{(build / 'index.sqlite').as_uri()}?mode=ro", uri=True)
        try:
            row = db.execute("SELECT value FROM meta WHERE key = 'dirty'").fetchone()
        finally:
            db.close()
        if row and row[0] == "1":
            notes.append("published build half-updated")
        if token != before:
            notes.append("new generation")
        builds.discard(build.name)
    if builds:
        notes.append("unpublished build left")
    return ", ".join(notes) or "untouched"


def _tooldeck() -> list[str]:
    exe = Path(sys.executable).with_name("tooldeck")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "tooldeck"]


def _env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOOLDECK_")}
    env["TOOLDECK_DATA_DIR"] = str(data_dir)
    return env


def _records() -> list[str]:
    with gzip.open(FIXTURES / "gorilla" / "tensorflowhub_api.jsonl.gz", "rt") as handle:
        return [line for line in handle if line.strip()]


def _mutate(corpus: Path, records: list[str], rng: random.Random, step: int,
            force: str | None = None) -> str:
    """Change the corpus one way or another; return what was done."""
    choice = force or rng.choice(["append", "prepend", "slice", "remove"])
    if choice == "append":
        guide = corpus / "guide.md"
        guide.write_text(guide.read_text() + f"\n## Note {step}\n\nRegion {step} is eu-west.\n")
    elif choice == "prepend":
        client = corpus / "client.py"
        client.write_text(f'"""Revision {step}."""\n' + client.read_text())
    elif choice == "slice":
        start = rng.randrange(0, len(records) - 100)
        (corpus / f"hub_{rng.randrange(2)}.jsonl").write_text("".join(records[start:start + 100]))
    elif choice == "remove":
        extra = corpus / "notes.md"
        if extra.exists():
            extra.unlink()
        else:
            extra.write_text(f"# Notes\n\nRun {step} added this file about session quotas.\n")
    return choice


def _expected_ids(corpus: Path) -> set[str]:
    from tooldeck.config import IndexConfig
    from tooldeck.rag.loaders import iter_files, load_paths
    from tooldeck.rag.splitters import split_documents

    report = load_paths(iter_files([corpus]))
    return {c.id for docs in report.documents.values()
            for c in split_documents(docs, IndexConfig())}


def _stored_ids(data_dir: Path) -> tuple[set[str], set[str]]:
    from tooldeck.config import RagConfig
    from tooldeck.rag.index import HybridIndex

    index = HybridIndex(NAME, RagConfig(), data_dir)  # only reads: no embeddings needed
    try:
        return index.store.all_ids(), set(index.collection.get(include=[])["ids"])
    finally:
        index.close()


def _timed(cmd: list[str], env: dict[str, str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, check=True)
    return time.perf_counter() - start


def _trial(cmd: list[str], delay: float, env: dict[str, str], cwd: Path) -> bool:
    """Start ``cmd``, SIGKILL it after ``delay`` s; whether it was killed before finishing."""
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        proc.wait(delay)
        return False
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return True


def _check(exe: list[str], corpus: Path, data_dir: Path, env: dict[str, str], cwd: Path
           ) -> tuple[bool, bool, str]:
    """Plain re-run and ask; (recovered, ids match, note)."""
    rerun = subprocess.run([*exe, "index", NAME, str(corpus)], env=env, cwd=cwd,
                           capture_output=True, text=True)
    if rerun.returncode:
        return False, False, f"re-run exit {rerun.returncode}: {rerun.stderr.strip()[-300:]}"
    ask = subprocess.run([*exe, "ask", NAME, "how do I create a session?", "--no-llm", "--json"],
                         env=env, cwd=cwd, capture_output=True, text=True)
    if ask.returncode or not json.loads(ask.stdout)["matches"]:
        return False, False, f"ask exit {ask.returncode}: {ask.stderr.strip()[-300:]}"
    sqlite_ids, vector_ids = _stored_ids(data_dir)
    expected = _expected_ids(corpus)
    if sqlite_ids == vector_ids == expected:
        return True, True, ""
    return True, False, (f"sqlite {len(sqlite_ids)} chroma {len(vector_ids)} expected "
                         f"{len(expected)}")


def main() -> None:
    from tooldeck.rag.lifecycle import index_generation

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    exe = _tooldeck()
    records = _records()
    with tempfile.TemporaryDirectory(prefix="tooldeck-crash-") as tmp:
        root = Path(tmp)
        corpus, data_dir = root / "corpus", root / "data"
        shutil.copytree(FIXTURES / "api", corpus)
        (corpus / "hub_0.jsonl").write_text("".join(records[:40]))
        env = _env(data_dir)
        first = _timed([*exe, "index", NAME, str(corpus)], env, root)
        rebuild = _timed([*exe, "index", NAME, str(corpus), "--rebuild"], env, root)
        idle = _timed([*exe, "index", NAME, str(corpus)], env, root)  # start-up, hashing
        _mutate(corpus, records, rng, -1, force="slice")
        busy = _timed([*exe, "index", NAME, str(corpus)], env, root)
        windows = {"rebuild": (0.1 * rebuild, rebuild), "plain": (0.8 * idle, 1.1 * busy)}
        print(f"undisturbed: first run {first:.1f} s, rebuild {rebuild:.1f} s, plain run with "
              f"nothing to do {idle:.1f} s, with a new slice {busy:.1f} s; SIGKILL after "
              f"uniform({windows['rebuild'][0]:.1f}, {windows['rebuild'][1]:.1f}) s for a "
              f"rebuild, uniform({windows['plain'][0]:.1f}, {windows['plain'][1]:.1f}) s for a "
              "plain run (its writing phase)\n")
        tallies = {"plain": Tally(), "rebuild": Tally()}
        states: dict[str, int] = {}
        for step in range(args.runs):
            change = _mutate(corpus, records, rng, step)
            if change != "slice":  # every run has something to embed and write
                change += "+" + _mutate(corpus, records, rng, step, force="slice")
            mode = rng.choice(["plain", "rebuild"])
            cmd = [*exe, "index", NAME, str(corpus)] + (["--rebuild"] if mode == "rebuild" else [])
            delay = rng.uniform(*windows[mode])
            tally = tallies[mode]
            tally.runs += 1
            before = index_generation(data_dir, NAME)
            killed = _trial(cmd, delay, env, root)
            tally.killed += killed
            if killed:
                left = _state(data_dir, before)
                states[f"{mode}: {left}"] = states.get(f"{mode}: {left}", 0) + 1
            recovered, match, note = _check(exe, corpus, data_dir, env, root)
            tally.recovered += recovered
            tally.mismatches += recovered and not match
            tally.failures += not recovered
            if note:
                print(f"run {step}: {mode} ({change}), kill at {delay:.2f} s: {note}")
        _report(tallies)
        print("\nwhat the kills left (before the re-run):")
        for state, count in sorted(states.items()):
            print(f"  {count:>3}  {state}")


def _report(tallies: dict[str, Tally]) -> None:
    total = Tally()
    for t in tallies.values():
        for key in vars(total):
            setattr(total, key, getattr(total, key) + getattr(t, key))
    print(f"| {'mode':<8} | {'runs':>4} | {'killed mid-run':>14} | {'recovered':>9} | "
          f"{'mismatches':>10} | {'failed':>6} |")
    print(f"|{'-' * 10}|{'-' * 6}|{'-' * 16}|{'-' * 11}|{'-' * 12}|{'-' * 8}|")
    for mode, t in [*tallies.items(), ("total", total)]:
        print(f"| {mode:<8} | {t.runs:>4} | {t.killed:>14} | {t.recovered:>9} | "
              f"{t.mismatches:>10} | {t.failures:>6} |")


if __name__ == "__main__":
    main()
