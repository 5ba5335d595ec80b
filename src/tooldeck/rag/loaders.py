"""Loaders: files to LangChain ``Document``s, with bad files skipped and named.

=====================  =====================================================================
file                   documents
=====================  =====================================================================
openapi .json/.yaml    one per operation (``kind: rest``, ``ref: "POST /session"``)
.py                    one per public function, class and method (``kind: function``)
.jsonl                 one per record; API records (Gorilla's ``api_call``) are functions
.md / .markdown        one per heading section (``kind: doc``)
.html / .htm           the page text without scripts and styles
.txt, .rst, other      the text
any of these + .gz     the same, decompressed (up to ``rag.max_file_mb``)
=====================  =====================================================================

Every document has ``source`` (the file), ``kind``, ``ref`` (the operation, symbol or doc id),
``title`` and, for operations and functions, ``example`` (a call). Files that are too big,
binary, not UTF-8, invalid JSON/YAML/Python, hold a ``$ref`` loop or expand past the budgets of
:mod:`tooldeck.rag.budget` (YAML aliases, ``$ref`` fan-out) are skipped: the report lists each
with its reason, and ``load_paths`` warns about each. Which files are read at all (regular files
inside the named roots, links and special files) is decided in :mod:`tooldeck.rag.files`.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_core.documents import Document

from tooldeck.errors import LoaderError
from tooldeck.rag.budget import Budget, bounded_text
from tooldeck.rag.files import iter_files, read_text, text_suffix
from tooldeck.rag.htmltext import html_to_text

if TYPE_CHECKING:
    from tooldeck.config import RagConfig

__all__ = ["LoadReport", "html_to_text", "iter_files", "load_file", "load_paths", "read_text"]

log = logging.getLogger(__name__)

_HEADING = re.compile(r"(#{1,3})\s+(\S.*)")  # \s+ then \S: no backtracking, linear time
_LABEL = 1000  # the most characters of a record's ref or title


@dataclass
class LoadReport:
    """What :func:`load_paths` read: documents per file and the files it skipped."""

    documents: dict[str, list[Document]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def count(self) -> int:
        """Number of documents loaded."""
        return sum(len(d) for d in self.documents.values())


def _doc(text: str, source: str, ref: str, title: str, kind: str = "doc", **extra: Any) -> Document:
    return Document(page_content=text, metadata={"source": source, "kind": kind, "ref": ref,
                                                  "title": title, **extra})


def _heading(line: str) -> str | None:
    """The title of an ATX heading of level 1-3 (a closing run of ``#`` dropped), else ``None``."""
    match = _HEADING.match(line)
    if match is None:
        return None
    title = match.group(2).rstrip()
    bare = title.rstrip("#")
    if bare != title and bare and bare[-1].isspace():
        title = bare.rstrip()
    return title


def _markdown(text: str, source: str) -> list[Document]:
    name = Path(source).name
    sections: list[tuple[str, list[str]]] = [("", [])]
    in_fence = False
    for line in text.splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            in_fence = not in_fence
        heading = None if in_fence else _heading(line)
        if heading is not None:
            sections.append((heading, [line]))
        else:
            sections[-1][1].append(line)
    docs = []
    for heading, lines in sections:
        body = "\n".join(lines).strip()
        if body:
            ref = f"{name}#{_slug(heading)}" if heading else name
            docs.append(_doc(body, source, ref, heading or name))
    return docs


def _slug(text: str) -> str:
    return re.sub(r"[^\w]+", "-", text.lower()).strip("-")


_API_FIELDS = ("domain", "framework", "functionality", "api_name", "api_call", "api_arguments",
               "description")


def _record_document(record: dict[str, Any], source: str, line: int, budget: Budget) -> Document:
    name = Path(source).name
    if "api_call" in record:  # an API record (Gorilla APIBench format and alike)
        out = budget.document()
        for key in _API_FIELDS:
            if record.get(key) not in (None, "") and not out.add(
                    f"{key}: {bounded_text(record[key], out.room)}"):
                break
        call = bounded_text(record["api_call"], budget.document_chars)
        ref = bounded_text(call, _LABEL)
        title = bounded_text(record.get("api_name") or ref, _LABEL)
        text = budget.text(out)
        return _doc(text, source, ref, title, kind="function", example=call, line=line,
                    api_call=call, domain=bounded_text(record.get("domain", ""), _LABEL),
                    record=True)
    text_key = next((k for k in ("text", "content", "page_content", "body") if
                     isinstance(record.get(k), str)), None)
    label = record.get("id") or record.get("name") or record.get("title") or f"{name}:{line}"
    ref = bounded_text(label, _LABEL)
    if text_key:  # the file's own text, not rendered: never cut
        text = record[text_key]
        title = bounded_text(record.get("title") or ref, _LABEL)
        return _doc(text, source, ref, title, line=line)
    out = budget.document()  # a record of fields: one unit, never split
    for key, value in record.items():
        if not out.add(f"{bounded_text(key, _LABEL)}: {bounded_text(value, out.room)}"):
            break
    return _doc(budget.text(out), source, ref, ref, line=line, record=True)


def _jsonl(text: str, source: str, budget: Budget) -> list[Document]:
    docs, bad = [], 0
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:  # not JSON, or a number of over 4,300 digits
            bad += 1
            continue
        if isinstance(record, dict):
            docs.append(_record_document(record, source, number, budget))
    if bad:
        log.warning("%s: skipped %d lines that are not JSON", source, bad)
        if not docs:
            raise LoaderError(f"none of its lines is a JSON object ({bad} invalid lines)")
    return docs


def _parse(text: str, suffix: str, budget: Budget) -> Any:
    """Parse JSON or YAML text (YAML aliases bounded by the file's budget).

    Raises:
        LoaderError: invalid JSON or YAML, nested too deeply, or aliases over the budget.
    """
    if suffix == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            where = f"line {exc.lineno}, column {exc.colno}"
            raise LoaderError(f"invalid JSON ({where}: {exc.msg})") from exc
        except RecursionError as exc:
            msg = "JSON nested too deeply to read (arrays or objects over ~1,000 levels deep)"
            raise LoaderError(msg) from exc
        except ValueError as exc:  # a number of over 4,300 digits
            raise LoaderError(f"invalid JSON ({bounded_text(str(exc), 200)})") from exc
    from tooldeck.rag.safe_yaml import load_yaml

    try:
        return load_yaml(text, budget.file_chars)
    except LoaderError:
        raise
    except RecursionError as exc:
        msg = "YAML nested too deeply to read (over ~1,000 levels deep)"
        raise LoaderError(msg) from exc
    except Exception as exc:  # yaml.YAMLError and its many subclasses, bad numbers
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise LoaderError(f"invalid YAML ({bounded_text(first, 300)})") from exc


def _structured(text: str, source: str, suffix: str, budget: Budget) -> list[Document]:
    from tooldeck.rag.openapi import is_openapi, openapi_documents

    data = _parse(text, suffix, budget)
    if is_openapi(data):
        try:
            return openapi_documents(data, source, budget)
        except (TypeError, AttributeError, KeyError, IndexError, ValueError) as exc:
            reason = bounded_text(f"{type(exc).__name__}: {exc}", 300)
            raise LoaderError(f"a malformed OpenAPI description ({reason})") from exc
    if isinstance(data, list) and data and all(isinstance(x, dict) for x in data):
        return [_record_document(x, source, i, budget) for i, x in enumerate(data, start=1)]
    name = Path(source).name
    return [_doc(text, source, name, name)]


def _documents(path: Path, text: str, budget: Budget) -> list[Document]:
    source = str(path)
    suffix = text_suffix(path)
    if suffix in (".json", ".yaml", ".yml"):
        return _structured(text, source, suffix, budget)
    if suffix == ".jsonl":
        return _jsonl(text, source, budget)
    if suffix == ".py":
        from tooldeck.rag.pysource import python_documents

        return python_documents(text, source)
    if suffix in (".md", ".markdown"):
        return _markdown(text, source)
    if suffix in (".html", ".htm"):
        body, title = html_to_text(text)
        return [_doc(body, source, path.name, title or path.name)] if body else []
    return [_doc(text, source, path.name, path.name)] if text.strip() else []


def load_file(
    path: Path,
    max_bytes: int = 50_000_000,
    *,
    rag: RagConfig | None = None,
    warn: Callable[[str], None] | None = None,
) -> list[Document]:
    """Load one regular file into documents.

    Args:
        path: the file (a link, FIFO or device is refused).
        max_bytes: the most bytes read (decompressed for ``.gz``).
        rag: the ``rag`` settings (``max_document_chars``, ``max_expanded_chars``); the
            defaults when ``None``.
        warn: receives a note when rendered documents were cut (the module logger when
            ``None``).

    Raises:
        LoaderError: why the file cannot be used.
    """
    text = read_text(path, max_bytes)
    budget = Budget.for_file(len(text), rag)
    docs = _documents(path, text, budget)
    if budget.cut:
        (warn or log.warning)(
            f"{path}: cut {budget.cut} of its documents at {budget.document_chars:,} characters "
            "(rag.max_document_chars)"
        )
    return docs


def load_paths(
    files: Iterable[Path],
    max_bytes: int | None = None,
    warn: Callable[[str], None] | None = None,
    *,
    rag: RagConfig | None = None,
) -> LoadReport:
    """Load many files; bad ones are skipped, reported and passed to ``warn``.

    Args:
        files: the files, as :func:`iter_files` lists them.
        max_bytes: the most bytes of one file; ``rag.max_file_mb`` when ``None``.
        warn: receives one message per skipped or cut file (the module logger when ``None``).
        rag: the ``rag`` settings; the defaults when ``None``.
    """
    if max_bytes is None:
        max_bytes = int(rag.max_file_mb * 1e6) if rag is not None else 50_000_000
    say = warn or log.warning
    report = LoadReport()
    for path in files:
        try:
            report.documents[str(path)] = load_file(path, max_bytes, rag=rag, warn=say)
        except (LoaderError, RecursionError, MemoryError) as exc:
            reason = str(exc) if isinstance(exc, LoaderError) else (
                "nested too deeply to read" if isinstance(exc, RecursionError)
                else "too big to load into memory")
            report.skipped[str(path)] = reason
            say(f"skipped {path}: {reason}")
    return report
