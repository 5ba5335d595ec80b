"""Loaders and splitters: one document per operation/symbol/section; bad files skipped."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from tooldeck.config import IndexConfig
from tooldeck.errors import InputError
from tooldeck.rag.loaders import html_to_text, iter_files, load_file, load_paths
from tooldeck.rag.splitters import split_documents, split_text

API = Path(__file__).resolve().parent.parent / "fixtures" / "api"


def test_openapi_one_document_per_operation_with_refs_resolved() -> None:
    docs = load_file(API / "openapi.json")
    refs = [d.metadata["ref"] for d in docs]
    assert refs == ["GET /session", "POST /session", "DELETE /session/{session_id}",
                    "GET /billing/invoices"]
    post = docs[1]
    assert post.metadata["kind"] == "rest"
    assert "image (string, required): Container image to run" in post.page_content
    assert "(recursive: Session)" in post.page_content  # a recursive schema is named, not looped
    assert "operationId: createSession" in post.page_content
    assert post.metadata["example"].startswith("curl -X POST 'https://api.example.com/v1/session'")
    assert '"image": "python:3.11"' in post.metadata["example"]
    delete = docs[2]
    assert "session_id (in path, string, required)" in delete.page_content


def test_python_symbols_with_signatures() -> None:
    docs = load_file(API / "client.py")
    refs = {d.metadata["ref"]: d for d in docs}
    assert set(refs) == {"ComputeSession", "ComputeSession.create", "ComputeSession.terminate",
                         "download_invoices"}
    create = refs["ComputeSession.create"]
    assert create.metadata["signature"] == "(client: 'Client', image: str, gpus: int=0) -> 'ComputeSession'"
    assert "Start a new compute session" in create.page_content
    assert create.metadata["example"] == "ComputeSession.create(client=..., image=...)"


def test_markdown_sections_html_and_jsonl(tmp_path: Path) -> None:
    docs = load_file(API / "guide.md")
    assert [d.metadata["title"] for d in docs] == ["Compute API guide", "Authentication",
                                                    "Rate limits"]
    assert docs[1].metadata["ref"] == "guide.md#authentication"
    text, title = html_to_text("<html><head><title>T</title><script>evil()</script></head>"
                               "<body><p>Hello <b>world</b></p><style>x{}</style></body></html>")
    assert (text, title) == ("Hello world", "T")
    records = tmp_path / "apis.jsonl"
    records.write_text(json.dumps({"domain": "Text", "api_name": "m", "api_call": "hub.load('u')"})
                       + "\n" + json.dumps({"id": "n1", "text": "a note"}) + "\n")
    api, note = load_file(records)
    assert api.metadata["kind"] == "function" and api.metadata["api_call"] == "hub.load('u')"
    assert note.metadata["ref"] == "n1" and note.page_content == "a note"


def test_bad_files_are_skipped_with_reasons(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text('{"openapi": "3.0.0", "paths": {')
    (tmp_path / "loop.json").write_text(json.dumps({
        "openapi": "3.0.0",
        "paths": {"/a": {"get": {"responses": {"200": {"$ref": "#/components/responses/A"}}}}},
        "components": {"responses": {"A": {"$ref": "#/components/responses/B"},
                                     "B": {"$ref": "#/components/responses/A"}}},
    }))
    (tmp_path / "blob.txt").write_bytes(b"\x00\x01\x02binary")
    (tmp_path / "latin.txt").write_bytes("caf\xe9".encode("latin-1"))
    huge = tmp_path / "huge.md"
    with huge.open("wb") as handle:  # 500 MB, sparse: no disk is used
        handle.truncate(500 * 1024 * 1024)
    (tmp_path / "bad.py").write_text("def broken(:\n")
    (tmp_path / "good.md").write_text("# ok\n\nfine")
    warnings: list[str] = []
    report = load_paths(iter_files([tmp_path]), max_bytes=50_000_000, warn=warnings.append)
    skipped = {Path(k).name: v for k, v in report.skipped.items()}
    assert "invalid JSON" in skipped["bad.json"]
    assert "$ref loop" in skipped["loop.json"]
    assert "binary" in skipped["blob.txt"]
    assert "not UTF-8" in skipped["latin.txt"]
    assert "524.3 MB is over the 50 MB limit" in skipped["huge.md"]
    assert "not valid Python" in skipped["bad.py"]
    assert [Path(k).name for k in report.documents] == ["good.md"]
    assert len(warnings) == 6 and all(w.startswith("skipped ") for w in warnings)


def test_gzipped_files_load_and_bombs_are_refused(tmp_path: Path) -> None:
    record = {"api_call": "hub.load('https://tfhub.dev/a/1')", "api_name": "a",
              "domain": "Text embedding", "description": "embeds text"}
    (tmp_path / "api.jsonl.gz").write_bytes(gzip.compress((json.dumps(record) + "\n").encode()))
    (tmp_path / "bomb.md.gz").write_bytes(gzip.compress(b"a " * 3_000_000))  # 6 MB from ~6 kB
    (tmp_path / "broken.txt.gz").write_bytes(b"\x1f\x8bnot really gzip")
    (tmp_path / "archive.tar.gz").write_bytes(gzip.compress(b"x"))  # not a text suffix: not walked
    report = load_paths(iter_files([tmp_path]), max_bytes=5_000_000, warn=lambda _: None)
    skipped = {Path(k).name: v for k, v in report.skipped.items()}
    assert "decompresses to over the 5 MB limit" in skipped["bomb.md.gz"]
    assert "not a readable gzip file" in skipped["broken.txt.gz"]
    [docs] = [d for k, d in report.documents.items() if k.endswith("api.jsonl.gz")]
    assert docs[0].metadata["kind"] == "function"
    assert not any("archive" in k for k in [*report.documents, *report.skipped])


def test_missing_path_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        iter_files([tmp_path / "nope"])


def test_fixed_splitter_never_cuts_words_and_overlaps() -> None:
    words = [f"word{i}" for i in range(400)]
    text = ". ".join(" ".join(words[i : i + 7]) for i in range(0, 400, 7)) + "."
    chunks = split_text(text, 200, 50)
    assert len(chunks) > 5
    vocabulary = set(text.replace(".", " ").split())
    for chunk in chunks:
        assert len(chunk) <= 200
        assert set(chunk.replace(".", " ").split()) <= vocabulary  # whole words only
    for a, b in zip(chunks, chunks[1:], strict=False):
        assert a.split()[-1] in b  # overlap carries the end of the previous chunk
    joined = " ".join(chunks)
    assert all(w in joined for w in words)


def test_parent_child_returns_the_parent() -> None:
    from langchain_core.documents import Document

    text = " ".join(f"Sentence number {i} is here." for i in range(200))
    doc = Document(page_content=text, metadata={"source": "s", "ref": "r", "kind": "doc"})
    chunks = split_documents([doc], IndexConfig(splitter="parent-child", chunk_size=100,
                                                chunk_overlap=0, parent_size=1000))
    assert all(len(c.text) <= 100 for c in chunks)
    assert all(c.text in c.context and len(c.context) > 500 for c in chunks)
    assert len({c.context for c in chunks}) == len(split_text(text, 1000))
    assert len({c.id for c in chunks}) == len(chunks)


def test_markdown_headings_closing_hashes_and_levels(tmp_path: Path) -> None:
    page = tmp_path / "h.md"
    page.write_text("# Title ##\n\na\n\n## C#\n\nb\n\n#### deep\n\n#no-space\n\n###   spaced   #\n")
    titles = [d.metadata["title"] for d in load_file(page)]
    assert titles == ["Title", "C#", "spaced"]


def test_html_text_keeps_quoted_gt_and_br_breaks() -> None:
    text, title = html_to_text("<title>A &amp; B</title><a title='x>y'>link</a><br/>tail"
                               "<script>if (a<b) {}</script><![foo[ bar ]]>end<!-- open")
    assert (text, title) == ("link\n\ntailend", "A & B")
