"""The user's prompts_dir, example files, the length budget on the embedded model's context,
and the ``tooldeck prompts`` commands."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, SystemMessage

from tooldeck.chains.summarize import estimate_tokens
from tooldeck.cli import main
from tooldeck.config_schema import ModelConfig, PromptsConfig
from tooldeck.errors import ConfigError, PromptError
from tooldeck.prompts import PromptLibrary, configure_prompts, load_template, render
from tooldeck.prompts.budget import context_tokens

MINE = """\
version: "3.1"
description: a user's template
variables:
  question: the question
role: You are terse.
task: Answer in one word.
input: ask
texts:
  ask: "Q: {question}"
"""

# A user react that keeps the texts the ReAct loop reads.
MY_REACT = (Path(__file__).resolve().parents[2] / "src/tooldeck/prompts/templates/react.yaml"
            ).read_text("utf-8")
MY_REACT = re.sub(r'(?m)^version: "[^"]*"', 'version: "9-mine"', MY_REACT, count=1)


@pytest.fixture(autouse=True)
def _default_library() -> Iterator[None]:
    yield
    configure_prompts(None)


def _folder(tmp_path: Path, **files: str) -> Path:
    folder = tmp_path / "prompts"
    folder.mkdir()
    for name, text in files.items():
        (folder / f"{name}.yaml").write_text(text, "utf-8")
    return folder


# -- prompts_dir ------------------------------------------------------------------------------

def test_user_file_adds_and_replaces(tmp_path: Path) -> None:
    library = PromptLibrary(_folder(tmp_path, mine=MINE, react=MY_REACT))
    assert {"mine", "react", "rag"} <= set(library.names())
    mine, react, rag = library.get("mine"), library.get("react"), library.get("rag")
    assert (mine.version, mine.replaces_builtin, mine.source.endswith("mine.yaml")) == (
        "3.1", False, True)
    assert react.version == "9-mine" and react.replaces_builtin
    assert rag.source == "built-in"
    assert library.load_template("react")["version"] == "9-mine"


def test_configure_prompts_points_load_template_at_the_config(tmp_path: Path) -> None:
    folder = _folder(tmp_path, mine=MINE)
    with pytest.raises(PromptError, match="no prompt template 'mine'"):
        load_template("mine")
    configure_prompts(PromptsConfig(prompts_dir=folder))
    assert render(load_template("mine")["ask"], question="why?") == "Q: why?"
    configure_prompts(None)
    with pytest.raises(PromptError):
        load_template("mine")


def test_only_regular_files_inside_the_folder_are_read(
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    outside = tmp_path / "outside.yaml"
    outside.write_text(MINE, "utf-8")
    folder = _folder(tmp_path, mine=MINE)
    (folder / "out.yaml").symlink_to(outside)
    (folder / "inside.yaml").symlink_to(folder / "mine.yaml")
    (folder / "dangling.yaml").symlink_to(folder / "gone.yaml")
    os.mkfifo(folder / "fifo.yaml")
    (folder / "notes.txt").write_text("ignored", "utf-8")
    with caplog.at_level(logging.WARNING, logger="tooldeck.prompts"):
        names = PromptLibrary(folder).user_files()
    assert sorted(names) == ["inside", "mine"]
    logged = caplog.text
    assert "out.yaml links outside" in logged and "fifo.yaml is not a regular file" in logged
    assert "dangling.yaml cannot be read" in logged


def test_missing_folder_and_broken_user_file_are_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"prompts_dir .*nowhere cannot be read"):
        PromptLibrary(tmp_path / "nowhere").names()
    library = PromptLibrary(_folder(tmp_path, mine=MINE.replace("{question}", "{qestion}")))
    with pytest.raises(PromptError, match=r"mine\.yaml.*\{qestion\}"):
        library.get("mine")


# -- example files ----------------------------------------------------------------------------

EXTRA = """\
template: self_ask
examples:
  - question: Which is longer, the Nile or the Amazon?
    steps: "Yes.\\nFollow up: How long is the Nile?\\nIntermediate answer: 6,650 km."
    final: the Nile
"""


def test_example_files_extend_the_template_they_name(tmp_path: Path) -> None:
    yml = tmp_path / "more.yaml"
    yml.write_text(EXTRA, "utf-8")
    jsonl = tmp_path / "self_ask.extra.jsonl"
    jsonl.write_text('{"question": "Q {x}?", "steps": "Yes.", "final": "{y}"}\n', "utf-8")
    library = PromptLibrary(example_files=[yml, jsonl], max_examples=4)
    examples = library.get("self_ask").examples
    assert examples is not None and len(examples.items) == 4
    messages = library.chat_prompt("self_ask").invoke({"question": "q"}).to_messages()
    assert messages[5].text.startswith("Question: Which is longer")
    assert messages[8].text == "Yes.\nSo the final answer is: {y}"  # braces in data kept
    assert "the Nile" not in PromptLibrary(example_files=[yml]).load_template("self_ask")[
        "system"]  # max_examples 2: the built-in two


def test_example_file_missing_key_is_named_with_file_line_and_key(tmp_path: Path) -> None:
    jsonl = tmp_path / "self_ask.jsonl"
    jsonl.write_text('{"question": "a", "steps": "b", "final": "c"}\n'
                     '{"question": "d", "steps": "e"}\n', "utf-8")
    with pytest.raises(ConfigError, match=r"self_ask\.jsonl line 2: missing key 'final'"):
        PromptLibrary(example_files=[jsonl]).get("self_ask")
    yml = tmp_path / "more.yaml"
    yml.write_text(EXTRA.replace("    final: the Nile\n", ""), "utf-8")
    with pytest.raises(ConfigError, match=r"more\.yaml example 0: missing key 'final'"):
        PromptLibrary(example_files=[yml]).get("self_ask")


def test_example_file_not_utf8_or_for_no_template_is_named(tmp_path: Path) -> None:
    latin = tmp_path / "self_ask.jsonl"
    latin.write_bytes('{"question": "caf\xe9", "steps": "s", "final": "f"}\n'.encode("latin-1"))
    with pytest.raises(ConfigError, match=r"self_ask\.jsonl: not UTF-8"):
        PromptLibrary(example_files=[latin]).get("self_ask")
    stray = tmp_path / "sefl_ask.jsonl"
    stray.write_text('{"question": "a"}\n', "utf-8")
    with pytest.raises(ConfigError, match=r"sefl_ask\.jsonl extends the template 'sefl_ask'"):
        PromptLibrary(example_files=[stray]).get("rag")
    react = tmp_path / "react.jsonl"
    react.write_text('{"question": "a"}\n', "utf-8")
    with pytest.raises(ConfigError, match="'react', which has no examples part"):
        PromptLibrary(example_files=[react]).get("react")


# -- the length budget on the embedded model's context ----------------------------------------

def _long_examples(count: int, chars: int) -> str:
    items = "".join(f"    - {{q: 'question {i}', a: '{chr(97 + i) * chars}', s: 'short {i}'}}\n"
                    for i in range(count))
    return (MINE + "examples:\n  human: 'Q: {q}'\n  ai: '{a}'\n  summary: '{q} -> {s}'\n"
            "  over_budget: OVER\n  items:\n" + items)


@pytest.fixture(scope="module")
def n_ctx(tmp_path_factory: pytest.TempPathFactory) -> int:
    from tooldeck.models import get_chat_model

    model = get_chat_model(ModelConfig(), tmp_path_factory.mktemp("data"))
    size = context_tokens(model)
    assert size == ModelConfig().n_ctx == 4096
    assert model._server is None  # type: ignore[attr-defined]  # read without loading it
    return size


def _tokens(messages: list[Any]) -> int:
    return sum(estimate_tokens(m.text) for m in messages)


@pytest.mark.parametrize("over", ["drop", "summarize"])
def test_budget_keeps_whole_examples_within_the_context(
    tmp_path: Path, n_ctx: int, over: str,
) -> None:
    # 10 examples of about 600 tokens each: five fit the 4096-token context after a 512-token
    # reserve; the rest are dropped or summarized, and none is cut.
    library = PromptLibrary(_folder(tmp_path, fat=_long_examples(10, 1800).replace("OVER", over)),
                            max_examples=10)
    prompt = library.chat_prompt("fat", n_ctx=n_ctx, reserve=512)
    messages = prompt.invoke({"question": "which one?"}).to_messages()
    answers = [m.text for m in messages if isinstance(m, AIMessage)]
    assert answers == [chr(97 + i) * 1800 for i in range(len(answers))]  # best first, whole
    assert len(answers) == 5
    assert _tokens(messages) <= n_ctx - 512
    summaries = [m.text for m in messages[1:] if isinstance(m, SystemMessage)]
    if over == "drop":
        assert summaries == []
    else:
        assert summaries == ["More examples, in short:\n" + "\n".join(
            f"question {i} -> short {i}" for i in range(5, 10))]


def test_budget_summary_lines_stop_whole_at_the_limit(tmp_path: Path) -> None:
    library = PromptLibrary(_folder(tmp_path, fat=_long_examples(10, 1800).replace(
        "OVER", "summarize")), max_examples=10)
    # Room for the first example and about 60 tokens more: the fixed prompt, the heading and
    # a few summary lines, not all nine.
    n_ctx = 512 + estimate_tokens("Q: question 0\n" + "a" * 1800) + 60
    messages = library.chat_prompt("fat", n_ctx=n_ctx, reserve=512).invoke(
        {"question": "q"}).to_messages()
    (summary,) = [m.text for m in messages[1:] if isinstance(m, SystemMessage)]
    lines = summary.splitlines()[1:]
    assert _tokens(messages) <= n_ctx - 512
    assert 0 < len(lines) < 9 and lines == [f"question {i} -> short {i}"
                                            for i in range(1, 1 + len(lines))]


def test_budget_with_no_room_is_a_config_error(tmp_path: Path) -> None:
    library = PromptLibrary(_folder(tmp_path, fat=_long_examples(2, 10).replace("OVER", "drop")))
    with pytest.raises(ConfigError, match="few-shot budget"):
        library.chat_prompt("fat", n_ctx=600, reserve=600)


# -- the commands -----------------------------------------------------------------------------

def _config(tmp_path: Path, folder: Path) -> str:
    path = tmp_path / "tooldeck.yaml"
    path.write_text(f"data_dir: {tmp_path / 'data'}\nprompts:\n  prompts_dir: {folder}\n",
                    "utf-8")
    return str(path)


def test_prompts_list_names_sources(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _config(tmp_path, _folder(tmp_path, mine=MINE, react=MY_REACT))
    assert main(["prompts", "list", "--config", config]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert "3.1" in rows["mine"] and "question" in rows["mine"] and "mine.yaml" in rows["mine"]
    assert "9-mine" in rows["react"] and "(replaces the built-in)" in rows["react"]
    assert rows["rag"].endswith("built-in") and "context, question, count" in rows["rag"]


def test_prompts_show_fills_and_names_a_missing_variable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    config = _config(tmp_path, _folder(tmp_path, mine=MINE))
    assert main(["prompts", "show", "mine", "--var", "question=GET /a/{b}=c",
                 "--config", config]) == 0
    out = capsys.readouterr().out
    assert "--- system ---\nYou are terse.\n\nAnswer in one word." in out
    assert "--- human ---\nQ: GET /a/{b}=c" in out
    assert main(["prompts", "show", "mine", "--config", config]) == 2
    assert "needs the variable 'question'" in capsys.readouterr().err
    assert main(["prompts", "show", "mine", "--var", "qestion=x", "--config", config]) == 2
    assert "no variable 'qestion'; it takes question" in capsys.readouterr().err
    assert main(["prompts", "show", "mine", "--var", "novalue", "--config", config]) == 2


# -- selectors over a template's examples -----------------------------------------------------

NEWS = MINE + """\
examples:
  human: "Q: {question}"
  ai: "{topic}"
  items:
    - {question: Heavy rain and storms are forecast for the weekend, topic: weather}
    - {question: Stock markets fell as inflation fears hit investors, topic: economy}
    - {question: The home team won the football final in extra time, topic: sport}
"""


def _topics(messages: list[Any]) -> list[str]:
    return [m.text for m in messages if isinstance(m, AIMessage)]


def test_selector_by_name_ranks_the_templates_examples(tmp_path: Path) -> None:
    from tooldeck.models.embeddings import LocalEmbeddings

    library = PromptLibrary(_folder(tmp_path, news=NEWS), max_examples=1)
    question = {"question": "Who won the football final?"}
    assert _topics(library.chat_prompt("news").invoke(question).to_messages()) == ["weather"]
    ngram = library.chat_prompt("news", selector="ngram").invoke(question).to_messages()
    assert _topics(ngram) == ["sport"]  # one example: max_examples caps the selector too
    semantic = library.chat_prompt(
        "news", selector=library.selector("news", "semantic", embeddings=LocalEmbeddings(), k=2),
    ).invoke({"question": "Are share prices going down?"}).to_messages()
    assert _topics(semantic) == ["economy"]
    with pytest.raises(PromptError, match="selector 'knn' is unknown"):
        library.selector("news", "knn")
    with pytest.raises(PromptError, match="no examples"):
        library.selector("tool_calling", "ngram")


# -- who applies the settings: build_agent and every CLI command -------------------------------

def test_a_user_react_template_reaches_the_model_in_a_build_agent_run(tmp_path: Path) -> None:
    from langchain_core.tools import tool

    from tooldeck.config import load_config
    from tooldeck.pipeline import build_agent
    from tooldeck.testing import ScriptedChatModel

    @tool
    def echo(text: str) -> str:
        """Echo the text.

        Args:
            text: the text
        """
        return text

    mine = MY_REACT.replace("role: You answer questions.", "role: You are Zorp, a terse oracle.")
    folder = _folder(tmp_path, react=mine)
    config = load_config(None, {"data_dir": str(tmp_path / "data"),
                                "prompts": {"prompts_dir": str(folder)}},
                         environ={}, read_dotenv=False)
    model = ScriptedChatModel(responses=["Thought: t\nFinal Answer: 4"])
    assert build_agent(config, model=model, tools=[echo]).invoke("2 + 2?")["answer"] == "4"
    system = model.calls[0]["messages"][0]
    assert system.type == "system" and "You are Zorp, a terse oracle." in system.text


def test_cli_commands_apply_the_configured_prompts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path, _folder(tmp_path, mine=MINE))
    assert main(["config", "show", "--config", config]) == 0
    capsys.readouterr()
    assert render(load_template("mine")["ask"], question="why?") == "Q: why?"


def test_configuring_the_same_settings_keeps_the_library(tmp_path: Path) -> None:
    settings = PromptsConfig(prompts_dir=_folder(tmp_path, mine=MINE))
    first = configure_prompts(settings)
    assert configure_prompts(settings.model_copy()) is first
    assert configure_prompts(None) is not first
