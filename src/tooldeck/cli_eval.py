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


def cmd_eval(args: argparse.Namespace, config: Config) -> int:
    """``tooldeck eval apibench``."""
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
