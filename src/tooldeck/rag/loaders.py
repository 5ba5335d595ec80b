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
binary, not UTF-8, invalid JSON/YAML/Python or hold a ``$ref`` loop are skipped: the report lists
each with its reason, and ``load_paths`` warns about each.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import re
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from langchain_core.documents import Document

from tooldeck.errors import InputError, LoaderError

__all__ = ["LoadReport", "iter_files", "load_file", "load_paths", "read_text"]

log = logging.getLogger(__name__)

TEXT_SUFFIXES = {".md", ".markdown", ".html", ".htm", ".txt", ".rst", ".json", ".jsonl",
                 ".yaml", ".yml", ".py"}
_SKIP_DIRS = {".git", ".hg", ".svn", "__pycache__", "node_modules", ".venv", "venv", ".tox",
              ".mypy_cache", ".ruff_cache", ".pytest_cache", "site-packages", ".tooldeck"}


@dataclass
class LoadReport:
    """What :func:`load_paths` read: documents per file and the files it skipped."""

    documents: dict[str, list[Document]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def count(self) -> int:
        """Number of documents loaded."""
        return sum(len(d) for d in self.documents.values())


def iter_files(paths: Iterable[str | Path]) -> list[Path]:
    """The files under ``paths`` (directories walked, hidden and tool folders skipped).

    Files named explicitly are always included; in directories only known text suffixes are
    (also gzipped: ``api.jsonl.gz``).

    Raises:
        InputError: a path that does not exist.
    """
    found: dict[str, Path] = {}
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_file():
            found[str(path.resolve())] = path.resolve()
        elif path.is_dir():
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and not d.startswith("."))
                for name in sorted(files):
                    file = Path(root, name)
                    if _suffix(file) in TEXT_SUFFIXES and not name.startswith("."):
                        found[str(file.resolve())] = file.resolve()
        else:
            raise InputError(f"{raw}: no such file or directory; give files or folders to index")
    return [found[k] for k in sorted(found)]


def _suffix(path: Path) -> str:
    """The suffix that says how to read a file: ``x.jsonl.gz`` reads as ``.jsonl``."""
    suffix = path.suffix.lower()
    return Path(path.stem).suffix.lower() if suffix == ".gz" else suffix


def _gunzip(path: Path, max_bytes: int) -> bytes:
    """Decompress a gzip file, stopping at ``max_bytes`` (a small file can inflate hugely)."""
    try:
        with gzip.open(path, "rb") as handle:
            data = handle.read(max_bytes + 1)
    except (OSError, EOFError, zlib.error) as exc:
        raise LoaderError(f"not a readable gzip file ({exc})") from exc
    if len(data) > max_bytes:
        raise LoaderError(f"decompresses to over the {max_bytes / 1e6:.0f} MB limit "
                          "(rag.max_file_mb)")
    return data


def read_text(path: Path, max_bytes: int) -> str:
    """Read a UTF-8 text file (gzipped too), refusing big, binary and non-UTF-8 files.

    Raises:
        LoaderError: the reason the file cannot be used.
    """
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise LoaderError(
                f"{size / 1e6:.1f} MB is over the {max_bytes / 1e6:.0f} MB limit "
                "(rag.max_file_mb)"
            )
        data = _gunzip(path, max_bytes) if path.suffix.lower() == ".gz" else path.read_bytes()
    except OSError as exc:
        raise LoaderError(f"cannot be read ({exc.strerror or exc})") from exc
    if b"\x00" in data[:8192]:
        raise LoaderError("binary data (NUL bytes), not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LoaderError(f"not UTF-8 text (bad byte at offset {exc.start})") from exc


def _doc(text: str, source: str, ref: str, title: str, kind: str = "doc", **extra: Any) -> Document:
    return Document(page_content=text, metadata={"source": source, "kind": kind, "ref": ref,
                                                  "title": title, **extra})


def _markdown(text: str, source: str) -> list[Document]:
    name = Path(source).name
    sections: list[tuple[str, list[str]]] = [("", [])]
    in_fence = False
    for line in text.splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            in_fence = not in_fence
        match = None if in_fence else re.match(r"^(#{1,3})\s+(.+?)\s*#*\s*$", line)
        if match:
            sections.append((match.group(2), [line]))
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


class _HTMLText(HTMLParser):
    _SKIP = {"script", "style", "noscript", "template", "svg", "head"}
    _BLOCK = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "section",
              "article", "pre", "table", "ul", "ol", "header", "footer", "blockquote"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title = ""
        self._skip = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        elif tag in self._SKIP:
            self._skip += 1
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag in self._SKIP:
            self._skip = max(0, self._skip - 1)
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        elif not self._skip:
            self.parts.append(data)


def html_to_text(html: str) -> tuple[str, str]:
    """The visible text and the title of an HTML page."""
    parser = _HTMLText()
    parser.feed(html)
    parser.close()
    text = re.sub(r"[ \t]+", " ", "".join(parser.parts))
    text = re.sub(r"\n\s*\n+", "\n\n", text).strip()
    return text, parser.title.strip()


_API_FIELDS = ("domain", "framework", "functionality", "api_name", "api_call", "api_arguments",
               "description")


def _record_document(record: dict[str, Any], source: str, line: int) -> Document:
    name = Path(source).name
    if "api_call" in record:  # an API record (Gorilla APIBench format and alike)
        lines = [f"{k}: {_flat(record[k])}" for k in _API_FIELDS if record.get(k) not in (None, "")]
        ref = str(record["api_call"])
        return _doc("\n".join(lines), source, ref, str(record.get("api_name") or ref),
                    kind="function", example=str(record["api_call"]), line=line,
                    api_call=str(record["api_call"]), domain=str(record.get("domain", "")))
    text_key = next((k for k in ("text", "content", "page_content", "body") if
                     isinstance(record.get(k), str)), None)
    ref = str(record.get("id") or record.get("name") or record.get("title") or f"{name}:{line}")
    if text_key:
        text = record[text_key]
        title = str(record.get("title") or ref)
    else:
        text = "\n".join(f"{k}: {_flat(v)}" for k, v in record.items())
        title = ref
    return _doc(text, source, ref, title, line=line)


def _flat(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _jsonl(text: str, source: str) -> list[Document]:
    docs, bad = [], 0
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            bad += 1
            continue
        if isinstance(record, dict):
            docs.append(_record_document(record, source, number))
    if bad:
        log.warning("%s: skipped %d lines that are not JSON", source, bad)
        if not docs:
            raise LoaderError(f"none of its lines is a JSON object ({bad} invalid lines)")
    return docs


def _structured(text: str, source: str, suffix: str) -> list[Document]:
    from tooldeck.rag.openapi import is_openapi, openapi_documents

    try:
        if suffix == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        raise LoaderError(f"invalid JSON ({where}: {exc.msg})") from exc
    except Exception as exc:  # yaml.YAMLError and its many subclasses
        raise LoaderError(f"invalid YAML ({str(exc).splitlines()[0]})") from exc
    if is_openapi(data):
        return openapi_documents(data, source)
    if isinstance(data, list) and data and all(isinstance(x, dict) for x in data):
        return [_record_document(x, source, i) for i, x in enumerate(data, start=1)]
    name = Path(source).name
    return [_doc(text, source, name, name)]


def load_file(path: Path, max_bytes: int = 50_000_000) -> list[Document]:
    """Load one file into documents.

    Raises:
        LoaderError: why the file cannot be used.
    """
    text = read_text(path, max_bytes)
    source = str(path)
    suffix = _suffix(path)
    if suffix in (".json", ".yaml", ".yml"):
        return _structured(text, source, suffix)
    if suffix == ".jsonl":
        return _jsonl(text, source)
    if suffix == ".py":
        from tooldeck.rag.pysource import python_documents

        return python_documents(text, source)
    if suffix in (".md", ".markdown"):
        return _markdown(text, source)
    if suffix in (".html", ".htm"):
        body, title = html_to_text(text)
        return [_doc(body, source, path.name, title or path.name)] if body else []
    return [_doc(text, source, path.name, path.name)] if text.strip() else []


def load_paths(
    files: Iterable[Path],
    max_bytes: int = 50_000_000,
    warn: Callable[[str], None] | None = None,
) -> LoadReport:
    """Load many files; bad ones are skipped, reported and passed to ``warn``."""
    report = LoadReport()
    for path in files:
        try:
            report.documents[str(path)] = load_file(path, max_bytes)
        except (LoaderError, RecursionError) as exc:
            reason = str(exc) if isinstance(exc, LoaderError) else "nested too deeply to read"
            report.skipped[str(path)] = reason
            message = f"skipped {path}: {reason}"
            (warn or log.warning)(message)
    return report
