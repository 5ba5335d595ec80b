"""The command line as a user runs it: exit codes and messages, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tooldeck.cli import main, model_override

REPO = Path(__file__).resolve().parent.parent


def cli(
    *args: str,
    cwd: Path = REPO,
    env: dict[str, str] | None = None,
    timeout: float = 300,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "tooldeck", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=full,
        timeout=timeout,
        input=stdin,
    )


def no_traceback(out: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in out.stderr and "Traceback" not in out.stdout


def test_help_is_instant_and_light() -> None:
    code = (
        "import sys, tooldeck.cli as c\n"
        "try:\n c.main(['--help'])\nexcept SystemExit: pass\n"
        "heavy = [m for m in ('langchain_core', 'xllamacpp', 'rich', 'pydantic', 'yaml')"
        " if m in sys.modules]\nprint(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().endswith("[]"), out.stdout


def test_model_flag_parsing() -> None:
    assert model_override("local") == {"provider": "local", "name": None}
    assert model_override("openai:gpt-4o-mini") == {"provider": "openai", "name": "gpt-4o-mini"}
    assert model_override("gguf:/m/x.gguf") == {"provider": "gguf", "name": "/m/x.gguf"}
    assert model_override("qwen2.5-coder-1.5b") == {
        "provider": "gguf",
        "name": "qwen2.5-coder-1.5b",
    }
    assert model_override("pkg.mod:Chat") == {"provider": "pkg.mod:Chat"}


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["run", ""], 2, "the question is empty"),
        (["run", "--agent", "planner", "hi"], 2, "agent.type: Input should be 'react'"),
        (["run", "--tools", "calculator,nope", "hi"], 2, "config key tools: unknown tool 'nope'"),
        (["run", "--agent", "tool-calling", "hi"], 2, "needs a model with native tool calling"),
        (
            ["run", "--model", "gguf:/nonexistent/model.gguf", "hi"],
            2,
            "model file /nonexistent/model.gguf not found",
        ),
        (
            ["run", "--model", "not-a-model", "hi"],
            2,
            "unknown model 'not-a-model'; known models: ",  # the catalogue's names follow
        ),
        (["run", "--model", "openai:gpt-4o-mini", "hi"], 2, "set OPENAI_API_KEY"),
        (["tools", "run", "calculator", "{bad json"], 2, "not valid JSON"),
        (["tools", "run", "nope", "{}"], 2, "unknown tool 'nope'"),
        (["tools", "run", "calculator", '{"expression": "1/0"}'], 1, "division by zero"),
        (["--config", "/nonexistent.yaml", "config", "show"], 2, "not found"),
        (["config", "show", "--config", "/nonexistent.yaml"], 2, "not found"),
        (["bogus-command"], 2, "invalid choice"),
    ],
)
def test_errors(args: list[str], code: int, message: str) -> None:
    out = cli(*args, env={"OPENAI_API_KEY": ""})
    assert out.returncode == code, out.stderr
    assert message in out.stderr
    no_traceback(out)


def test_self_ask_names_an_unknown_search_tool() -> None:
    out = cli("run", "--agent", "self-ask", "hi", env={"TOOLDECK_AGENT__SEARCH_TOOL": "nope"})
    assert out.returncode == 2, out.stderr
    assert "agent.search_tool 'nope' is not a registered tool" in out.stderr
    assert "calculator" not in out.stderr  # only search tools are suggested
    no_traceback(out)


def test_question_of_one_megabyte(tmp_path: Path) -> None:
    out = cli("run", "-", stdin="x" * 1_000_000)
    assert out.returncode == 2 and "the limit is 100,000" in out.stderr
    no_traceback(out)


def test_bad_config_files(tmp_path: Path) -> None:
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(b"tools: [caf\xe9]\n")
    out = cli("--config", str(latin), "config", "show")
    assert out.returncode == 2 and "not UTF-8" in out.stderr
    broken = tmp_path / "broken.yaml"
    broken.write_text("agent: {max_steps: [\n")
    out = cli("--config", str(broken), "config", "show")
    assert out.returncode == 2 and "not valid YAML" in out.stderr
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("agent:\n  max_stepz: 1\n")
    out = cli("--config", str(unknown), "run", "hi")
    assert out.returncode == 2 and "agent.max_stepz: unknown key" in out.stderr
    no_traceback(out)


def test_truncated_and_fake_gguf(tmp_path: Path) -> None:
    from tooldeck.models.local import embedded_model_path

    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(embedded_model_path().read_bytes()[:3_000_000])
    out = cli("run", "--model", f"gguf:{truncated}", "What is 2 + 2?", timeout=120)
    assert (
        out.returncode == 2 and "could not be loaded" in out.stderr and "re-download" in out.stderr
    )
    no_traceback(out)
    fake = tmp_path / "fake.gguf"
    fake.write_bytes(b"not a model" * 200)
    out = cli("run", "--model", f"gguf:{fake}", "What is 2 + 2?")
    assert out.returncode == 2 and "is not a GGUF file" in out.stderr


def test_config_show_masks_secrets(tmp_path: Path) -> None:
    file = tmp_path / "c.yaml"
    file.write_text("model:\n  provider: openai\n  api_key: sk-very-secret\n")
    out = cli("--config", str(file), "config", "show")
    assert (
        out.returncode == 0
        and "sk-very-secret" not in out.stdout
        and "api_key: '***'" in out.stdout
    )


def test_tools_commands() -> None:
    out = cli("tools", "list")
    assert out.returncode == 0 and "calculator" in out.stdout and "builtin" in out.stdout
    out = cli("tools", "run", "calculator", '{"expression": "2 ** 10"}')
    assert out.returncode == 0 and out.stdout.strip() == "1024"


def test_tools_list_json(tmp_path: Path) -> None:
    out = cli("tools", "list", "--json", env={"TOOLDECK_DATA_DIR": str(tmp_path)})
    assert out.returncode == 0, out.stderr
    tools = {tool["name"]: tool for tool in json.loads(out.stdout)}
    calculator = tools["calculator"]
    assert set(calculator) == {
        "name", "plugin", "description", "availability", "kind", "args_schema"
    }  # fmt: skip
    assert calculator["plugin"] == "builtin" and calculator["availability"] == "available"
    assert calculator["args_schema"]["required"] == ["expression"]
    assert tools["retriever"]["availability"] == "needs index: run `tooldeck index docs PATH`"


def test_tools_list_wraps_long_names(capsys: Any) -> None:
    from langchain_core.tools import tool

    from tooldeck.console import print_tools
    from tooldeck.tools.registry import ToolRegistry

    name = "a_tool_name_of_sixty_four_characters_" + "x" * 27

    @tool(name)
    def long_named(text: str) -> str:
        """A tool whose name is as long as names may be.

        Args:
            text: anything
        """
        return text

    registry = ToolRegistry()
    registry.register(long_named, plugin="plugin", requires_env=["A_VERY_LONG_ENV_VAR_NAME_XYZ"])
    print_tools(registry)
    lines = capsys.readouterr().out.splitlines()
    boundary = lines[0].index("plugin")
    assert "…" not in "".join(lines)
    assert "".join(line[:boundary].strip() for line in lines[1:]) == name  # wrapped, whole
    reason = "".join(line[lines[0].index("availability") :].strip() for line in lines[1:])
    assert reason.replace(" ", "") == "needsA_VERY_LONG_ENV_VAR_NAME_XYZ"


def test_models_list(tmp_path: Path) -> None:
    out = cli("models", "list", env={"TOOLDECK_DATA_DIR": str(tmp_path)})
    assert out.returncode == 0 and "qwen2.5-coder-1.5b" in out.stdout and "embedded" in out.stdout


def _scripted_calculator_run(monkeypatch: Any, data_dir: Path) -> None:
    """Env for an in-process run: a scripted model that calls calculator(6*7), then says 42."""
    monkeypatch.setenv("TOOLDECK_MODEL__PROVIDER", "tooldeck.testing:ScriptedChatModel")
    monkeypatch.setenv(
        "TOOLDECK_MODEL__KWARGS",
        '{"responses": ["Thought: t\\nAction: calculator\\nAction Input: '
        '{\\"expression\\": \\"6*7\\"}", "Thought: ok\\nFinal Answer: 42"]}',
    )
    monkeypatch.setenv("TOOLDECK_DATA_DIR", str(data_dir))


def test_in_process_main_with_scripted_model(tmp_path: Path, monkeypatch: Any, capsys: Any) -> None:
    _scripted_calculator_run(monkeypatch, tmp_path)
    assert main(["run", "--json", "What is 6 * 7?"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["answer"] == "42" and data["steps"][0]["observation"] == "42"
    assert set(data) == {"answer", "steps", "stopped_by", "model", "elapsed_s"}


def test_limit_stop_exits_1(tmp_path: Path, monkeypatch: Any, capsys: Any) -> None:
    monkeypatch.setenv("TOOLDECK_MODEL__PROVIDER", "tooldeck.testing:ScriptedChatModel")
    monkeypatch.setenv("TOOLDECK_MODEL__KWARGS", '{"responses": ["rambling"], "repeat_last": true}')
    monkeypatch.setenv("TOOLDECK_AGENT__MAX_STEPS", "2")
    assert main(["run", "loop forever"]) == 1
    assert "step limit (2 steps" in capsys.readouterr().out


def test_chat_repl_keeps_history(tmp_path: Path) -> None:
    kwargs = (
        '{"responses": ["Thought: t\\nFinal Answer: Hi Bob", "Thought: t\\nFinal Answer: Bob"]}'
    )
    out = cli(
        "chat",
        stdin="My name is Bob\n/bogus-not-a-command\n\nWhat is my name?\n/exit\n",
        env={
            "TOOLDECK_MODEL__PROVIDER": "tooldeck.testing:ScriptedChatModel",
            "TOOLDECK_MODEL__KWARGS": kwargs,
            "TOOLDECK_DATA_DIR": str(tmp_path),
        },
    )
    assert out.returncode == 0, out.stderr
    assert "Hi Bob" in out.stdout and "Final Answer: Bob" in out.stdout
    assert "unknown command /bogus-not-a-command" in out.stderr
    no_traceback(out)


def test_verbose_shows_the_traceback_and_keeps_the_exit_code() -> None:
    out = cli("run", "--verbose", "--config", "/nonexistent.yaml", "hi")
    assert out.returncode == 2
    assert (
        "Traceback" in out.stderr and "error: config file /nonexistent.yaml not found" in out.stderr
    )


def test_version_is_printed_from_metadata_and_light() -> None:
    from importlib.metadata import version

    code = (
        "import sys, tooldeck.cli as c\n"
        "try:\n c.main(['--version'])\nexcept SystemExit: pass\n"
        "heavy = [m for m in ('langchain_core', 'xllamacpp', 'rich', 'pydantic', 'yaml')"
        " if m in sys.modules]\nprint(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines() == [f"tooldeck {version('tooldeck')}", "[]"], out.stdout


FOREIGN_CONFIGS = [
    "server: {port: 1}\ndatabase: {url: x}\n",
    "version: '3.8'\nservices:\n  web:\n    image: nginx\n",
]


@pytest.mark.parametrize("text", FOREIGN_CONFIGS, ids=["server-database", "docker-compose"])
def test_unrelated_config_yaml_in_cwd_is_ignored(tmp_path: Path, text: str) -> None:
    (tmp_path / "config.yaml").write_text(text)
    env = {"XDG_CONFIG_HOME": str(tmp_path / "xdg"), "TOOLDECK_DATA_DIR": str(tmp_path)}
    out = cli("config", "show", "--sources", cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stderr
    assert "server.port: 8" in out.stdout and "# default" in out.stdout
    assert out.stderr == ""
    out = cli("tools", "run", "calculator", '{"expression": "2*3"}', "-v", cwd=tmp_path, env=env)
    assert out.returncode == 0 and out.stdout.strip() == "6", out.stderr
    assert "ignoring ./config.yaml (top-level keys not tooldeck's" in out.stderr
    no_traceback(out)


def test_tooldeck_config_yaml_and_user_file_are_read(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("agent: {max_steps: 4}\n")
    user = tmp_path / "xdg" / "tooldeck" / "config.yaml"
    user.parent.mkdir(parents=True)
    user.write_text("agent: {max_steps: 2, max_repeats: 5}\n")
    env = {"XDG_CONFIG_HOME": str(tmp_path / "xdg"), "TOOLDECK_DATA_DIR": str(tmp_path)}
    out = cli("config", "show", "--sources", cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stderr
    assert "agent.max_steps: 4  # file ./config.yaml (working directory)" in out.stdout
    assert f"agent.max_repeats: 5  # file {user}" in out.stdout


@pytest.mark.parametrize(
    ("flags", "env"),
    [(["--verbose"], {}), ([], {"TOOLDECK_LOG_LEVEL": "DEBUG"})],
    ids=["--verbose", "log_level DEBUG"],
)
def test_debug_logs(
    tmp_path: Path, monkeypatch: Any, caplog: Any, flags: list[str], env: dict[str, str]
) -> None:
    import logging

    _scripted_calculator_run(monkeypatch, tmp_path)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    try:
        assert main(["run", *flags, "--config", str(REPO / "config.yaml"), "What is 6*7?"]) == 0
    finally:
        logging.getLogger("tooldeck").setLevel(logging.NOTSET)
    text = caplog.text
    assert f"config files read: {REPO / 'config.yaml'}" in text
    assert "model tooldeck.testing:ScriptedChatModel (agent react) ready in" in text
    assert "tools offered: calculator" in text
    assert 'tool call calculator({"expression": "6*7"})' in text


def test_run_prints_steps_and_tokens_from_the_pipeline_events(
    tmp_path: Path, monkeypatch: Any, capsys: Any
) -> None:
    _scripted_calculator_run(monkeypatch, tmp_path)
    assert main(["run", "What is 6 * 7?"]) == 0
    out = capsys.readouterr().out
    action, observation, answer = (
        out.index("Action: calculator"), out.index("Observation: 42"), out.index("Final Answer: 42")
    )
    assert action < observation < answer
