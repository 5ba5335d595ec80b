"""Crash check of the memory store: ``kill -9`` of a process writing turns, at random moments.

python bench/memory_crash.py [--runs 50] [--seed 1] [--max-delay 0.25]

A child process opens ``MemoryStore(data_dir)``, reads how many turns session ``crash`` holds,
and writes numbered turns from there (human ``q<n>`` + AI ``a<n>``, one ``add_messages`` each),
printing ``committed <n>`` after each commit. The parent sends SIGKILL at a random moment:
mostly while it writes, sometimes earlier (import, open, migration). Then it reopens the store
and checks: ``PRAGMA integrity_check`` is ``ok``; the stored messages are exactly turns
``0..k-1`` in order, each complete (no gap, no half turn); and ``k`` is the last acknowledged
turn + 1, or + 2 when the turn in flight had committed but not yet printed. The data folder is
kept from run to run, so each run starts from whatever the previous ones left.

``tests/memory/test_store.py`` runs ``crash_round`` 10 times.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

SESSION = "crash"

WRITER = """
import sys
from langchain_core.messages import AIMessage, HumanMessage
from tooldeck.memory.store import MemoryStore

store = MemoryStore(sys.argv[1])
session = sys.argv[2]
n = len(store.get_messages(session)) // 2
print("start", n, flush=True)
for n in range(n, n + 1_000_000):
    store.add_messages(
        session, [HumanMessage(f"q{n}", id=f"t{n}-h"), AIMessage(f"a{n}", id=f"t{n}-a")]
    )
    print("committed", n, flush=True)
"""


@dataclass
class RoundResult:
    """What one kill left behind."""

    started: bool
    acked: int
    """The last turn number the child reported as committed (-1: none ever)."""
    stored: int
    """How many complete turns the store holds after the kill."""
    integrity: list[str]
    problem: str | None


def check_turns(messages: list[object]) -> tuple[int, str | None]:
    """Return (complete turns, problem) for a session that must hold turns 0..k-1 in order."""
    from langchain_core.messages import AIMessage, HumanMessage

    if len(messages) % 2:
        return len(messages) // 2, f"odd message count {len(messages)}: a half-written turn"
    for i, message in enumerate(messages):
        n, human = divmod(i, 2)
        kind, text = (HumanMessage, f"q{n}") if human == 0 else (AIMessage, f"a{n}")
        if not isinstance(message, kind) or message.content != text:
            return n, f"message {i} is {message!r}, expected {kind.__name__}({text!r})"
    return len(messages) // 2, None


def _acked(log: Path) -> tuple[bool, int]:
    started, acked = False, -1
    for line in log.read_text().split("\n")[:-1]:  # complete lines only: it may be mid-write
        word, _, number = line.partition(" ")
        if word == "start":
            started = True
            acked = max(acked, int(number) - 1)
        elif word == "committed":
            acked = max(acked, int(number))
    return started, acked


def crash_round(data_dir: Path, rng: random.Random, max_delay: float = 0.25) -> RoundResult:
    """Start the writer, SIGKILL it at a random moment, and check what the store holds."""
    from tooldeck.memory.store import MemoryStore

    before = len(MemoryStore(data_dir).get_messages(SESSION)) // 2
    log = data_dir / "writer.log"
    with log.open("w") as out:
        child = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(data_dir), SESSION],
            stdout=out,
            stderr=subprocess.PIPE,
        )
    try:
        if rng.random() < 0.2:  # anywhere from import through open and migration
            time.sleep(rng.uniform(0.0, 1.5))
        else:  # while it writes
            deadline = time.monotonic() + 60
            while not _acked(log)[0] and child.poll() is None and time.monotonic() < deadline:
                time.sleep(0.005)
            time.sleep(rng.uniform(0.0, max_delay))
        if child.poll() is not None:
            err = child.stderr.read().decode() if child.stderr else ""
            msg = f"writer exited by itself with {child.returncode}: {err[-2000:]}"
            raise RuntimeError(msg)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()
        if child.stderr:
            child.stderr.close()
    started, acked = _acked(log)
    acked = max(acked, before - 1)  # a child killed before it started has written nothing
    store = MemoryStore(data_dir)
    integrity = store.integrity_check()
    stored, problem = check_turns(list(store.get_messages(SESSION)))
    if problem is None and not acked <= stored - 1 <= acked + 1:
        problem = f"last acknowledged turn {acked} but {stored} turns stored"
    if problem is None and integrity != ["ok"]:
        problem = f"integrity_check: {integrity[:3]}"
    return RoundResult(started, acked, stored, integrity, problem)


def main() -> int:
    """Run the crash rounds and print a summary table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-delay", type=float, default=0.25)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    failed = 0
    killed_writing = 0
    lost_in_flight = 0
    integrity_ok = 0
    with tempfile.TemporaryDirectory(prefix="memory-crash-") as tmp:
        data_dir = Path(tmp)
        for run in range(args.runs):
            result = crash_round(data_dir, rng, args.max_delay)
            killed_writing += result.started
            lost_in_flight += result.started and result.stored == result.acked + 1
            integrity_ok += result.integrity == ["ok"]
            failed += result.problem is not None
            status = "FAIL " + result.problem if result.problem else "ok"
            print(
                f"run {run:3d}: started={result.started!s:5} acked={result.acked:6d} "
                f"stored={result.stored:6d} integrity={result.integrity[0]} {status}",
                flush=True,
            )
    print(
        f"\n| runs | killed while writing | killed earlier | reported turns kept, in-flight lost "
        f"| in-flight turn kept too (committed, not yet reported) | integrity ok | failed |\n"
        f"|---|---|---|---|---|---|---|\n"
        f"| {args.runs} | {killed_writing} | {args.runs - killed_writing} | {lost_in_flight} "
        f"| {killed_writing - lost_in_flight} | {integrity_ok} | {failed} |"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
