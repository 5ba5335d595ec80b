"""Prompt templates: the format checked at load, single-pass filling, chat prompts in LCEL."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate, FewShotChatMessagePromptTemplate

from tooldeck.errors import PromptError
from tooldeck.prompts import PromptLibrary, TemplateText, chat_prompt, load_template, render
from tooldeck.prompts.spec import parse_template

OPENAPI_PATH = "GET /files/{source}/versions/{n}"

# What the agents, the RAG answer and the summarizer read from each built-in.
CALLER_KEYS = {
    "react": {"system", "question", "observation", "malformed", "unknown_tool", "repeated"},
    "self_ask": {"system", "question", "intermediate", "malformed"},
    "tool_calling": {"system"},
    "rag": {"system", "user", "block", "not_found", "language"},
    "summarize": {"system", "single", "map", "reduce"},
}

MINIMAL = """\
version: "1.0"
variables:
  question: the question
role: You answer.
task: Answer briefly.
input: ask
texts:
  ask: "Q: {question}"
"""


# -- the built-ins ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(CALLER_KEYS))
def test_builtin_keeps_the_keys_its_callers_read(name: str) -> None:
    template = load_template(name)
    assert CALLER_KEYS[name] <= set(template)
    assert str(template["version"]).isdigit() and template["name"] == name
    assert all(isinstance(template[key], str) and template[key] for key in CALLER_KEYS[name])


def test_every_builtin_loads_and_builds_a_chat_prompt() -> None:
    library = PromptLibrary()
    for spec in library.templates():
        prompt = library.chat_prompt(spec.name)
        assert isinstance(prompt, ChatPromptTemplate)
        assert prompt.metadata == {"prompt": spec.name, "prompt_version": spec.version}
        assert set(prompt.input_variables) <= set(spec.variables)


def test_self_ask_examples_are_in_the_system_text_and_example_turns() -> None:
    system = load_template("self_ask")["system"]
    assert "So the final answer is: Joseph Ball" in system
    assert system.index("Each reply is one line") < system.index("Examples:")
    messages = chat_prompt("self_ask").invoke({"question": "Who is older?"}).to_messages()
    assert isinstance(messages[0], SystemMessage) and "Joseph Ball" not in messages[0].text
    assert [type(m) for m in messages[1:]] == [HumanMessage, AIMessage, HumanMessage, AIMessage,
                                               HumanMessage]
    assert messages[2].text.endswith("So the final answer is: Muhammad Ali")
    assert messages[-1].text.startswith("Question: Who is older?")
    assert isinstance(chat_prompt("self_ask").messages[1], FewShotChatMessagePromptTemplate)


# -- braces in data (the two measured bugs) ---------------------------------------------------

def test_openapi_path_in_a_rag_block_stays_as_written() -> None:
    """Regression: str.replace in order turned {source} inside the path into the file name."""
    rag = load_template("rag")
    block = render(rag["block"], n=1, kind="rest", ref=OPENAPI_PATH, source="openapi.json",
                   body="Returns version {n} of {source}.")
    assert block == (f"[1] rest {OPENAPI_PATH} (source: openapi.json)\n"
                     "Returns version {n} of {source}.")
    user = render(rag["user"], context=block, question="list {count} versions", count=3)
    assert OPENAPI_PATH in user and "list {count} versions" in user and "[1] to [3]" in user


def test_tool_description_with_a_slot_name_is_not_rewritten() -> None:
    """Regression: a plugin description holding {tool_names} was filled with the tool list."""
    tools = 'weird: echoes {tool_names} and {"json": {"nested": 1}}'
    system = render(load_template("react")["system"], tools=tools, tool_names="weird, calc")
    assert tools in system and "one of [weird, calc]" in system


def test_chat_prompt_keeps_braces_in_values() -> None:
    messages = chat_prompt("rag").invoke(
        {"context": f"[1] rest {OPENAPI_PATH}", "question": "{question}", "count": "1"},
    ).to_messages()
    assert OPENAPI_PATH in messages[-1].text and "Question: {question}" in messages[-1].text


# -- render -----------------------------------------------------------------------------------

def test_render_missing_value_names_template_and_variable() -> None:
    with pytest.raises(PromptError, match=r"'react' \(observation\).*'observation'"):
        render(load_template("react")["observation"], obs="typo")


def test_render_single_pass_and_escapes() -> None:
    assert render("{a}-{b}", a="{b}", b="{a}") == "{b}-{a}"
    assert render("{{literal}} {x}", x="1", unused="y") == "{literal} 1"
    with pytest.raises(PromptError, match="not a slot"):
        render("{x!r}", x="1")
    with pytest.raises(PromptError, match="literal brace"):
        render("an { open brace")


def test_text_without_slots_is_final() -> None:
    spec = parse_template("t", MINIMAL.replace("Answer briefly.", "Reply as {{json}}."), "t.yaml")
    system = spec.as_mapping()["system"]
    assert isinstance(system, TemplateText) and system.literal
    assert "Reply as {json}." in system and render(system) == str(system)


# -- chat prompts in LCEL ---------------------------------------------------------------------

class _Recorder(BaseCallbackHandler):
    def __init__(self) -> None:
        self.runs: list[tuple[str, dict[str, Any]]] = []

    def on_chain_start(self, serialized: Any, inputs: Any, **kwargs: Any) -> None:
        self.runs.append((kwargs.get("name") or "", kwargs.get("metadata") or {}))


def test_chat_prompt_in_a_chain_carries_name_and_version_to_traces() -> None:
    prompt = chat_prompt("tool_calling")
    chain = prompt | FakeListChatModel(responses=["4"]) | StrOutputParser()
    recorder = _Recorder()
    assert chain.invoke({"question": "2+2?"}, {"callbacks": [recorder]}) == "4"
    traced = [meta for name, meta in recorder.runs if name == "prompt:tool_calling"]
    assert len(traced) == 1
    assert (traced[0]["prompt"], traced[0]["prompt_version"]) == ("tool_calling", "2")
    assert asyncio.run(chain.ainvoke({"question": "2+2?"})) == "4"


def test_chat_prompt_missing_variable_is_a_prompt_error() -> None:
    prompt = chat_prompt("react")
    with pytest.raises(PromptError, match="'react' needs the variable 'tool_names'"):
        prompt.invoke({"tools": "t", "question": "q"})
    with pytest.raises(PromptError, match="'tool_names'"):
        prompt.format_messages(tools="t", question="q")
    with pytest.raises(PromptError, match="'tool_names'"):
        asyncio.run(prompt.ainvoke({"tools": "t", "question": "q"}))


def test_history_goes_before_the_user_message() -> None:
    history = [HumanMessage("earlier"), AIMessage("reply")]
    messages = chat_prompt("tool_calling").invoke(
        {"question": "now", "history": history}).to_messages()
    assert [m.text for m in messages[1:]] == ["earlier", "reply", "now"]


# -- bad template files -----------------------------------------------------------------------

def _bad(text: str) -> str:
    with pytest.raises(PromptError) as info:
        parse_template("mine", text, "/tmp/mine.yaml")
    message = str(info.value)
    assert "/tmp/mine.yaml" in message and "'mine'" in message
    return message


def test_misspelt_slot_fails_at_load_naming_file_and_variable() -> None:
    message = _bad(MINIMAL.replace("Q: {question}", "Q: {questoin}"))
    assert "{questoin}" in message and "not declared" in message


def test_misspelt_declaration_fails_at_load() -> None:
    message = _bad(MINIMAL.replace("  question: the question", "  question: q\n  extra: x"))
    assert "'extra' is declared but no text uses it" in message


def test_literal_brace_in_template_text_fails_at_load() -> None:
    assert "not a slot" in _bad(MINIMAL.replace("Answer briefly.", "'Reply {\"a\": 1}.'"))
    assert "literal brace" in _bad(MINIMAL.replace("Answer briefly.", "Reply }."))


def test_malformed_files_name_the_problem() -> None:
    assert "unknown key 'rol'" in _bad(MINIMAL + "rol: typo\n")
    assert "missing 'role'" in _bad(MINIMAL.replace("role: You answer.\n", ""))
    assert "missing 'version'" in _bad(MINIMAL.replace('version: "1.0"\n', ""))
    assert "not valid YAML at line" in _bad(MINIMAL + "texts: [unclosed\n")
    assert "must be a mapping" in _bad("- a list\n")
    assert "input names 'nope'" in _bad(MINIMAL.replace("input: ask", "input: nope"))
    assert "reserved" in _bad(MINIMAL.replace("  ask:", "  system: x\n  ask:"))
    assert "must be text" in _bad(MINIMAL.replace("role: You answer.", "role: [a]"))
    assert "quote it" in _bad(MINIMAL.replace('version: "1.0"', "version: 2.10"))


def test_examples_part_is_checked() -> None:
    base = MINIMAL + "examples:\n  human: '{q}'\n  ai: '{a}'\n"
    assert "items[1]: missing key 'a'" in _bad(base + "  items: [{q: x, a: y}, {q: z}]\n")
    assert "needs a summary" in _bad(base + "  over_budget: summarize\n")
    assert "use drop or summarize" in _bad(base + "  over_budget: cut\n")
    assert "unknown key 'item'" in _bad(base + "  item: []\n")


def test_unknown_template_and_bad_names() -> None:
    with pytest.raises(PromptError, match="no prompt template 'nope'; known: .*react"):
        load_template("nope")
    with pytest.raises(PromptError, match="not a template name"):
        load_template("../../etc/passwd")


def test_user_file_not_utf8_is_named(tmp_path: Path) -> None:
    (tmp_path / "latin.yaml").write_bytes(MINIMAL.replace("You answer.", "caf\xe9").encode(
        "latin-1"))
    with pytest.raises(PromptError, match=r"latin\.yaml: not UTF-8"):
        PromptLibrary(tmp_path).get("latin")
