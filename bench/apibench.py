"""APIBench with the embedded stack: runs `tooldeck eval apibench` on both hubs, prints a table.

Run: .venv/bin/python bench/apibench.py [--limit N] [--model]   (default --no-llm, all questions)
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from tooldeck.config import load_config
from tooldeck.eval.apibench import run_apibench

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "gorilla_apibench"
HUBS = {"huggingface": ("huggingface_eval.json", 47.46, 49.56),
        "tensorflowhub": ("tensorflow_eval.json", 64.96, 65.99)}


def main() -> None:
    limit = int(sys.argv[sys.argv.index("--limit") + 1]) if "--limit" in sys.argv else None
    config = load_config(None, {"data_dir": tempfile.mkdtemp(prefix="apibench-")})
    model = None
    if "--model" in sys.argv:
        from tooldeck.models import get_chat_model

        model = get_chat_model(config.model, config.data_dir)
    print("| hub | mode | official acc % (GPT-Index) | halluc. % | strict exact % | top-1 exact % "
          "| top-1 domain % (GPT-Index) | top-5 domain % | search p50 ms | index s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for hub, (eval_file, gpt_acc, gpt_dom) in HUBS.items():
        r = run_apibench(config, str(DATA / "api" / f"{hub}_api.jsonl"),
                         str(DATA / "apibench_eval" / eval_file),
                         str(DATA / "questions" / f"questions_{hub}_0_shot.jsonl"),
                         limit=limit, model=model)
        o, q = r["official"], r["retriever"]
        print(f"| {hub} | {r['mode']} | {o['accuracy']} ({gpt_acc}) | {o['hallucination']} | "
              f"{o['exact_api']} | {q['top1_exact']} | {q['top1_domain']} ({gpt_dom}) | "
              f"{q['top5_domain']} | {r['search_p50_ms']} | {r['index_seconds']} |")


if __name__ == "__main__":
    main()
