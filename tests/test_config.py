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
    monkeypatch.setenv("TOOLDECK_AGENT__MAX_STEPS", "x")  # so that its absence is restored
    monkeypatch.delenv("TOOLDECK_AGENT__MAX_STEPS")
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


# Discovery: user file, project file, an unrelated ./config.yaml, a named file (issue 9, part 6).

FOREIGN = {
    "server-and-database": "server: {port: 1}\ndatabase: {url: x}\n",
    "docker-compose": "version: '3.8'\nservices:\n  web:\n    image: nginx\n    ports: ['80:80']\n",
    "a list": "- a\n- b\n",
    "not YAML": "key: [unclosed\n",
    "not UTF-8": "caf\xe9: 1\n",
}


@pytest.fixture
def home(tmp_path: Path, monkeypatch: Any) -> Path:
    """A working directory and an XDG config home of their own, both empty."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    return tmp_path


def discover(home: Path) -> Any:
    from tooldeck.config import load_config_with_sources

    env = {"XDG_CONFIG_HOME": str(home / "xdg")}
    return load_config_with_sources(environ=env, read_dotenv=False)


@pytest.mark.parametrize("text", FOREIGN.values(), ids=FOREIGN.keys())
def test_unrelated_config_yaml_in_cwd_is_ignored(home: Path, text: str, caplog: Any) -> None:
    from tooldeck.config import Config

    (home / "work" / "config.yaml").write_bytes(text.encode("latin-1"))
    caplog.set_level("DEBUG", logger="tooldeck")
    cfg, sources = discover(home)
    assert cfg.model_dump(exclude={"data_dir"}) == Config().model_dump(exclude={"data_dir"})
    assert sources.files == []
    assert "ignoring ./config.yaml" in caplog.text
    assert load_config(environ={}, read_dotenv=False).server.port == Config().server.port


def test_tooldeck_looking_config_yaml_is_read(home: Path) -> None:
    (home / "work" / "config.yaml").write_text("agent: {max_steps: 4}\nserver: {port: 8123}\n")
    cfg, sources = discover(home)
    assert cfg.agent.max_steps == 4 and cfg.server.port == 8123
    assert sources.files == ["config.yaml"]
    assert sources.of("agent.max_steps").working_dir


def test_a_tooldeck_looking_config_yaml_with_a_bad_value_is_an_error(home: Path) -> None:
    (home / "work" / "config.yaml").write_text("agent: {max_stepz: 4}\n")
    with pytest.raises(ConfigError, match="agent.max_stepz: unknown key"):
        discover(home)


@pytest.mark.parametrize("name", ["tooldeck.yaml", ".tooldeck.yaml"])
def test_project_file_wins_over_config_yaml(home: Path, name: str) -> None:
    (home / "work" / "config.yaml").write_text("agent: {max_steps: 4}\n")
    (home / "work" / name).write_text("agent: {max_steps: 6}\n")
    cfg, sources = discover(home)
    assert cfg.agent.max_steps == 6 and sources.files == [name]


def test_user_config_dir_is_read(home: Path) -> None:
    user = home / "xdg" / "tooldeck" / "config.yaml"
    user.parent.mkdir(parents=True)
    user.write_text("agent: {max_steps: 5}\n")
    cfg, sources = discover(home)
    assert cfg.agent.max_steps == 5 and sources.files == [str(user)]
    assert not sources.of("agent.max_steps").working_dir


def test_user_config_defaults_to_dot_config(tmp_path: Path, monkeypatch: Any) -> None:
    from tooldeck.config import user_config_file

    monkeypatch.setenv("HOME", str(tmp_path))
    assert user_config_file({}) == tmp_path / ".config" / "tooldeck" / "config.yaml"
    assert user_config_file({"XDG_CONFIG_HOME": "relative"}) == user_config_file({})


def test_order_user_project_dotenv_env_flags(home: Path, monkeypatch: Any) -> None:
    from tooldeck.config import load_config_with_sources

    user = home / "xdg" / "tooldeck" / "config.yaml"
    user.parent.mkdir(parents=True)
    user.write_text(
        "agent: {max_steps: 2}\nmax_question_chars: 10\nlog_level: INFO\n"
        "model: {temperature: 0.1, seed: 1}\n"
    )
    (home / "work" / "tooldeck.yaml").write_text(
        "max_question_chars: 20\nlog_level: ERROR\nmodel: {temperature: 0.2}\n"
    )
    (home / "work" / ".env").write_text(
        "TOOLDECK_LOG_LEVEL=DEBUG\nTOOLDECK_MODEL__TEMPERATURE=0.3\n"
    )
    monkeypatch.setenv("TOOLDECK_LOG_LEVEL", "x")  # so that monkeypatch restores its absence
    monkeypatch.delenv("TOOLDECK_LOG_LEVEL")
    monkeypatch.setenv("TOOLDECK_MODEL__TEMPERATURE", "0.4")
    cfg, sources = load_config_with_sources(overrides={"model": {"seed": 7}})
    assert cfg.agent.max_steps == 2  # user file
    assert cfg.max_question_chars == 20  # project file over user file
    assert cfg.log_level == "DEBUG"  # .env over files
    assert cfg.model.temperature == 0.4  # env var over .env
    assert cfg.model.seed == 7  # flag over everything
    assert sources.files == [str(user), "tooldeck.yaml"]
    kinds = [sources.of(key).kind for key in
             ("agent.max_steps", "max_question_chars", "log_level", "model.temperature",
              "model.seed")]
    assert kinds == ["file", "file", ".env", "env", "flag"]
    assert sources.of("max_question_chars").working_dir
    assert not sources.of("agent.max_steps").working_dir


@pytest.mark.parametrize("how", ["argument", "TOOLDECK_CONFIG"])
def test_named_file_replaces_user_and_project_files(
    home: Path, monkeypatch: Any, how: str
) -> None:
    from tooldeck.config import load_config_with_sources

    user = home / "xdg" / "tooldeck" / "config.yaml"
    user.parent.mkdir(parents=True)
    user.write_text("agent: {max_steps: 2}\n")
    (home / "work" / "tooldeck.yaml").write_text("max_question_chars: 20\n")
    named = home / "named.yaml"
    named.write_text("model: {seed: 3}\n")
    env = {"XDG_CONFIG_HOME": str(home / "xdg")}
    if how == "TOOLDECK_CONFIG":
        monkeypatch.setenv("TOOLDECK_CONFIG", str(named))
        cfg, sources = load_config_with_sources(environ=env, read_dotenv=False)
    else:
        cfg, sources = load_config_with_sources(named, environ=env, read_dotenv=False)
    assert cfg.model.seed == 3 and sources.files == [str(named)]
    assert cfg.agent.max_steps != 2 and cfg.max_question_chars != 20
    env_wins = load_config(named, environ={**env, "TOOLDECK_MODEL__SEED": "4"}, read_dotenv=False)
    assert env_wins.model.seed == 4  # env vars still win over a named file
