"""The labelled sets of ``tooldeck eval retrieval``: one small loader per dataset.

Every set is one or more :class:`Part` s. A part is a corpus and its queries: ``files`` (or
``records``, written as JSON lines at run time) are what tooldeck's own index reads, ``docs`` are
the same documents as plain text for the baselines (plain BM25 and plain dense), and every
query names its relevant documents by *label*. Labels are what both sides agree on: ``METHOD
/path`` with ``{parameters}`` written ``{}`` for REST operations, the API call for APIBench
records, the qualified name of a function, the record id for ToolBench APIs. Documents that
share a label (APIBench has duplicate calls) count as one.

The data files are those of ``../shared/data`` (each folder's ``SOURCE.md`` says how to score);
``data`` is the folder that holds ``gorilla_apibench/``, ``restbench/`` and ``toolbench/``.
"""

from __future__ import annotations

import gzip
import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tooldeck.errors import InputError

__all__ = [
    "FIXTURE_DIR", "FIXTURE_QUERIES", "SET_NAMES", "Doc", "Part", "Query", "RetrievalSet",
    "label_of_ref", "load_set", "rest_label", "sample",
]

SET_NAMES = ("apibench-hf", "apibench-tf", "restbench-tmdb", "restbench-spotify", "toolbench",
             "fixture")
FIXTURE_DIR = Path(__file__).resolve().parents[3] / "tests" / "fixtures" / "api"
# Beside the folder, not in it: tests index the whole folder.
FIXTURE_QUERIES = FIXTURE_DIR.parent / "api_queries.json"
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_PARAM = re.compile(r"\{[^{}/]*\}")
_MAX_QUERIES = 100_000


@dataclass(frozen=True)
class Doc:
    """One document of a corpus as the baselines see it."""

    label: str
    text: str


@dataclass(frozen=True)
class Query:
    """A question and the labels of the documents that answer it."""

    text: str
    relevant: tuple[str, ...]


@dataclass
class Part:
    """One corpus and its queries (ToolBench has one per test group)."""

    name: str
    docs: list[Doc]
    queries: list[Query]
    files: list[Path] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class RetrievalSet:
    """A named set: its parts, and a note on what was used."""

    name: str
    parts: list[Part]
    note: str = ""

    @property
    def n_queries(self) -> int:
        """Queries over all parts."""
        return sum(len(p.queries) for p in self.parts)

    @property
    def n_docs(self) -> int:
        """Documents over all parts."""
        return sum(len(p.docs) for p in self.parts)


def rest_label(method: str, path: str) -> str:
    """``GET /movie/{}/credits``: the label of a REST operation (parameter names dropped)."""
    path = _PARAM.sub("{}", path.strip()).rstrip("/") or "/"
    return f"{method.strip().upper()} {path}"


def label_of_ref(ref: str) -> str:
    """A match's ``ref`` as a label (REST refs normalised, others as they are)."""
    method, _, path = ref.partition(" ")
    if path.startswith("/") and method.lower() in _METHODS:
        return rest_label(method, path)
    return ref


def sample(queries: list[Query], limit: int | None, seed: int = 0) -> list[Query]:
    """``limit`` queries drawn with a fixed seed (all of them, in order, when ``None``)."""
    if limit is None or limit >= len(queries):
        return queries
    chosen = sorted(random.Random(seed).sample(range(len(queries)), limit))  # noqa: S311
    return [queries[i] for i in chosen]


def _read_json(path: Path) -> Any:
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as handle:
            return json.load(handle)
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}; pass --data DIR, the "
                         "folder that holds gorilla_apibench/, restbench/ and toolbench/") from exc
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not JSON ({exc.msg})") from exc


def _read_lines(path: Path) -> list[dict[str, Any]]:
    from tooldeck.eval.apibench import read_jsonl

    if not path.is_file():
        raise InputError(f"missing {path}; pass --data DIR, the folder that holds "
                         "gorilla_apibench/, restbench/ and toolbench/")
    return read_jsonl(path)


# -- APIBench ---------------------------------------------------------------------------------
_API_FIELDS = ("domain", "framework", "functionality", "api_name", "api_call", "api_arguments",
               "description")


def _api_text(record: dict[str, Any]) -> str:
    return "\n".join(f"{k}: {v if isinstance(v, str) else json.dumps(v)}" for k in _API_FIELDS
                     if (v := record.get(k)) not in (None, ""))


def _apibench(data: Path, name: str, hub: str, eval_name: str) -> RetrievalSet:
    root = data / "gorilla_apibench"
    api_file = root / "api" / f"{hub}_api.jsonl"
    records = _read_lines(api_file)
    gold = [row.get("api_data", row) for row in _read_lines(root / "apibench_eval" / eval_name)]
    docs = [Doc(str(r["api_call"]), _api_text(r)) for r in records if "api_call" in r]
    known = {d.label for d in docs}
    queries, unknown = [], 0
    for q in _read_lines(root / "questions" / f"questions_{hub}_0_shot.jsonl")[:_MAX_QUERIES]:
        call = str(gold[int(q["question_id"]) - 1].get("api_call", ""))
        if call not in known:
            unknown += 1
            continue
        text = str(q["text"]).replace("\\n", "\n").strip()
        queries.append(Query(text, (call,)))
    note = (f"gold = the exact API call; {unknown} questions whose gold call is not in the API "
            "file left out" if unknown else "gold = the exact API call")
    return RetrievalSet(name, [Part(hub, docs, queries, files=[api_file])], note)


# -- RestBench --------------------------------------------------------------------------------
def _spec_docs(spec: dict[str, Any]) -> list[Doc]:
    """``METHOD path``, summary and description per operation (the issue's plain baseline)."""
    docs = []
    for path, item in spec.get("paths", {}).items():
        for method in _METHODS:
            op = item.get(method) if isinstance(item, dict) else None
            if isinstance(op, dict):
                lines = [f"{method.upper()} {path}", str(op.get("summary") or ""),
                         str(op.get("description") or "")]
                docs.append(Doc(rest_label(method, path), "\n".join(x for x in lines if x)))
    return docs


def _restbench(data: Path, api: str) -> RetrievalSet:
    root = data / "restbench"
    spec_file = root / f"{api}_oas.json"
    docs = _spec_docs(_read_json(spec_file))
    tasks = _read_json(root / f"{api}.json")
    queries = [Query(str(t["query"]), tuple(rest_label(*s.split(" ", 1))
                                            for s in t["solution"])) for t in tasks]
    return RetrievalSet(f"restbench-{api}", [Part(api, docs, queries, files=[spec_file])],
                        "gold = every solution endpoint (recall micro-averaged over steps)")


# -- ToolBench (StableToolBench solvable test queries) ----------------------------------------
_TOOL_FIELDS = ("category_name", "tool_name", "api_name", "api_description",
                "required_parameters", "optional_parameters", "method")


def _toolbench_part(path: Path) -> Part:
    rows = _read_json(path)
    entries: dict[str, dict[str, Any]] = {}
    queries = []
    for row in rows[:_MAX_QUERIES]:
        for api in row.get("api_list", []):
            label = f"{api.get('tool_name')}::{api.get('api_name')}"
            entries.setdefault(label, {k: api.get(k) for k in _TOOL_FIELDS})
        relevant = tuple(dict.fromkeys(f"{t}::{a}" for t, a in row.get("relevant APIs", [])))
        queries.append(Query(str(row["query"]), relevant))
    docs = [Doc(label, json.dumps(entry, ensure_ascii=False)) for label, entry in entries.items()]
    records = [{"id": label, **entry} for label, entry in entries.items()]
    return Part(path.stem, docs, queries, records=records)


# ToolLLM's Table 2 rows I1, I2, I3 (single tool, intra-category, intra-collection).
TOOLBENCH_GROUPS = ("G1_instruction", "G2_instruction", "G3_instruction")


def _toolbench(data: Path) -> RetrievalSet:
    folder = data / "toolbench" / "stabletoolbench_solvable_queries" / "test_instruction"
    files = [folder / f"{group}.json" for group in TOOLBENCH_GROUPS]
    return RetrievalSet("toolbench", [_toolbench_part(f) for f in files],
                        "the I1, I2, I3 instruction groups (ToolLLM Table 2 rows), one corpus "
                        "per group (the union of its queries' api_list), figures pooled")


# -- the repository's own fixture API --------------------------------------------------------
def _fixture(folder: Path) -> RetrievalSet:
    from tooldeck.rag.loaders import load_file
    from tooldeck.rag.pysource import python_documents

    spec_file, client, guide = (folder / "openapi.json", folder / "client.py",
                                folder / "guide.md")
    docs = _spec_docs(_read_json(spec_file))
    docs += [Doc(str(d.metadata["ref"]), d.page_content)
             for d in python_documents(client.read_text(encoding="utf-8"), str(client))]
    docs += [Doc(str(d.metadata["ref"]), d.page_content) for d in load_file(guide)]
    own = folder / "queries.json"
    labelled = _read_json(own if own.is_file() else FIXTURE_QUERIES)
    queries = [Query(str(q["query"]), tuple(label_of_ref(r) for r in q["relevant"]))
               for q in labelled]
    return RetrievalSet("fixture", [Part("fixture", docs, queries,
                                         files=[spec_file, client, guide])],
                        "spec + client code + guide indexed together")


def load_set(name: str, data: Path | None, fixture: Path | None = None) -> RetrievalSet:
    """The set called ``name`` (one of :data:`SET_NAMES`).

    Raises:
        InputError: an unknown name, or a data file that is missing or not JSON.
    """
    loaders: dict[str, Callable[[Path], RetrievalSet]] = {
        "apibench-hf": lambda d: _apibench(d, "apibench-hf", "huggingface",
                                           "huggingface_eval.json"),
        "apibench-tf": lambda d: _apibench(d, "apibench-tf", "tensorflowhub",
                                           "tensorflow_eval.json"),
        "restbench-tmdb": lambda d: _restbench(d, "tmdb"),
        "restbench-spotify": lambda d: _restbench(d, "spotify"),
        "toolbench": _toolbench,
    }
    if name == "fixture":
        return _fixture(fixture or FIXTURE_DIR)
    if name not in loaders:
        raise InputError(f"unknown set {name!r}; choose from {', '.join(SET_NAMES)}")
    if data is None:
        raise InputError(f"set {name!r} needs --data DIR, the folder that holds "
                         "gorilla_apibench/, restbench/ and toolbench/")
    return loaders[name](Path(data))
