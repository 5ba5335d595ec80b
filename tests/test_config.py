"""Configuration: defaults, file, env vars, .env, masking, and clear errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tooldeck.config import load_config, masked_dump
from tooldeck.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent


def load(path: Path | None = None, env: dict[str, str] | None = None, **over: Any) -> Any:
    return load_config(path or REPO / "config.yaml", over, environ=env or {}, read_dotenv=False)


def test_repo_config_equals_defaults() -> None:
    from tooldeck.config import Config

    cfg = load()
    default = Config()
    assert cfg.model_dump(exclude={"data_dir"}) == default.model_dump(exclude={"data_dir"})


def test_env_vars_override_file(tmp_path: Path) -> None:
    file = tmp_path / "c.yaml"
    file.write_text("agent:\n  max_steps: 5\ntools: [calculator]\n")
    cfg = load(
        file,
        {
            "TOOLDECK_AGENT__MAX_STEPS": "7",
            "TOOLDECK_TOOLS": "calculator, echo",
            "TOOLDECK_MODEL__TEMPERATURE": "0.5",
        },
    )
    assert cfg.agent.max_steps == 7 and cfg.tools == ["calculator", "echo"]
    assert cfg.model.temperature == 0.5
    assert load(file, {}, agent={"max_steps": 2}).agent.max_steps == 2


def test_dotenv_is_read(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("TOOLDECK_AGENT__MAX_STEPS=3\n")
    monkeypatch.delenv("TOOLDECK_AGENT__MAX_STEPS", raising=False)
    cfg = load_config(REPO / "config.yaml")
    assert cfg.agent.max_steps == 3


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "agent:\n  max_stepz: 3\n",
            "agent.max_stepz: unknown key; allowed keys here: type, max_steps",
        ),
        ("agent:\n  max_steps: many\n", "agent.max_steps: Input should be a valid integer"),
        (
            "agent:\n  type: planner\n",
            "agent.type: Input should be 'react', 'self-ask' or 'tool-calling'",
        ),
        (
            "model:\n  provider: gpt\n",
            "unknown model provider 'gpt'; allowed: local, gguf, openai, ollama",
        ),
        ("colour: blue\n", "colour: unknown key; allowed keys here: data_dir, tools"),
        ("- a\n- b\n", "must hold a mapping"),
        ("agent: [unclosed\n", "is not valid YAML at line"),
    ],
)
def test_bad_files(tmp_path: Path, text: str, message: str) -> None:
    file = tmp_path / "bad.yaml"
    file.write_text(text)
    with pytest.raises(ConfigError) as err:
        load(file)
    assert message in str(err.value)


def test_not_utf8(tmp_path: Path) -> None:
    file = tmp_path / "latin1.yaml"
    file.write_bytes("tools: [caf\xe9]\n".encode("latin-1"))
    with pytest.raises(ConfigError, match="is not UTF-8 text"):
        load(file)


def test_missing_explicit_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load(tmp_path / "nope.yaml")


def test_module_class_provider_is_accepted() -> None:
    assert load(model={"provider": "my_pkg.models:MyChat"}).model.provider == "my_pkg.models:MyChat"


def test_secrets_are_masked() -> None:
    cfg = load(model={"api_key": "sk-secret-123", "kwargs": {"access_token": "t0k"}})
    dumped = masked_dump(cfg)
    assert (
        dumped["model"]["api_key"] == "***" and dumped["model"]["kwargs"]["access_token"] == "***"
    )
    assert "sk-secret-123" not in repr(cfg) and "sk-secret-123" not in str(dumped)
