"""Loaders under hostile files: links out of the folder, special files, bombs, slow paths.

Cases that hung, spun or ate gigabytes before the fix run in a child process with a time and
address-space limit, so that a regression fails the test instead of the machine; each child
reports its own wall time and ``tracemalloc`` peak for the operation alone.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from langchain_core.embeddings import Embeddings

from tooldeck.config import EmbeddingsConfig, RagConfig
from tooldeck.errors import ConfigError, ModelError
from tooldeck.rag.loaders import iter_files, load_file, load_paths

REPO = Path(__file__).resolve().parents[2]

_CHILD = """
import json, os, resource, sys, time, tracemalloc
resource.setrlimit(resource.RLIMIT_AS, ({mem}, {mem}))
from pathlib import Path
from tooldeck.config import RagConfig
from tooldeck.rag.loaders import iter_files, load_file, load_paths
P = json.loads(sys.argv[1])
warnings = []

def measure(fn, *args, memory=False, **kwargs):
    # wall time untraced; with memory=True, a second run under tracemalloc for the peak
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    seconds = time.perf_counter() - start
    if not memory:
        return result, seconds, None
    tracemalloc.start()
    fn(*args, **kwargs)
    peak = tracemalloc.get_traced_memory()[1] / 1e6
    tracemalloc.stop()
    return result, seconds, peak

def peak_rss_mb():
    # VmHWM belongs to this process image; ru_maxrss would carry the forking parent's peak
    # across exec (a test run that loaded the model would show gigabytes here)
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

def done(**result):
    print(json.dumps(result, default=str))
"""


def _isolated(body: str, timeout: float = 30.0, mem_mb: int = 1024, **params: Any) -> Any:
    """Run ``body`` in a child with limits; returns what it passed to ``done``."""
    code = _CHILD.format(mem=mem_mb << 20) + textwrap.dedent(body)
    try:
        proc = subprocess.run([sys.executable, "-c", code, json.dumps(params)], cwd=REPO,
                              capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail(f"did not finish within {timeout:.0f} s (a hang or a slow path)")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


# -- 1. links out of the indexed folder ------------------------------------------------------


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """``root/`` with a document, links inside and out, and ``outside/`` beside it."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "docs").mkdir(parents=True)
    outside.mkdir()
    (root / "docs" / "guide.md").write_text("# Guide\n\nhello\n")
    (outside / "secret.md").write_text("# Secret\n\nnot for the index\n")
    (root / "passwd.txt").symlink_to("/etc/passwd")
    (root / "status.txt").symlink_to("/proc/self/status")
    (root / "secret.md").symlink_to(outside / "secret.md")
    (root / "alias.md").symlink_to(root / "docs" / "guide.md")  # inside: fine, read once
    (root / "vendor").symlink_to(outside, target_is_directory=True)  # a folder outside
    (root / "again").symlink_to(root, target_is_directory=True)  # a folder loop
    return root


def test_links_that_leave_the_folder_are_skipped_with_a_warning(tree: Path) -> None:
    files = iter_files([tree])
    assert files == [tree.resolve() / "docs" / "guide.md"]
    warnings: list[str] = []
    assert iter_files([tree], warn=warnings.append) == files
    said = "\n".join(warnings)
    for name in ("passwd.txt", "status.txt", "secret.md", "vendor"):
        assert f"{tree.resolve() / name}: " in said
    assert "outside the folders being indexed" in said and "/etc/passwd" in said
    report = load_paths(files, warn=warnings.append)
    assert "not for the index" not in json.dumps([d.page_content for d in report.documents[
        str(files[0])]])


def test_follow_external_links_is_opt_in_and_still_refuses_pseudo_files(tree: Path) -> None:
    warnings: list[str] = []
    files = iter_files([tree], rag=RagConfig(follow_external_links=True), warn=warnings.append)
    real = tree.resolve()
    outside = real.parent / "outside" / "secret.md"
    assert files == sorted([real / "docs" / "guide.md", outside, Path("/etc/passwd")])
    assert any("status.txt" in w and "kernel pseudo-file" in w for w in warnings)


def test_link_loops_and_dangling_links_are_skipped_not_fatal(tmp_path: Path) -> None:
    (tmp_path / "good.md").write_text("# Good\n\nkept\n")
    (tmp_path / "self.md").symlink_to(tmp_path / "self.md")
    (tmp_path / "ping.md").symlink_to(tmp_path / "pong.md")
    (tmp_path / "pong.md").symlink_to(tmp_path / "ping.md")
    (tmp_path / "gone.md").symlink_to(tmp_path / "deleted.md")
    (tmp_path / "gone-folder").symlink_to(tmp_path / "nothing", target_is_directory=True)
    files = iter_files([tmp_path])  # no RuntimeError("Symlink loop"), no FileNotFoundError
    assert files == [tmp_path.resolve() / "good.md"]
    warnings: list[str] = []
    iter_files([tmp_path], warn=warnings.append)
    assert sorted(Path(w.split(": ")[0].removeprefix("skipped ")).name for w in warnings) == [
        "gone-folder", "gone.md", "ping.md", "pong.md", "self.md"]
    assert all("symbolic link that leads nowhere" in w for w in warnings)
    assert load_paths(files, warn=warnings.append).count == 1


def test_a_link_named_explicitly_is_its_own_root(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere" / "notes.txt"
    target.parent.mkdir()
    target.write_text("chosen by the user")
    (tmp_path / "named.txt").symlink_to(target)
    (tmp_path / "named-folder").symlink_to(target.parent, target_is_directory=True)
    assert iter_files([tmp_path / "named.txt"]) == [target.resolve()]
    assert iter_files([tmp_path / "named-folder"]) == [target.resolve()]
    from tooldeck.errors import InputError

    (tmp_path / "broken.txt").symlink_to(tmp_path / "missing.txt")
    with pytest.raises(InputError, match="leads nowhere"):
        iter_files([tmp_path / "broken.txt"])


def test_files_are_opened_without_following_links(tmp_path: Path) -> None:
    real = tmp_path / "real.md"
    real.write_text("# Real\n")
    listed = iter_files([tmp_path])
    real.unlink()
    real.symlink_to("/etc/passwd")  # swapped after listing
    report = load_paths(listed, warn=lambda _: None)
    assert str(real) not in report.documents  # /etc/passwd is not read
    assert "symbolic link" in report.skipped[str(real)]


# -- 2. special files --------------------------------------------------------------------------


def test_fifos_and_devices_are_skipped_never_read(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.md")
    os.mkfifo(tmp_path / "named.txt")
    (tmp_path / "zero.txt").symlink_to("/dev/zero")
    (tmp_path / "ok.md").write_text("# ok\n")
    result = _isolated("""
        root = Path(P["root"])
        files = iter_files([root, root / "named.txt"])
        errors = []
        for path in (root / "pipe.md", Path("/dev/zero"), Path("/dev/null")):
            try:
                load_file(path)
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
        rag = RagConfig(follow_external_links=True)  # even then: only regular files
        followed = iter_files([root, root / "named.txt"], rag=rag, warn=warnings.append)
        done(files=[str(f) for f in files], followed=[str(f) for f in followed],
             warnings=warnings, errors=errors)
    """, timeout=30, root=str(tmp_path))
    assert result["files"] == result["followed"] == [str(tmp_path.resolve() / "ok.md")]
    said = "\n".join(result["warnings"])
    assert "pipe.md: a FIFO" in said and "named.txt: a FIFO" in said
    assert "zero.txt: a link to a device" in said
    assert all(e.startswith("LoaderError") and "not a regular file" in e
               for e in result["errors"]), result["errors"]


def test_a_file_swapped_for_a_fifo_after_listing_does_not_hang(tmp_path: Path) -> None:
    result = _isolated("""
        root = Path(P["root"])
        (root / "a.md").write_text("# a\\n")
        listed = iter_files([root])
        (root / "a.md").unlink()
        os.mkfifo(root / "a.md")
        report, seconds, _ = measure(load_paths, listed, warn=warnings.append)
        done(skipped=report.skipped, seconds=seconds)
    """, timeout=30, root=str(tmp_path))
    assert "a FIFO" in result["skipped"][str(tmp_path.resolve() / "a.md")]
    assert result["seconds"] < 2


# -- 3. expansion bombs ------------------------------------------------------------------------

_LAUGHS = "".join(
    f"  l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]\n" for i in range(2, 10)
)
RECORD_BOMB = "- name: laughs\n  l1: &l1 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + _LAUGHS
OPENAPI_BOMB = (
    "openapi: 3.0.0\ninfo: {title: t, version: '1'}\nx-bomb:\n"
    "  l1: &l1 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + _LAUGHS
    + "paths:\n  /a:\n    post:\n      description: *l9\n      requestBody:\n        content:\n"
    "          application/json:\n            schema: {type: object, example: *l9}\n"
    "      responses: {'200': {description: ok}}\n"
)


def _fanout_spec(fanout: int = 7, levels: int = 8, operations: int = 40) -> str:
    """Schema L0 whose ``fanout`` properties each ``$ref`` L1, and so on ``levels`` deep."""
    schemas: dict[str, Any] = {}
    for level in range(levels):
        child = {"$ref": f"#/components/schemas/L{level + 1}"} if level < levels - 1 else {
            "type": "string", "description": "a leaf"}
        schemas[f"L{level}"] = {"type": "object",
                                "properties": {f"p{i}": child for i in range(fanout)}}
    schema = {"$ref": "#/components/schemas/L0"}
    components = {
        "schemas": schemas,
        "requestBodies": {"B": {"content": {"application/json": {"schema": schema}}}},
        "responses": {"R": {"description": "ok", "content": {"application/json": {
            "schema": schema}}}},
    }
    op = {"requestBody": {"$ref": "#/components/requestBodies/B"},
          "responses": {"200": {"$ref": "#/components/responses/R"},
                        "400": {"$ref": "#/components/responses/R"}}}
    paths = {f"/r{i}": {"post": op} for i in range(operations)}
    return json.dumps({"openapi": "3.0.0", "paths": paths, "components": components})


def test_yaml_alias_bombs_are_refused_in_bounded_time_and_memory(tmp_path: Path) -> None:
    (tmp_path / "records.yaml").write_text(RECORD_BOMB)
    (tmp_path / "api.yaml").write_text(OPENAPI_BOMB)
    (tmp_path / "self.yaml").write_text("- &a {name: x, me: *a}\n")
    assert len(RECORD_BOMB) < 800 and len(OPENAPI_BOMB) < 1200
    result = _isolated("""
        files = [Path(P["root"]) / n for n in ("records.yaml", "api.yaml", "self.yaml")]
        report, seconds, peak = measure(load_paths, files, warn=warnings.append, memory=True)
        done(skipped={Path(k).name: v for k, v in report.skipped.items()},
             seconds=seconds, peak_mb=peak)
    """, timeout=60, root=str(tmp_path))
    assert "YAML aliases expand it to over" in result["skipped"]["records.yaml"]
    assert "rag.max_expanded_chars" in result["skipped"]["api.yaml"]
    assert "contains it" in result["skipped"]["self.yaml"]
    assert result["seconds"] < 3 and result["peak_mb"] < 50, result


def test_small_yaml_aliases_still_load() -> None:
    text = "- &base {name: a, text: shared words}\n- {<<: *base, name: b}\n- *base\n"
    from tooldeck.rag.safe_yaml import load_yaml

    assert [r["name"] for r in load_yaml(text, 10_000)] == ["a", "b", "a"]


def test_ref_fanout_is_cut_per_document_and_refused_per_file(tmp_path: Path) -> None:
    (tmp_path / "fanout.json").write_text(_fanout_spec(operations=40))
    (tmp_path / "wide.json").write_text(_fanout_spec(operations=200))
    assert (tmp_path / "fanout.json").stat().st_size < 12_000
    result = _isolated("""
        root = Path(P["root"])
        report, seconds, _ = measure(load_paths, [root / "fanout.json", root / "wide.json"],
                                     warn=warnings.append)
        docs = report.documents.get(str(root / "fanout.json"), [])
        done(sizes=[len(d.page_content) for d in docs], notes=[d.page_content[-80:] for d in docs],
             skipped={Path(k).name: v for k, v in report.skipped.items()},
             warnings=warnings, seconds=seconds, rss_mb=peak_rss_mb())
    """, timeout=120, root=str(tmp_path))
    assert len(result["sizes"]) == 40
    assert max(result["sizes"]) <= 200_000 + 100
    assert all("rag.max_document_chars" in note for note in result["notes"])
    assert any("cut 40 of its documents at 200,000 characters" in w for w in result["warnings"])
    assert "expand to over 20,0" in result["skipped"]["wide.json"]
    assert result["seconds"] < 8 and result["rss_mb"] < 200, result


def test_document_budget_follows_the_config(tmp_path: Path) -> None:
    spec = tmp_path / "fanout.json"
    spec.write_text(_fanout_spec(operations=2))
    notes: list[str] = []
    docs = load_file(spec, rag=RagConfig(max_document_chars=5_000), warn=notes.append)
    assert all(len(d.page_content) < 5_100 for d in docs)
    assert notes == [f"{spec}: cut 2 of its documents at 5,000 characters "
                     "(rag.max_document_chars)"]


# -- 4. slow paths -------------------------------------------------------------------------------


def test_markdown_heading_with_a_long_run_of_spaces_is_linear(tmp_path: Path) -> None:
    (tmp_path / "spaces.md").write_text("# a" + " " * 6_000 + "b #\n\nbody\n")
    result = _isolated("""
        docs, seconds, _ = measure(load_file, Path(P["root"]) / "spaces.md")
        done(titles=[d.metadata["title"] for d in docs], seconds=seconds)
    """, timeout=20, root=str(tmp_path))
    assert result["titles"] == ["a" + " " * 6_000 + "b"]
    assert result["seconds"] < 2


def test_long_ref_chain_is_linear(tmp_path: Path) -> None:
    n = 100_000
    schemas: dict[str, Any] = {f"S{i}": {"$ref": f"#/components/schemas/S{i + 1}"}
                               for i in range(n)}
    schemas[f"S{n}"] = {"type": "object", "properties": {"leaf": {"type": "string"}}}
    body = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/S0"}}}}
    (tmp_path / "chain.json").write_text(json.dumps({
        "openapi": "3.0.0", "components": {"schemas": schemas},
        "paths": {"/a": {"post": {"requestBody": body, "responses": {}}}}}))
    result = _isolated("""
        docs, seconds, _ = measure(load_file, Path(P["root"]) / "chain.json")
        done(text=docs[0].page_content, seconds=seconds)
    """, timeout=30, root=str(tmp_path))
    assert "- leaf (string)" in result["text"]
    assert result["seconds"] < 3


def test_html_and_python_and_long_words_are_linear(tmp_path: Path) -> None:
    (tmp_path / "comments.html").write_text("<p>hi</p>" + "<!--" * 50_000)
    (tmp_path / "bogus.html").write_text("<p>hi</p>" + "</x" * 50_000)
    (tmp_path / "many.py").write_text("".join(f"def f{i}(a, b=1):\n    return a\n\n"
                                              for i in range(2_000)))
    result = _isolated("""
        from tooldeck.rag.splitters import split_text
        root = Path(P["root"])
        out = {}
        for name in ("comments.html", "bogus.html", "many.py"):
            docs, seconds, _ = measure(load_file, root / name)
            out[name] = (len(docs), seconds)
        chunks, seconds, _ = measure(split_text, "y" * 10_000_000, 200)
        out["word"] = (len(chunks), seconds)
        done(**out)
    """, timeout=40, root=str(tmp_path))
    assert result["comments.html"][0] == 1 and result["bogus.html"][0] == 1
    assert result["many.py"][0] == 2_000
    assert result["word"][0] > 49_000
    assert all(seconds < 3 for _, seconds in result.values()), result


# -- 7. binary detection, deep JSON, provider failures -----------------------------------------


def test_a_nul_byte_past_the_first_8_kb_marks_the_file_binary(tmp_path: Path) -> None:
    late = tmp_path / "late.txt"
    late.write_bytes(b"a" * 9_010 + b"\x00" + b"b" * 100)
    report = load_paths([late], warn=lambda _: None)
    assert str(late) not in report.documents
    assert report.skipped[str(late)] == "binary data (a NUL byte at offset 9010), not text"


def test_deeply_nested_json_is_reported_as_such(tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    deep_yaml = tmp_path / "deep.yaml"
    deep_yaml.write_text("[" * 100_000 + "]" * 100_000)
    report = load_paths([deep, deep_yaml], warn=lambda _: None)
    assert report.skipped[str(deep)].startswith("JSON nested too deeply to read")
    assert "nested too deeply" in report.skipped[str(deep_yaml)]


class _Unauthorised(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 - the http.server name
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = json.dumps({"error": {"message": "Incorrect API key provided: sk-test-secret-42.",
                                     "type": "invalid_request_error", "code": "invalid_api_key"}})
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def unauthorised() -> Iterator[str]:
    """A loopback OpenAI-compatible server that answers every request with 401."""
    server = HTTPServer(("127.0.0.1", 0), _Unauthorised)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_an_embeddings_provider_failure_is_a_model_error(unauthorised: str) -> None:
    from tooldeck.models.embeddings import embeddings_id, get_embeddings

    embeddings = get_embeddings(EmbeddingsConfig(
        provider="openai", api_key="sk-test-secret-42", base_url=unauthorised,
        kwargs={"max_retries": 0}))
    assert embeddings_id(embeddings).startswith("langchain_openai")
    with pytest.raises(ModelError) as caught:
        embeddings.embed_documents(["hello"])
    message = str(caught.value)
    assert type(caught.value.__cause__).__name__ == "AuthenticationError"
    assert "embeddings provider 'openai' failed: AuthenticationError" in message
    assert "embeddings.api_key" in message and "OPENAI_API_KEY" in message
    assert "base_url" in message and "sk-test-secret-42" not in message
    with pytest.raises(ModelError):
        embeddings.embed_query("hello")


class FailingEmbeddings(Embeddings):
    """A provider class whose backend is down (and whose error repeats its token)."""

    def __init__(self, token: str = "") -> None:
        self.token = token

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        raise RuntimeError(f"backend down for token={self.token}")

    def embed_query(self, text: str) -> list[float]:
        raise ConnectionError(f"backend down for token={self.token}")


def test_a_class_provider_failure_is_a_model_error() -> None:
    from tooldeck.models.embeddings import get_embeddings

    provider = f"{__name__}:FailingEmbeddings"
    embeddings = get_embeddings(EmbeddingsConfig(provider=provider,
                                                 kwargs={"token": "tok-secret-7"}))
    for call in (lambda: embeddings.embed_documents(["x"]), lambda: embeddings.embed_query("x")):
        with pytest.raises(ModelError, match="FailingEmbeddings' failed: .*embeddings.kwargs") as e:
            call()
        assert "tok-secret-7" not in str(e.value) and "token=***" in str(e.value)
    with pytest.raises(ConfigError, match="could not be built"):
        get_embeddings(EmbeddingsConfig(provider=provider, kwargs={"nope": 1}))


def test_skipped_entries_are_counted_for_the_summary(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "a.md").write_text("# A\n\ntext\n")
    (root / "out.md").symlink_to("/etc/hostname")
    os.mkfifo(root / "pipe.md")
    skipped: dict[str, str] = {}
    files = iter_files([root], warn=lambda _: None, skipped=skipped)
    assert [f.name for f in files] == ["a.md"]
    assert {Path(p).name for p in skipped} == {"out.md", "pipe.md"}
