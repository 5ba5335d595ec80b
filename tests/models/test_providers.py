"""Remote providers through the factory, against a loopback OpenAI-compatible server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers import JSONHandler, loopback_server
from tooldeck.config import ModelConfig, load_config
from tooldeck.errors import ConfigError, MissingAPIKeyError
from tooldeck.models import get_chat_model
from tooldeck.pipeline import build_agent

REPLIES = [
    'Thought: add\nAction: calculator\nAction Input: {"expression": "2 + 2"}',
    "Thought: done\nFinal Answer: 4",
]


@pytest.fixture
def openai_server() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    seen: list[dict[str, Any]] = []

    class Handler(JSONHandler):
        def do_POST(self) -> None:
            body = self.read_json()
            seen.append({"path": self.path, "auth": self.headers.get("Authorization"), **body})
            reply = REPLIES[min(len(seen) - 1, len(REPLIES) - 1)]
            self.send_json(
                {
                    "id": "c",
                    "object": "chat.completion",
                    "created": 0,
                    "model": body["model"],
                    "choices": [
                        {
                            "index": 0,
                            "finish_reason": "stop",
                            "message": {"role": "assistant", "content": reply},
                        }
                    ],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                }
            )

    with loopback_server(Handler) as url:
        yield f"{url}/v1", seen


def test_openai_compatible_server_runs_the_react_agent(openai_server: Any, tmp_path: Any) -> None:
    url, seen = openai_server
    config = load_config(
        overrides={
            "data_dir": str(tmp_path),
            "model": {
                "provider": "openai",
                "name": "test-model",
                "base_url": url,
                "api_key": "sk-test",
            },
        },
        environ={},
        read_dotenv=False,
    )
    result = build_agent(config).invoke("What is 2 + 2?")
    assert result["answer"] == "4" and result["steps"][0]["observation"] == "4"
    assert result["model"] == "openai:test-model"
    assert seen[0]["path"] == "/v1/chat/completions" and seen[0]["auth"] == "Bearer sk-test"
    assert seen[0]["stop"] == ["\nObservation:", "Observation:"] and "grammar" not in seen[0]


def test_missing_key_names_the_env_var(monkeypatch: Any, tmp_path: Any) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(MissingAPIKeyError, match="OPENAI_API_KEY"):
        get_chat_model(ModelConfig(provider="openai"), tmp_path)


def test_ollama_model_is_built(tmp_path: Any) -> None:
    model = get_chat_model(
        ModelConfig(provider="ollama", name="llama3.2", base_url="http://127.0.0.1:9"), tmp_path
    )
    assert type(model).__name__ == "ChatOllama"


def test_module_class_must_be_a_chat_model(tmp_path: Any) -> None:
    with pytest.raises(ConfigError, match="not a LangChain BaseChatModel"):
        get_chat_model(ModelConfig(provider="json:JSONDecoder"), tmp_path)
    with pytest.raises(ConfigError, match="cannot be imported"):
        get_chat_model(ModelConfig(provider="no_such_mod:Chat"), tmp_path)


def test_grammar_on_with_a_remote_model_is_a_config_error(
    openai_server: Any, tmp_path: Any
) -> None:
    url, _ = openai_server
    config = load_config(
        overrides={
            "data_dir": str(tmp_path),
            "agent": {"grammar": "on"},
            "model": {"provider": "openai", "base_url": url, "api_key": "k"},
        },
        environ={},
        read_dotenv=False,
    )
    with pytest.raises(ConfigError, match="does not support grammars"):
        build_agent(config)


@pytest.fixture
def ollama_server() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    seen: list[dict[str, Any]] = []

    class Handler(JSONHandler):
        def do_POST(self) -> None:
            body = self.read_json()
            seen.append({"path": self.path, **body})
            reply = REPLIES[min(len(seen) - 1, len(REPLIES) - 1)]
            line = {
                "model": body["model"],
                "created_at": "2026-01-01T00:00:00Z",
                "message": {"role": "assistant", "content": reply},
                "done": True,
                "done_reason": "stop",
            }
            self.send_json(line, content_type="application/x-ndjson", suffix="\n")

    with loopback_server(Handler) as url:
        yield url, seen


def test_ollama_server_runs_the_react_agent(ollama_server: Any, tmp_path: Any) -> None:
    url, seen = ollama_server
    config = load_config(
        overrides={
            "data_dir": str(tmp_path),
            "model": {"provider": "ollama", "name": "llama3.2", "base_url": url},
        },
        environ={},
        read_dotenv=False,
    )
    result = build_agent(config).invoke("What is 2 + 2?")
    assert result["answer"] == "4" and result["steps"][0]["observation"] == "4"
    assert seen[0]["path"] == "/api/chat" and seen[0]["model"] == "llama3.2"


def _refusing_port() -> int:
    """A loopback port nothing listens on (bound, then closed)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.mark.parametrize(
    ("provider", "shown"),
    [
        ("openai", "http://***@127.0.0.1:{port}/v1/chat/completions"),
        ("ollama", "http://127.0.0.1:{port}/api/chat"),  # its client drops the credentials
    ],
)
def test_refused_connection_names_the_url_and_the_settings(
    tmp_path: Any, provider: str, shown: str
) -> None:
    from tooldeck.errors import ModelError

    port = _refusing_port()
    base = f"http://user:s3cret-pass@127.0.0.1:{port}" + ("/v1" if provider == "openai" else "")
    config = load_config(
        overrides={
            "data_dir": str(tmp_path),
            "model": {"provider": provider, "name": "m", "base_url": base, "api_key": "k"},
        },
        environ={},
        read_dotenv=False,
    )
    with pytest.raises(ModelError) as err:
        build_agent(config).invoke("What is 2 + 2?")
    message = str(err.value)
    assert f"cannot connect to {shown.format(port=port)} (" in message
    assert "Connection refused" in message and "s3cret-pass" not in message
    assert all(name in message for name in ("model.base_url", "OPENAI_BASE_URL", "OLLAMA_HOST"))
