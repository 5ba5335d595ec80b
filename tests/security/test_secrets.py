"""Secrets never reach output, and the working directory never steers the model silently.

Issue 8, item 13 (masking at any depth, config errors, provider errors that echo the key) and
item 14 (settings from files in the working directory are named; sources of every setting).
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import JSONHandler, loopback_server
from tooldeck.cli import main
from tooldeck.config import Source, load_config, load_config_with_sources, masked_dump
from tooldeck.errors import ConfigError
from tooldeck.redact import (
    env_secrets,
    find_secrets,
    is_secret_key,
    mask_secrets,
    remember_secrets,
    scrub,
    scrubbed_output,
)

REPO = Path(__file__).resolve().parents[2]
KEY = "sk-live-8c1f44a7e2b9d03"
NESTED = """\
model:
  provider: openai
  max_tokens: 256
  base_url: https://api.example.test/v1?api_key=qk-77aa91&region=eu
  kwargs:
    openai_proxy: http://bob:hunter2-pw9@proxy.internal:3128
    default_headers:
      Authorization: Bearer sk-nested-4411aa
      X-Api-Token: tok-5678abcd
      Accept: application/json
"""
NESTED_SECRETS = ("sk-nested-4411aa", "tok-5678abcd", "hunter2-pw9", "qk-77aa91", "bob:")
REPLY = "Thought: done\nFinal Answer: 4"


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run in an empty working directory, with no provider key and data in tmp_path."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("TOOLDECK_DATA_DIR", str(tmp_path / "data"))
    return tmp_path


def _forget_after_test(monkeypatch: pytest.MonkeyPatch, *names: str) -> None:
    """Make monkeypatch remove ``names`` from os.environ after the test (./.env sets them)."""
    for name in names:
        monkeypatch.setenv(name, "x")
        monkeypatch.delenv(name)


# -- item 13: masking ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("api_key", True),
        ("X-Api-Token", True),
        ("Authorization", True),
        ("Proxy-Authorization", True),
        ("apiKey", True),
        ("client_secret", True),
        ("db_password", True),
        ("Cookie", True),
        ("session_id", True),
        ("max_tokens", False),
        ("keep_alive_s", False),
        ("base_url", False),
        ("TOKENIZERS_PARALLELISM", False),
    ],
)
def test_secret_key_names(name: str, secret: bool) -> None:
    assert is_secret_key(name) is secret


def test_mask_secrets_at_any_depth_keeps_numbers_like_max_tokens() -> None:
    data = {
        "a": {"b": [{"Authorization": "Bearer xyz123"}], "max_tokens": 256, "token_limit": 9},
        "password": 123456,
        "url": "http://u:p4ss@h:1/x?token=abc123&page=2",
    }
    assert mask_secrets(data) == {
        "a": {"b": [{"Authorization": "***"}], "max_tokens": 256, "token_limit": 9},
        "password": "***",
        "url": "http://***@h:1/x?token=***&page=2",
    }


def test_config_show_masks_nested_headers_proxies_and_query_keys(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = in_tmp / "c.yaml"
    file.write_text(NESTED)
    assert main(["--config", str(file), "config", "show"]) == 0
    out = capsys.readouterr().out
    for secret in NESTED_SECRETS:
        assert secret not in out
    assert "max_tokens: 256" in out and "Accept: application/json" in out
    assert "http://***@proxy.internal:3128" in out and "api_key=***&region=eu" in out
    assert "Authorization: '***'" in out and "X-Api-Token: '***'" in out
    assert main(["--config", str(file), "config", "show", "--sources"]) == 0
    listed = capsys.readouterr().out
    assert all(secret not in listed for secret in NESTED_SECRETS)
    assert 'model.kwargs.default_headers.Authorization: "***"' in listed


def test_every_configured_secret_is_remembered_at_load(tmp_path: Path) -> None:
    file = tmp_path / "c.yaml"
    file.write_text(NESTED + "server:\n  token: srv-token-31337\n")
    load_config(file, environ={"OPENAI_API_KEY": "sk-env-5150"}, read_dotenv=False)
    text = "sk-nested-4411aa tok-5678abcd hunter2-pw9 qk-77aa91 srv-token-31337 sk-env-5150"
    assert scrub(text) == " ".join(["***"] * 6)


def test_plain_words_are_never_remembered_as_secrets() -> None:
    found = find_secrets({"kwargs": {"auth_mode": "basic", "password": "correct-h0rse"}})
    assert found == ["correct-h0rse"]
    env = {"HF_HUB_DISABLE_TOKEN": "true", "PWD": "/work", "X_API_KEY": "abcd", "GH_TOKEN": "x"}
    assert env_secrets(env) == ["abcd"]


@pytest.mark.parametrize(
    "text",
    [
        "model:\n  api_key: 1234567890123\n",
        "model:\n  api_key: [sk-list-998877]\n",
        "server:\n  token: {value: srv-998877aa}\n",
        "embeddings:\n  api_key: 7777123456789\n",
    ],
)
def test_config_error_never_shows_a_secret_value(
    in_tmp: Path, text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    file = in_tmp / "bad.yaml"
    file.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(file, environ={}, read_dotenv=False)
    message = str(err.value)
    assert "value not shown: secret" in message
    for secret in ("1234567890123", "sk-list-998877", "srv-998877aa", "7777123456789"):
        assert secret not in message
    assert main(["--config", str(file), "config", "show"]) == 2
    assert "value not shown: secret" in capsys.readouterr().err


def test_config_error_still_shows_ordinary_values(tmp_path: Path) -> None:
    file = tmp_path / "bad.yaml"
    file.write_text("agent:\n  max_steps: many\n")
    with pytest.raises(ConfigError, match="max_steps: Input should be a valid integer.*'many'"):
        load_config(file, environ={}, read_dotenv=False)


@pytest.fixture
def echoing_openai() -> Iterator[tuple[str, list[str]]]:
    """An OpenAI-compatible server that answers 401 and echoes the key it was sent."""
    seen: list[str] = []

    class Handler(JSONHandler):
        def do_POST(self) -> None:
            self.read_json()
            auth = self.headers.get("Authorization", "")
            seen.append(auth)
            body = json.dumps(
                {
                    "error": {
                        "message": f"Incorrect API key provided: {auth.removeprefix('Bearer ')}",
                        "type": "invalid_request_error",
                        "code": "invalid_api_key",
                    }
                }
            ).encode()
            self.send_response(401)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    with loopback_server(Handler) as url:
        yield f"{url}/v1", seen


@pytest.mark.parametrize("where", ["OPENAI_API_KEY", "TOOLDECK_MODEL__API_KEY"])
@pytest.mark.parametrize("verbose", [[], ["--verbose"]])
def test_provider_error_echoing_the_key_is_scrubbed(
    in_tmp: Path,
    echoing_openai: tuple[str, list[str]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    where: str,
    verbose: list[str],
) -> None:
    url, seen = echoing_openai
    key = f"{KEY}-{where[:6].lower()}"
    monkeypatch.setenv(where, key)
    monkeypatch.setenv("TOOLDECK_MODEL__PROVIDER", "openai")
    monkeypatch.setenv("TOOLDECK_MODEL__BASE_URL", url)
    assert main(["run", *verbose, "What is 2 + 2?"]) == 1
    captured = capsys.readouterr()
    assert seen and seen[0] == f"Bearer {key}"  # the key did go out, and came back
    assert "error: the model call failed" in captured.err and "401" in captured.err
    assert "Incorrect API key provided: ***" in captured.err
    assert key not in captured.err and key not in captured.out
    if verbose:
        assert "Traceback" in captured.err


def test_log_records_and_warnings_are_scrubbed(caplog: pytest.LogCaptureFixture) -> None:
    secret = "sk-logged-0451aa"
    remember_secrets([secret])
    logger = logging.getLogger("tooldeck.test_secrets")
    with warnings.catch_warnings(record=True) as shown, scrubbed_output():
        warnings.simplefilter("always")
        logger.warning("calling with %s", secret)
        logger.warning("proxy http://me:pw-123456@proxy failed")
        try:
            raise RuntimeError(f"rejected {secret}")
        except RuntimeError:
            logger.exception("the call failed")
        warnings.warn(f"key {secret} is old", UserWarning, stacklevel=1)
    assert secret not in caplog.text and "pw-123456" not in caplog.text
    assert "calling with ***" in caplog.text and "RuntimeError: rejected ***" in caplog.text
    assert [str(w.message) for w in shown] == ["key *** is old"]
    logger.warning("after %s", "the block")  # the record factory is restored
    assert logging.getLogRecordFactory() is logging.LogRecord


# -- item 14: the working directory ----------------------------------------------------------


def test_config_yaml_in_the_working_directory_is_named(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (in_tmp / "config.yaml").write_text(
        "model:\n  provider: openai\n  base_url: http://u:pw-6655@127.0.0.1:9/v1\n"
    )
    assert main(["config", "show"]) == 0
    err = capsys.readouterr().err
    assert (
        "note: model.provider=openai, model.base_url=http://***@127.0.0.1:9/v1 "
        "from ./config.yaml (working directory)"
    ) in err
    assert "pw-6655" not in err
    # Named on purpose: no note.
    assert main(["--config", str(in_tmp / "config.yaml"), "config", "show"]) == 0
    assert "note:" not in capsys.readouterr().err


def test_dotenv_that_switches_the_model_is_named_on_run(
    in_tmp: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    seen: list[str] = []

    class Handler(JSONHandler):
        def do_POST(self) -> None:
            body = self.read_json()
            seen.append(self.headers.get("Authorization", ""))
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
                            "message": {"role": "assistant", "content": REPLY},
                        }
                    ],
                }
            )

    names = ("TOOLDECK_MODEL__PROVIDER", "TOOLDECK_MODEL__BASE_URL", "OPENAI_BASE_URL")
    _forget_after_test(monkeypatch, *names)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with loopback_server(Handler) as url:
        (in_tmp / ".env").write_text(
            f"TOOLDECK_MODEL__PROVIDER=openai\nTOOLDECK_MODEL__BASE_URL={url}/v1\n"
            f"OPENAI_BASE_URL={url}/other\n"
        )
        assert main(["run", "--json", "What is 2 + 2?"]) == 0
    captured = capsys.readouterr()
    assert seen == [f"Bearer {KEY}"] and json.loads(captured.out)["answer"] == "4"
    assert (
        f"note: model.provider=openai, model.base_url={url}/v1, OPENAI_BASE_URL={url}/other "
        "from ./.env (working directory)"
    ) in captured.err


def test_defaults_in_the_working_directory_say_nothing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(REPO)  # its config.yaml holds the defaults
    assert main(["config", "show"]) == 0
    assert "note:" not in capsys.readouterr().err


def test_a_flag_takes_the_setting_away_from_the_working_directory(in_tmp: Path) -> None:
    (in_tmp / "config.yaml").write_text("model:\n  provider: openai\n  base_url: http://x:1\n")
    config, sources = load_config_with_sources(
        overrides={"model": {"provider": "local"}}, environ={}, read_dotenv=False
    )
    assert sources.of("model.provider") == Source("flag")
    assert [row[:2] for row in sources.from_working_directory(config)] == [
        ("model.base_url", "http://x:1")
    ]


def test_config_show_sources_names_every_setting(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    file = in_tmp / "c.yaml"
    file.write_text("model:\n  provider: openai\n  kwargs: {headers: {a: 1}}\n")
    monkeypatch.setenv("TOOLDECK_AGENT__MAX_STEPS", "5")
    _forget_after_test(monkeypatch, "TOOLDECK_AGENT__TYPE")
    (in_tmp / ".env").write_text("TOOLDECK_AGENT__TYPE=self-ask\n")
    assert main(["config", "show", "--sources", "--config", str(file)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert f'model.provider: "openai"  # file {file}' in lines
    assert f"model.kwargs.headers.a: 1  # file {file}" in lines
    assert "agent.max_steps: 5  # env TOOLDECK_AGENT__MAX_STEPS" in lines
    assert 'agent.type: "self-ask"  # .env ./.env TOOLDECK_AGENT__TYPE (working directory)' in lines
    assert "model.max_tokens: 256  # default" in lines
    assert "server.token: null  # default" in lines


def test_verbose_names_the_source_of_each_set_setting(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    file = in_tmp / "c.yaml"
    file.write_text("model:\n  api_key: sk-verbose-1234abcd\n")
    monkeypatch.setenv("TOOLDECK_AGENT__MAX_STEPS", "5")
    assert main(["config", "show", "--verbose", "--config", str(file)]) == 0
    err = capsys.readouterr().err
    assert f'setting model.api_key = "***" from file {file}' in err
    assert "setting agent.max_steps = 5 from env TOOLDECK_AGENT__MAX_STEPS" in err
    assert "sk-verbose-1234abcd" not in err


def test_masked_dump_hides_secret_fields_at_any_depth() -> None:
    config = load_config(
        overrides={"server": {"token": "srv-dump-4321"}, "embeddings": {"api_key": "e-key-1"}},
        environ={},
        read_dotenv=False,
    )
    dumped = masked_dump(config)
    assert dumped["server"]["token"] == "***" and dumped["embeddings"]["api_key"] == "***"
    assert dumped["model"]["api_key"] is None


def test_a_model_built_without_load_config_remembers_its_key(tmp_path: Path) -> None:
    from tooldeck.config import ModelConfig
    from tooldeck.models import get_chat_model

    config = ModelConfig(
        provider="openai",
        base_url="http://127.0.0.1:9/v1",
        api_key="sk-direct-7b7b7b",
        kwargs={"default_headers": {"X-Api-Token": "tok-direct-9c9c"}},
    )
    get_chat_model(config, tmp_path)
    assert scrub("sk-direct-7b7b7b / tok-direct-9c9c") == "*** / ***"
