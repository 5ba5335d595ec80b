"""Does list-wise reranking by a chat model help retrieval? Baseline and reranked, same run.

Sets: the repo's fixture API (tests/fixtures/api, a few labelled questions) and seeded
subsamples of APIBench HuggingFace and TF Hub (../shared/data/gorilla_apibench; gold = the eval
row's ``api_call``). For each question the index's top ``--k`` documents are retrieved once;
the baseline is that order, the reranked order is the model's (``tooldeck.rag.rerank``, the
grammar on llama.cpp, malformed replies keep the retrieval order).

Run: .venv/bin/python bench/rerank.py [--n 40] [--k 10] [--seed 0] [--model NAME] [--shuffle]
(``--model`` as for ``tooldeck run --model``; default: the embedded model.)
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from tooldeck.cli import model_override
from tooldeck.config import IndexConfig, load_config
from tooldeck.eval.apibench import read_jsonl
from tooldeck.models import describe_model, get_chat_model
from tooldeck.rag import open_index
from tooldeck.rag.rerank import rerank

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "gorilla_apibench"
FIXTURE = REPO / "tests" / "fixtures" / "api"
# question -> the documents that answer it (any of them counts as a hit)
FIXTURE_QUESTIONS = {
    "how do I create a new session?": {"POST /session", "ComputeSession.create"},
    "start a compute session with two GPUs": {"POST /session", "ComputeSession.create"},
    "list all my sessions": {"GET /session"},
    "stop a running session": {"DELETE /session/{session_id}", "ComputeSession.terminate"},
    "kill the session and free the machines": {"DELETE /session/{session_id}",
                                               "ComputeSession.terminate"},
    "get last month's invoices as PDF": {"GET /billing/invoices", "download_invoices"},
    "how long is an API token valid?": {"guide.md#authentication"},
    "what happens when I send too many requests?": {"guide.md#rate-limits"},
}
HUBS = {"huggingface": "huggingface_eval.json", "tensorflowhub": "tensorflow_eval.json"}


def _fixture_set(n: int, seed: int) -> tuple[list[Path], list[tuple[str, set[str]]], str]:
    """The fixture API's files and labelled questions."""
    del n, seed  # all of them
    files = [FIXTURE / name for name in ("client.py", "guide.md", "openapi.json")]
    return files, list(FIXTURE_QUESTIONS.items()), "ref"


def _hub_set(hub: str, n: int, seed: int) -> tuple[list[Path], list[tuple[str, set[str]]], str]:
    """One APIBench hub's API file and a seeded sample of its questions with gold calls."""
    questions = read_jsonl(DATA / "questions" / f"questions_{hub}_0_shot.jsonl")
    gold = [row.get("api_data", row) for row in read_jsonl(DATA / "apibench_eval" / HUBS[hub])]
    picked = random.Random(seed).sample(questions, min(n, len(questions)))
    pairs = [(_question_text(q), {str(gold[int(q["question_id"]) - 1].get("api_call"))})
             for q in picked]
    return [DATA / "api" / f"{hub}_api.jsonl"], pairs, "api_call"


def _question_text(row: dict[str, Any]) -> str:
    """The question without the file's escaped newline."""
    return str(row["text"]).replace("\\n", " ").strip()


def _label(match: Any, key: str) -> str:
    """What a match is scored as: its API call (APIBench) or its ref (fixture)."""
    return str(match.metadata.get("api_call", match.ref)) if key == "api_call" else match.ref


def _hits(labels: list[str], gold: set[str]) -> tuple[int, int]:
    """(top-1 hit, top-5 hit) of a ranking."""
    return int(bool(labels) and labels[0] in gold), int(any(x in gold for x in labels[:5]))


def run_set(name: str, spec: Any, model: Any, k: int, scratch: Path,
            shuffle: bool = False) -> dict[str, Any]:
    """Baseline and reranked top-1 / top-5 for one set.

    With ``shuffle`` the model sees the candidates in a seeded random order, so a model that
    only repeats the order it is shown scores like a random pick, not like retrieval.
    """
    files, pairs, key = spec
    config = load_config(None, {"data_dir": str(scratch / name)})
    index = open_index(config, name, create=True)
    index.update(files, IndexConfig(splitter="none"))
    base = [0, 0]
    ranked = [0, 0]
    status: Counter[str] = Counter()
    moved = 0
    seconds: list[float] = []
    try:
        for number, (question, gold) in enumerate(pairs):
            matches = index.search_documents(question, k)
            labels = [_label(m, key) for m in matches]
            shown = (random.Random(number).sample(matches, len(matches)) if shuffle
                     else matches)
            start = time.perf_counter()
            outcome = rerank(model, question, shown, timeout_s=120)
            seconds.append(time.perf_counter() - start)
            status[outcome.status] += 1
            new = [_label(m, key) for m in outcome.apply(shown)]
            moved += new[:1] != labels[:1]
            for total, (top1, top5) in ((base, _hits(labels, gold)), (ranked, _hits(new, gold))):
                total[0] += top1
                total[1] += top5
    finally:
        index.close()
    n = max(len(pairs), 1)
    return {"set": name, "n": len(pairs), "base": [100 * x / n for x in base],
            "ranked": [100 * x / n for x in ranked], "status": status, "moved": moved,
            "p50_s": statistics.median(seconds) if seconds else 0.0}


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=40, help="questions per APIBench hub")
    parser.add_argument("--k", type=int, default=10, help="candidates shown to the model")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", help="as for `tooldeck run --model` (default: embedded)")
    parser.add_argument("--shuffle", action="store_true",
                        help="show the model the candidates in a random order")
    args = parser.parse_args()
    overrides = {"model": model_override(args.model)} if args.model else {}
    scratch = Path(tempfile.mkdtemp(prefix="tooldeck-rerank-"))
    config = load_config(None, {"data_dir": str(scratch), **overrides})
    model = get_chat_model(config.model, config.data_dir)
    sets = {"fixture API": _fixture_set(args.n, args.seed)}
    if DATA.is_dir():
        sets.update({f"APIBench {hub}": _hub_set(hub, args.n, args.seed) for hub in HUBS})
    print(f"model {describe_model(config.model)}, k={args.k}, seed={args.seed}"
          f"{', candidates shown shuffled' if args.shuffle else ''}\n")
    print("| set | n | top-1 retrieval | top-1 reranked | top-5 retrieval | top-5 reranked "
          "| replies used / malformed / other | top-1 changed | rerank p50 s |")
    print("|---|---|---|---|---|---|---|---|---|")
    try:
        for name, spec in sets.items():
            r = run_set(name.replace(" ", "_"), spec, model, args.k, scratch, args.shuffle)
            s = r["status"]
            other = r["n"] - s["model"] - s["malformed"]
            print(f"| {name} | {r['n']} | {r['base'][0]:.1f}% | {r['ranked'][0]:.1f}% | "
                  f"{r['base'][1]:.1f}% | {r['ranked'][1]:.1f}% | {s['model']} / "
                  f"{s['malformed']} / {other} | {r['moved']} | {r['p50_s']:.2f} |", flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
