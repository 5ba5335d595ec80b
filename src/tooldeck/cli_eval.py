"""The ``eval`` commands of the CLI: parse, run a harness, print its report."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tooldeck.config import Config

__all__ = ["add_parsers", "cmd_eval"]


def add_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add the ``eval`` subcommands to the CLI's subparsers."""
    evals = sub.add_parser("eval", help="evaluation harnesses").add_subparsers(
        dest="eval_command", metavar="HARNESS", required=True)
    bench = evals.add_parser("apibench", help="Gorilla APIBench: index a hub's APIs, ask, score",
                             parents=[common])
    bench.add_argument("--api", required=True, help="API file, e.g. tensorflowhub_api.jsonl")
    bench.add_argument("--eval", required=True, dest="eval_file",
                       help="gold eval rows, e.g. tensorflow_eval.json")
    bench.add_argument("--questions", required=True, help="questions_<hub>_0_shot.jsonl")
    bench.add_argument("--responses", help="score this response file instead of answering")
    bench.add_argument("--limit", type=int, help="first N questions only")
    bench.add_argument("--no-llm", action="store_true", help="answer with the top-1 API call")
    bench.add_argument("--top-k", type=int, default=5)
    bench.add_argument("--model", help="as for `tooldeck run --model`")
    bench.add_argument("--json", action="store_true", help="print the report as JSON")
    _add_retrieval(evals, common)


def _add_retrieval(evals: Any, common: argparse.ArgumentParser) -> None:
    from tooldeck.eval.retrieval_sets import SET_NAMES

    ret = evals.add_parser(
        "retrieval", parents=[common],
        help="API retrieval on several labelled sets: tooldeck vs plain dense vs plain BM25")
    ret.add_argument("--sets", default=",".join(SET_NAMES),
                     help=f"comma-separated, from: {', '.join(SET_NAMES)} (default: all)")
    ret.add_argument("--data", help="folder holding gorilla_apibench/, restbench/, toolbench/ "
                     "(the project's ../shared/data)")
    ret.add_argument("--fixture", help="folder of the fixture API (openapi.json, client.py, "
                     "guide.md; queries.json, else tests/fixtures/api_queries.json); default: "
                     "tests/fixtures/api")
    ret.add_argument("--limit", type=int, help="at most N queries per set (seeded sample)")
    ret.add_argument("--systems", default="tooldeck,dense,bm25",
                     help="comma-separated: tooldeck, dense, bm25")
    ret.add_argument("--embed-cache", help="SQLite file keeping document vectors between runs")
    ret.add_argument("--fit-fusion", metavar="FILE",
                     help="also fit the index's fusion weights across the sets (leave-one-set-"
                     "out check in the report) and write them to FILE as JSON")
    ret.add_argument("--json", action="store_true", help="print the report as JSON")


def _cmd_retrieval(args: argparse.Namespace, config: Config) -> int:
    from pathlib import Path

    from tooldeck.errors import InputError
    from tooldeck.eval.retrieval import SYSTEMS, format_report, run_retrieval
    from tooldeck.eval.retrieval_sets import load_set

    names = [n.strip() for n in args.sets.split(",") if n.strip()]
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    unknown = [s for s in systems if s not in SYSTEMS]
    if unknown or not systems:
        raise InputError(f"unknown system {', '.join(unknown) or '(none)'}; choose from "
                         f"{', '.join(SYSTEMS)}")
    if args.limit is not None and args.limit < 1:
        raise InputError("--limit must be at least 1")
    data = Path(args.data) if args.data else None
    fixture = Path(args.fixture) if args.fixture else None
    sets = [load_set(name, data, fixture) for name in names]
    trace: dict[str, list[dict[str, Any]]] | None = {} if args.fit_fusion else None
    report = run_retrieval(
        config, sets, limit=args.limit, systems=systems, trace=trace,
        embed_cache=Path(args.embed_cache) if args.embed_cache else None,
        progress=(lambda line: print(line, file=sys.stderr)) if sys.stderr.isatty() else None)
    if trace is not None:
        from tooldeck.eval.fusion_fit import fit_fusion

        fit = fit_fusion(trace)
        Path(args.fit_fusion).write_text(json.dumps(
            {"weights": fit["weights"], "note": fit["note"], "sets": fit["sets"]}, indent=2)
            + "\n", encoding="utf-8")
        report["fusion_fit"] = fit
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0


def cmd_eval(args: argparse.Namespace, config: Config) -> int:
    """``tooldeck eval apibench`` and ``tooldeck eval retrieval``."""
    if args.eval_command == "retrieval":
        return _cmd_retrieval(args, config)
    from tooldeck.eval.apibench import format_report, run_apibench

    model = None
    if not args.no_llm and not args.responses:
        from tooldeck.models import get_chat_model

        model = get_chat_model(config.model, config.data_dir)
    report = run_apibench(
        config, api_file=args.api, eval_file=args.eval_file, questions_file=args.questions,
        responses_file=args.responses, limit=args.limit, model=model, top_k=args.top_k,
        progress=sys.stderr.isatty(),
    )
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0
