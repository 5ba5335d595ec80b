"""Cost of loading a session's history for one turn, by memory kind and session size.

python bench/memory_load.py [--sizes 10,1000,10000] [--repeat 30]

Each row: a session of N messages (N/2 turns) in a fresh database; the median time of
``ConversationMemory.load(session, question, max_tokens=2000)``. Baseline, measured in the same
run: reading the whole session with ``MemoryStore.get_messages`` and keeping the last
``window_turns`` turns (what the first version of the seam did). The vector rows use a
deterministic 384-dimension hash embedder (no model time; the question's embedding is the only
embed call per load once every turn has its vector: the warm-up loads embed them all first), so
they measure the store and the search.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from langchain_core.messages import AIMessage, HumanMessage

from tooldeck.config_schema import MemoryConfig
from tooldeck.memory.conversation import ConversationMemory
from tooldeck.memory.store import MemoryStore

DIM = 384


def _hash_embed(texts: list[str]) -> list[list[float]]:
    """A deterministic 384-dimension embedder from SHA-256 (no model)."""
    out = []
    for text in texts:
        digest = hashlib.sha256(text.encode()).digest() * (DIM // 32)
        out.append([b / 255.0 for b in digest[:DIM]])
    return out


def _fill(data_dir: Path, messages: int) -> MemoryStore:
    """A store whose session ``s`` holds ``messages`` messages."""
    store = MemoryStore(data_dir)
    for n in range(messages // 2):
        store.add_messages("s", [
            HumanMessage(f"question {n} about something or other", id=f"t{n}-q"),
            AIMessage(f"answer {n}: a reply of a few words", id=f"t{n}-a"),
        ])
    return store


def _read_all(store: MemoryStore) -> object:
    """The baseline: the whole session read, the last 10 messages kept."""
    return store.get_messages("s")[-10:]


def _median_ms(call: Callable[[], object], repeat: int, warm: int = 1) -> float:
    """Median milliseconds of ``call`` over ``repeat`` runs after ``warm`` runs."""
    for _ in range(warm):  # imports; the vector kind embeds 64 turns without a vector per load
        call()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> int:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,1000,10000")
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    print("| messages | kinds | load (ms) | baseline: read all + slice (ms) | ratio |")
    print("|---|---|---|---|---|")
    for size in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory(prefix="memory-load-") as tmp:
            store = _fill(Path(tmp), size)
            baseline = _median_ms(functools.partial(_read_all, store), args.repeat)
            for kinds in (["window"], ["window", "summary"], ["window", "vector"]):
                memory = ConversationMemory(
                    MemoryConfig(kinds=kinds), Path(tmp), embed=_hash_embed
                )
                load = functools.partial(memory.load, "s", "question 3?", 2000)
                ms = _median_ms(load, args.repeat, size // 128 + 2)
                print(f"| {size:,} | {'+'.join(kinds)} | {ms:.2f} | {baseline:.2f} "
                      f"| {ms / baseline:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
