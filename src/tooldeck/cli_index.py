"""The retrieval commands of the CLI: ``index``, ``ask``, ``indexes``. They parse, call, print."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tooldeck.config import Config

__all__ = ["add_parsers", "cmd_ask", "cmd_index", "cmd_indexes"]


def add_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add the retrieval subcommands to the CLI's subparsers."""
    index = sub.add_parser("index", help="index files or folders into a named index",
                           parents=[common])
    index.add_argument("name", help="index name, e.g. myapi")
    index.add_argument("paths", nargs="*", help="files/folders (default: rag.indexes.NAME.paths)")
    index.add_argument("--rebuild", action="store_true",
                       help="build the index anew; readers keep the old one until it is done")
    index.add_argument("--keep", action="store_true",
                       help="keep indexed files that are not under PATHS (default: remove them)")
    index.add_argument("--splitter", choices=["fixed", "parent-child", "none"],
                       help="override rag.indexes.NAME.splitter")
    index.add_argument("--chunk-size", type=int, help="override rag.indexes.NAME.chunk_size")

    ask = sub.add_parser("ask", help="ask an index: endpoint/function, parameters, example",
                         parents=[common])
    ask.add_argument("name", help="index name")
    ask.add_argument("question", help="the question, or - to read it from standard input")
    ask.add_argument("--top-k", type=int, help="matches to return (default rag.top_k)")
    ask.add_argument("--json", action="store_true", help="print the answer as JSON")
    ask.add_argument("--no-llm", action="store_true",
                     help="no model: answer from retrieval's best match (no reranking)")
    ask.add_argument("--kind", choices=["rest", "function", "doc"], help="only this kind")
    ask.add_argument("--model", help="as for `tooldeck run --model`")

    indexes = sub.add_parser("indexes", help="list or delete indexes").add_subparsers(
        dest="indexes_command", metavar="ACTION", required=True)
    listing = indexes.add_parser("list", help="name, chunks, files, embeddings, last update",
                                 parents=[common])
    listing.add_argument("--json", action="store_true", help="print the list as JSON")
    delete = indexes.add_parser("delete", help="delete an index (waits for its writer)",
                                parents=[common])
    delete.add_argument("name", help="index name")


def _read_question(value: str) -> str:
    return sys.stdin.read() if value == "-" else value


def cmd_index(args: argparse.Namespace, config: Config) -> int:
    """``tooldeck index NAME PATH...``."""
    from tooldeck.errors import InputError
    from tooldeck.rag import open_index

    settings = config.rag.index(args.name)
    updates: dict[str, Any] = {}
    if args.splitter:
        updates["splitter"] = args.splitter
    if args.chunk_size:
        updates["chunk_size"] = args.chunk_size
    settings = settings.model_copy(update=updates)
    paths = args.paths or settings.paths
    if not paths:
        raise InputError(f"give files or folders to index: tooldeck index {args.name} PATH...")
    index = open_index(config, args.name, create=True)
    bar: Any = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            from tqdm import tqdm

            bar = tqdm(total=total, unit="chunk", desc=f"indexing {args.name}", file=sys.stderr)
        bar.update(done - bar.n)

    def warn(message: str) -> None:
        print(f"warning: {message}", file=sys.stderr)

    try:
        stats = index.update(paths, settings, prune=not args.keep, progress=progress, warn=warn,
                             rebuild=args.rebuild)
    finally:
        if bar is not None:
            bar.close()
        index.close()
    notes = (" (built anew)" if stats.rebuilt else "") + (
        f" ({stats.repaired} vectors repaired after an interrupted run)" if stats.repaired else "")
    print(f"index {args.name}{notes}: {stats.files_added} added, {stats.files_updated} updated, "
          f"{stats.files_unchanged} unchanged, {stats.files_removed} removed, "
          f"{len(stats.skipped)} skipped; {stats.chunks_embedded} chunks embedded, "
          f"{stats.chunks_total} in the index; {stats.seconds:.2f} s")
    return 0


def cmd_ask(args: argparse.Namespace, config: Config) -> int:
    """``tooldeck ask NAME QUESTION``.

    The model is loaded only to rerank (``rag.rerank``): never with ``--no-llm``, and under
    ``auto`` not for the embedded model, whose answer would be the no-model answer anyway.
    """
    from tooldeck.rag import check_question, open_index
    from tooldeck.rag.answer import ask
    from tooldeck.rag.rerank import model_may_rerank, rerank_settings

    question = check_question(_read_question(args.question), config.max_question_chars)
    index = open_index(config, args.name)
    settings = rerank_settings(config.rag)
    model = None
    if not args.no_llm and model_may_rerank(settings.mode, config.model.provider):
        from tooldeck.models import get_chat_model

        model = get_chat_model(config.model, config.data_dir)
    filters = {"kind": args.kind} if args.kind else None
    try:
        result = ask(index, question, args.top_k or config.rag.top_k, model, filters,
                     rerank=settings.mode, rerank_k=settings.k,
                     rerank_timeout_s=settings.timeout_s)
    finally:
        index.close()
    if args.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
        return 0
    print(result.answer)
    if result.matches:
        print("\nMatches:")
        for i, m in enumerate(result.matches, start=1):
            print(f"  [{i}] {m.kind:8} {m.ref}  ({m.source}, score {m.score:.4f})")
    return 0


def cmd_indexes(args: argparse.Namespace, config: Config) -> int:
    """``tooldeck indexes list`` and ``tooldeck indexes delete NAME``."""
    from tooldeck.rag.lifecycle import delete_index, describe_indexes

    if args.indexes_command == "delete":
        delete_index(config.data_dir, args.name, config.rag.lock_timeout_s)
        print(f"deleted index {args.name}")
        return 0
    infos = describe_indexes(config.data_dir)
    if args.json:
        print(json.dumps([_info_dict(i) for i in infos], indent=2))
        return 0
    if not infos:
        print(f"no indexes in {config.data_dir / 'indexes'}; build one with "
              "`tooldeck index NAME PATH...`")
        return 0
    rows = [("NAME", "CHUNKS", "FILES", "EMBEDDINGS", "UPDATED")]
    for info in infos:
        d = _info_dict(info)
        rows.append((info.name, _cell(info.chunks), _cell(info.files),
                     info.embeddings or ("damaged" if info.error else "-"), d["updated"] or "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)) + "  " + row[4])
    return 0


def _cell(value: int | None) -> str:
    return "-" if value is None else str(value)


def _info_dict(info: Any) -> dict[str, Any]:
    import datetime

    updated = (datetime.datetime.fromtimestamp(info.updated).astimezone().isoformat(
        timespec="seconds") if info.updated is not None else None)
    return {"name": info.name, "chunks": info.chunks, "files": info.files,
            "embeddings": info.embeddings, "updated": updated, "error": info.error}
