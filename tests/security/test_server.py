"""The HTTP server's request rules: Host, Origin, token, body size, error bodies, docs, startup.

Issue 8 items 8-10. Connection-level limits (slow and idle connections, header size on the
wire, the connection cap, the run pool under load) are in ``test_server_net.py``.
"""

from __future__ import annotations

import re
import secrets
import shutil
import socket
from pathlib import Path
from typing import Any

import pytest

from tooldeck.errors import ContextOverflowError, PortInUseError, ServeError
from tooldeck.rag import open_index

REPO = Path(__file__).resolve().parent.parent.parent
API = REPO / "tests" / "fixtures" / "api"
TOKEN = "t0ken-" + "x" * 26


@pytest.fixture(scope="module")
def built_indexes(tmp_path_factory: Any) -> Path:
    """Indexes "api" and "private-notes" over the API fixture, built once for the module."""
    from tooldeck.config import load_config

    data = tmp_path_factory.mktemp("server") / "data"
    config = load_config(REPO / "config.yaml", {"data_dir": str(data)}, environ={},
                         read_dotenv=False)
    index = open_index(config, "api", create=True)
    index.update([API], config.rag.index("api"))
    index.close()
    shutil.copytree(data / "indexes" / "api", data / "indexes" / "private-notes", symlinks=True)
    return data / "indexes"


@pytest.fixture
def app_config(config: Any, built_indexes: Path) -> Any:
    shutil.copytree(built_indexes, Path(config.data_dir) / "indexes", symlinks=True)
    config.rag.default_index = "api"
    return config


def _client(config: Any, base_url: str = "http://localhost", **kwargs: Any) -> Any:
    from fastapi.testclient import TestClient

    from tooldeck.server.app import create_app

    return TestClient(create_app(config, use_llm=False, **kwargs), base_url=base_url)


class _Agent:
    """An agent that answers at once, or raises what it was given."""

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error

    def invoke(self, question: str) -> dict[str, Any]:
        if self.error is not None:
            raise self.error
        return {"answer": f"echo {len(question)}", "steps": [], "stopped_by": "final_answer"}


def _fake_agent(monkeypatch: Any, agent: _Agent) -> None:
    monkeypatch.setattr("tooldeck.pipeline.build_agent", lambda config: agent)


REQUESTS = [
    ("GET", "/", None),
    ("GET", "/healthz", None),
    ("GET", "/docs", None),
    ("POST", "/rest_api", {"instruction": "create a session"}),
    ("POST", "/v1/ask", {"question": "create a session", "no_llm": True}),
    ("POST", "/v1/run", {"question": "hi"}),
]


# -- item 8: Host, Origin, token ---------------------------------------------------------------
@pytest.mark.parametrize(("method", "path", "body"), REQUESTS)
def test_foreign_host_is_refused_everywhere(app_config: Any, monkeypatch: Any, method: str,
                                            path: str, body: Any) -> None:
    _fake_agent(monkeypatch, _Agent())
    client = _client(app_config)
    for host in ("evil.example.com", "evil.example.com:8000", "", "localhost@evil.example"):
        r = client.request(method, path, json=body, headers={"host": host})
        assert r.status_code == 421, (host, r.text)
        assert r.json()["error"] == "MisdirectedRequest"
        assert "indexes" not in r.text and "api" not in r.json()["message"]
    for host in ("localhost", "localhost:8000", "127.0.0.1:8000", "[::1]:8000", "LOCALHOST"):
        r = client.request(method, path, json=body, headers={"host": host})
        assert r.status_code == 200, (host, r.text)


def test_allowed_hosts_replace_the_loopback_names(app_config: Any) -> None:
    app_config.server.allowed_hosts = ["api.example.com", "*.corp.example"]
    client = _client(app_config)
    assert client.get("/healthz", headers={"host": "api.example.com"}).status_code == 200
    assert client.get("/healthz", headers={"host": "a.corp.example:80"}).status_code == 200
    assert client.get("/healthz", headers={"host": "corp.example.evil"}).status_code == 421
    assert client.get("/healthz", headers={"host": "localhost"}).status_code == 421


def test_the_bound_address_is_accepted_by_default(app_config: Any) -> None:
    client = _client(app_config, bind_host="192.0.2.7")
    assert client.get("/healthz", headers={"host": "192.0.2.7:8000"}).status_code == 200
    assert client.get("/healthz", headers={"host": "192.0.2.8:8000"}).status_code == 421
    wildcard = _client(app_config, bind_host="0.0.0.0")  # noqa: S104
    assert wildcard.get("/healthz", headers={"host": "0.0.0.0:8000"}).status_code == 421  # noqa: S104


def test_origin_is_checked_on_state_changing_requests(app_config: Any) -> None:
    app_config.server.allowed_origins = ["https://tools.example.com/"]
    client = _client(app_config)
    body = {"instruction": "create a session"}
    assert client.post("/rest_api", json=body).status_code == 200  # no Origin: curl, scripts
    for ok in ("http://localhost", "https://tools.example.com"):
        assert client.post("/rest_api", json=body, headers={"origin": ok}).status_code == 200
    for bad in ("http://evil.example.com", "null", "http://localhost:9999", "https://localhost"):
        r = client.post("/rest_api", json=body, headers={"origin": bad})
        assert r.status_code == 403 and r.json()["error"] == "Forbidden", bad
    # a read is not state-changing (the browser keeps the answer from a foreign page anyway)
    assert client.get("/healthz", headers={"origin": "http://evil.example.com"}).status_code == 200


def test_token_is_required_when_set(app_config: Any, monkeypatch: Any) -> None:
    _fake_agent(monkeypatch, _Agent())
    app_config.server.token = TOKEN
    client = _client(app_config)
    auth = {"authorization": f"Bearer {TOKEN}"}
    for method, path, body in REQUESTS[3:]:
        for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": TOKEN},
                        {"authorization": f"Basic {TOKEN}"}):
            r = client.request(method, path, json=body, headers=headers)
            assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer", path
        assert client.request(method, path, json=body, headers=auth).status_code == 200
    assert client.post("/nope", headers={}).status_code == 401  # unknown paths too
    app_config.server.token = "jeton-secret-\u00e9t\u00e9-" + "y" * 8  # not ASCII
    utf8 = _client(app_config)
    header = ("Bearer " + app_config.server.token.get_secret_value()).encode()  # UTF-8 bytes
    assert utf8.get("/healthz", headers={"authorization": header}).json()["indexes"]
    # the page, its files, the docs and the schema are public; /healthz lists nothing
    for path in ("/", "/static/app.js", "/docs", "/openapi.json"):
        assert client.get(path).status_code == 200, path
    assert client.get("/healthz").json() == {"status": "ok", "token_required": True}
    listed = client.get("/healthz", headers=auth).json()
    assert listed["indexes"] == ["api", "private-notes"]


def test_the_page_can_send_the_token(app_config: Any) -> None:
    client = _client(app_config)
    page = client.get("/").text
    script = client.get("/static/app.js").text
    assert 'id="token"' in page and 'src="/static/app.js"' in page
    assert "sessionStorage" in script and '"Authorization": "Bearer "' in script


def test_public_address_needs_a_token() -> None:
    from tooldeck.server.serve import check_exposure

    for host in ("0.0.0.0", "::", "192.0.2.7", "example.com"):  # noqa: S104
        with pytest.raises(ServeError, match="TOOLDECK_SERVER__TOKEN"):
            check_exposure(host, None)
        check_exposure(host, TOKEN)
    for host in ("127.0.0.1", "localhost", "::1", "127.0.0.2"):
        check_exposure(host, None)
    with pytest.raises(ServeError, match="shorter than 16"):
        check_exposure("127.0.0.1", "short")


def test_serve_exit_codes(monkeypatch: Any, tmp_path: Path, capsys: Any) -> None:
    from tooldeck.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TOOLDECK_DATA_DIR", str(tmp_path / "data"))
    assert main(["serve", "--host", "0.0.0.0"]) == 2  # noqa: S104
    assert "TOOLDECK_SERVER__TOKEN" in capsys.readouterr().err
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["serve", "--port", str(port)]) == 3
    assert f"port {port} on 127.0.0.1 is in use" in capsys.readouterr().err


def test_open_listener_errors() -> None:
    from tooldeck.server.serve import open_listener

    listener = open_listener("127.0.0.1", 0)
    try:
        port = listener.sock.getsockname()[1]
        assert listener.url == f"http://127.0.0.1:{port}"
        with pytest.raises(PortInUseError) as caught:
            open_listener("127.0.0.1", port)
        assert caught.value.exit_code == 3
    finally:
        listener.sock.close()
    with pytest.raises(ServeError, match="cannot listen on 192.0.2.1"):
        open_listener("192.0.2.1", 0)  # TEST-NET: not an address of this machine


# -- item 9: body size -------------------------------------------------------------------------
def test_body_over_the_cap_is_413(app_config: Any) -> None:
    app_config.server.max_body_bytes = 1024
    client = _client(app_config)
    big = {"instruction": "x" * 2000}
    r = client.post("/rest_api", json=big)
    assert r.status_code == 413 and r.json()["error"] in ("RequestEntityTooLarge",
                                                           "ContentTooLarge")
    assert "1024 bytes" in r.json()["message"] and r.headers["connection"] == "close"

    def chunks() -> Any:  # no Content-Length: counted as it arrives
        yield b'{"instruction": "'
        for _ in range(20):
            yield b"x" * 100
        yield b'"}'

    r = client.post("/rest_api", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.headers["connection"] == "close"
    assert client.post("/rest_api", json={"instruction": "x" * 900}).status_code == 200


# -- item 10: error bodies ---------------------------------------------------------------------
def test_lone_surrogate_is_422(app_config: Any) -> None:
    client = _client(app_config)
    for path, field in (("/rest_api", "instruction"), ("/v1/ask", "question"),
                        ("/v1/run", "question")):
        raw = b'{"' + field.encode() + b'": "a\\ud800b", "index": "api"}'
        r = client.post(path, content=raw, headers={"content-type": "application/json"})
        assert r.status_code == 422, r.text
        assert r.json()["error"] == "ValidationError" and field in r.json()["message"]
    r = client.post("/v1/ask", content=b'{"question": "hi", "index": "\\udfff"}',
                    headers={"content-type": "application/json"})
    assert r.status_code == 422


def test_unknown_index_names_no_other_index_nor_path(app_config: Any) -> None:
    client = _client(app_config)
    r = client.post("/v1/ask", json={"question": "x", "index": "nope"})
    assert r.status_code == 404
    assert r.json() == {"error": "IndexNotFoundError", "message": "no index named 'nope'"}
    bad = client.post("/v1/ask", json={"question": "x", "index": "../etc"})
    assert bad.status_code == 400 and "private-notes" not in bad.text


def test_no_error_body_names_the_data_folder(app_config: Any, monkeypatch: Any) -> None:
    from tooldeck.errors import IndexCorruptedError

    where = Path(app_config.data_dir) / "indexes" / "api"

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise IndexCorruptedError(f"cannot read {where / 'index.sqlite'} nor {Path.home()}/x")

    monkeypatch.setattr("tooldeck.rag.answer.ask", broken)
    r = _client(app_config).post("/v1/ask", json={"question": "x"})
    assert r.status_code == 500 and r.json()["error"] == "IndexCorruptedError"
    assert str(app_config.data_dir) not in r.text and "<data_dir>/indexes/api" in r.text
    assert str(Path.home()) not in r.text


def test_error_bodies_are_scrubbed(app_config: Any) -> None:
    from tooldeck.redact import remember_secrets

    secret = "idx" + secrets.token_hex(8)
    remember_secrets([secret])
    r = _client(app_config).post("/v1/ask", json={"question": "x", "index": secret})
    assert r.status_code == 404 and secret not in r.text and "***" in r.text


def test_every_error_is_json_with_error_and_message(app_config: Any) -> None:
    client = _client(app_config)
    for r in (client.get("/missing"), client.get("/rest_api"), client.post("/v1/ask", json={}),
              client.post("/v1/ask", content=b"{", headers={"content-type": "application/json"}),
              client.get("/static/../app.py")):
        assert r.status_code in (404, 405, 422), r.text
        assert set(r.json()) == {"error", "message"}, r.text


def test_long_question_is_413_naming_the_limit(app_config: Any, monkeypatch: Any) -> None:
    _fake_agent(monkeypatch, _Agent())
    app_config.max_question_chars = 10_000
    client = _client(app_config)
    for path in ("/v1/run", "/v1/ask"):
        r = client.post(path, json={"question": "x" * 20_000})
        assert r.status_code == 413, r.text
        assert "max_question_chars" in r.json()["message"] and "10,000" in r.json()["message"]
    assert client.post("/v1/run", json={"question": "x" * 9_000}).json()["answer"] == "echo 9000"


def test_question_over_the_model_context_is_413(app_config: Any, monkeypatch: Any) -> None:
    overflow = ContextOverflowError("llama.cpp refused the request: the request exceeds the "
                                    "available context size; raise model.n_ctx")
    _fake_agent(monkeypatch, _Agent(overflow))
    r = _client(app_config).post("/v1/run", json={"question": "x" * 20_000})
    assert r.status_code == 413 and r.json()["error"] == "ContextOverflowError"
    assert "max_question_chars" in r.json()["message"]


def test_docs_work_offline(app_config: Any) -> None:
    client = _client(app_config)
    docs = client.get("/docs")
    assert docs.status_code == 200 and docs.headers["content-type"].startswith("text/html")
    linked = re.findall(r'(?:src|href)="([^"]+)"', docs.text)
    assert "/static/docs.js" in linked
    for text in [docs.text] + [client.get(u).text for u in linked if u.startswith("/static/")]:
        assert not re.search(r"(?:https?:)?//[a-z0-9]", text, re.I), "external URL in docs"
    assert "/v1/run" in client.get("/openapi.json").json()["paths"]
    assert client.get("/redoc").status_code == 404


def test_security_headers(app_config: Any) -> None:
    r = _client(app_config).get("/")
    assert r.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert r.headers["x-content-type-options"] == "nosniff"


# -- rebuilt indexes ---------------------------------------------------------------------------
def test_a_rebuilt_index_is_reopened(monkeypatch: Any, tmp_path: Path) -> None:
    from tooldeck.server.shared import IndexCache

    generation = {"a": "1"}
    monkeypatch.setattr("tooldeck.rag.index.index_generation",
                        lambda data_dir, name: generation.get(name))
    closed: list[int] = []

    class Index:
        count = 0

        def __init__(self, name: str) -> None:
            Index.count += 1
            self.n = Index.count

        def close(self) -> None:
            closed.append(self.n)

    cache = IndexCache(tmp_path, Index)
    with cache.lease("a") as first:
        with cache.lease("a") as again:
            assert again is first
        generation["a"] = "2"  # rebuilt while a request still uses the old one
        with cache.lease("a") as second:
            assert second is not first and closed == []
    assert closed == [1]  # the old one closes when its last user is done
    del generation["a"]
    with pytest.raises(Exception, match="^no index named 'a'$"):
        with cache.lease("a"):
            pass
    cache.close()
    assert closed == [1, 2]


def test_the_server_sees_a_rebuilt_index(app_config: Any) -> None:
    client = _client(app_config)
    question = {"question": "how are requests rate limited?", "no_llm": True}
    before = client.post("/v1/ask", json=question).json()
    assert Path(before["matches"][0]["source"]).name == "guide.md"
    index = open_index(app_config, "api")
    index.update([API / "openapi.json"], app_config.rag.index("api"), rebuild=True)
    index.close()
    after = client.post("/v1/ask", json=question).json()
    assert after["matches"]
    assert {Path(m["source"]).name for m in after["matches"]} == {"openapi.json"}
