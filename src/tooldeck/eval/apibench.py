"""``tooldeck eval apibench``: index a hub's API file, answer its questions, score officially.

Works with any hub file in Gorilla's format (one JSON API record per line with ``api_call`` and
``domain``), its eval rows (``api_data`` per line) and a question file (``question_id``,
``text``). Reports the official accuracy / hallucination / error, a strict exact-API rate (the
gold API's function and key arguments), and the retriever's top-1/top-5 exact and same-domain
hit rates. With ``responses_file`` it only scores an existing response file (how the scorer is
checked against the released Gorilla responses).
"""

from __future__ import annotations

import gzip
import json
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tooldeck.errors import InputError
from tooldeck.eval.apibench_scorer import ApiDatabase, hub_of

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from tooldeck.config import Config

__all__ = ["format_report", "read_jsonl", "run_apibench", "score_responses"]


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Read a JSON-lines file (``.gz`` too).

    Raises:
        InputError: missing file or a line that is not JSON.
    """
    file = Path(path)
    try:
        opener = gzip.open if file.suffix == ".gz" else open
        with opener(file, "rt", encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]
    except OSError as exc:
        raise InputError(f"cannot read {file}: {exc.strerror or exc}") from exc
    except json.JSONDecodeError as exc:
        raise InputError(f"{file} line {exc.lineno}: not JSON ({exc.msg})") from exc


def score_responses(
    db: ApiDatabase, gold: list[dict[str, Any]], responses: list[dict[str, Any]]
) -> dict[str, Any]:
    """Official rates (and the strict exact-API rate) of ``responses``.

    ``gold`` is the eval rows' ``api_data`` in file order; ``question_id`` is 1-based.
    """
    counts = {"correct": 0, "hallucination": 0, "error": 0}
    exact = 0
    for response in responses:
        row = gold[int(response["question_id"]) - 1]
        verdict, _ = db.judge(str(response.get("text", "")), str(row.get("domain", "")))
        counts[verdict] += 1
        candidate = str(response.get("api_call") or response.get("text", ""))
        if db.matches_api(candidate, str(row.get("api_call", ""))):
            exact += 1
    n = max(len(responses), 1)
    accuracy = counts["correct"] / n
    hallucination = counts["hallucination"] / n
    return {
        "n": len(responses),
        "accuracy": round(accuracy * 100, 2),
        "hallucination": round(hallucination * 100, 2),
        "error": round((1 - accuracy - hallucination) * 100, 2),
        "exact_api": round(exact / n * 100, 2),
        "counts": counts,
    }


def _choose(model: BaseChatModel, question: str, matches: list[Any]) -> int:
    from tooldeck.rag.answer import choose_match

    chosen, _ = choose_match(model, question, matches, reason=False)
    return chosen if chosen is not None and chosen >= 0 else 0


def run_apibench(
    config: Config,
    api_file: str,
    eval_file: str,
    questions_file: str,
    responses_file: str | None = None,
    limit: int | None = None,
    model: BaseChatModel | None = None,
    top_k: int = 5,
    progress: bool = False,
) -> dict[str, Any]:
    """Run the harness and return the report (see the module docstring).

    Raises:
        InputError: unreadable or malformed input files.
    """
    records = read_jsonl(api_file)
    gold = [row.get("api_data", row) for row in read_jsonl(eval_file)]
    hub = hub_of(records, Path(api_file).name)
    db = ApiDatabase(records, hub)
    report: dict[str, Any] = {"hub": hub, "api_file": str(api_file), "n_apis": len(records)}
    if responses_file:
        released = read_jsonl(responses_file)[:limit]
        report.update(mode="responses", responses_file=str(responses_file))
        report["official"] = score_responses(db, gold, released)
        return report

    questions = read_jsonl(questions_file)[:limit]
    with tempfile.TemporaryDirectory(prefix="tooldeck-apibench-") as scratch:
        responses, hits, latencies = _index_and_ask(
            config, Path(scratch), api_file, report, questions, gold, model, top_k, progress)
    n = max(len(questions), 1)
    latencies.sort()
    report.update(
        mode="model" if model is not None else "no-llm",
        model=type(model).__name__ if model is not None else None,
        top_k=top_k,
        retriever={k.replace("topk", f"top{top_k}"): round(v / n * 100, 2)
                   for k, v in hits.items()},
        search_p50_ms=round(latencies[len(latencies) // 2] * 1000, 2) if latencies else None,
        official=score_responses(db, gold, responses),
    )
    return report


def _index_and_ask(
    config: Config, scratch: Path, api_file: str, report: dict[str, Any],
    questions: list[dict[str, Any]], gold: list[dict[str, Any]], model: BaseChatModel | None,
    top_k: int, progress: bool,
) -> tuple[list[dict[str, Any]], dict[str, int], list[float]]:
    """Index the API file under ``scratch`` (never a user index) and answer every question."""
    from tooldeck.config import IndexConfig
    from tooldeck.rag import open_index

    scratch_config = config.model_copy(update={"data_dir": scratch})
    index = open_index(scratch_config, f"apibench-{Path(api_file).stem}", create=True)
    responses: list[dict[str, Any]] = []
    hits = {"top1_exact": 0, "top1_domain": 0, "topk_exact": 0, "topk_domain": 0}
    latencies: list[float] = []
    bar: Any = None
    try:
        start = time.perf_counter()
        stats = index.update([api_file], IndexConfig(splitter="none"))
        report["index_seconds"] = round(time.perf_counter() - start, 2)
        report["chunks"] = stats.chunks_total
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=len(questions), unit="q", desc="apibench")
        for q in questions:
            row = gold[int(q["question_id"]) - 1]
            t0 = time.perf_counter()
            matches = index.search_documents(str(q["text"]), top_k)
            latencies.append(time.perf_counter() - t0)
            calls = [str(m.metadata.get("api_call", m.ref)) for m in matches]
            domains = [str(m.metadata.get("domain", "")) for m in matches]
            if calls:
                hits["top1_exact"] += calls[0] == row.get("api_call")
                hits["top1_domain"] += domains[0] == row.get("domain")
            hits["topk_exact"] += row.get("api_call") in calls
            hits["topk_domain"] += row.get("domain") in domains
            pick = _choose(model, str(q["text"]), matches) if model is not None and matches else 0
            call = calls[pick] if calls else ""
            text = f"<<<api_call>>>: {call}\n<<<api_provider>>>: {report['hub']}"
            responses.append({"question_id": q["question_id"], "api_call": call, "text": text})
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
        index.close()
    return responses, hits, latencies


def format_report(report: dict[str, Any]) -> str:
    """The report as a few aligned lines."""
    off = report["official"]
    lines = [f"APIBench {report['hub']} ({report.get('mode')}, {off['n']} questions, "
             f"{report['n_apis']} APIs)",
             f"  official accuracy {off['accuracy']:6.2f} %   hallucination "
             f"{off['hallucination']:6.2f} %   error {off['error']:6.2f} %",
             f"  strict exact API  {off['exact_api']:6.2f} %"]
    if "retriever" in report:
        r = report["retriever"]
        lines.append("  retriever " + "   ".join(f"{k} {v:6.2f} %" for k, v in r.items()))
        lines.append(f"  search p50 {report['search_p50_ms']} ms, indexing "
                     f"{report['index_seconds']} s")
    return "\n".join(lines)
