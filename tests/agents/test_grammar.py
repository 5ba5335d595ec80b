"""Grammars built from tool schemas: shape, what they accept and refuse, and llama.cpp obeying.

Acceptance is checked with the ``llguidance`` package, the engine llama.cpp runs the grammars
with, over a byte tokenizer (every string is spelled byte by byte).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import pytest
from langchain_core.tools import tool
from pydantic import AnyUrl, BaseModel, Field

from tests.helpers import echo, grammar_accepts, search
from tooldeck.agents.grammar import (
    STRING_CAP,
    URL_CHOICES_CAP,
    SeenUrls,
    find_urls,
    json_value_rule,
    react_answer_grammar,
    react_grammar,
    self_ask_grammar,
    takes_url,
    tool_args_schema,
)
from tooldeck.agents.react import ParsedAction, ParsedFinal, parse_react
from tooldeck.tools.builtin.calculator import calculator


@tool
def rich_args(city: str, days: int, units: str = "metric", detailed: bool = False) -> str:
    """A tool with several typed arguments.

    Args:
        city: the city
        days: how many days
        units: metric or imperial
        detailed: more detail
    """
    return city


@tool
def fetch_page(
    url: str,
    mode: Literal["text", "links"] = "text",
    tags: list[str] | None = None,
    limit: Annotated[int, Field(ge=1, le=10)] = 3,
    ratio: float = 0.5,
    note: Annotated[str, Field(max_length=5)] = "",
) -> str:
    """Fetch a page (a schema with optional args, an enum, an array, bounds).

    Args:
        url: the address
        mode: what to return
        tags: labels
        limit: how many
        ratio: a fraction
        note: a short note
    """
    return url


@tool("my_tool")
def my_tool_underscore(text: str) -> str:
    """Takes text.

    Args:
        text: the text
    """
    return text


@tool("my-tool")
def my_tool_dash(count: int) -> str:
    """Takes a count.

    Args:
        count: the count
    """
    return str(count)




def act(tool_name: str, arguments: str) -> str:
    return f"Thought: I need it\nAction: {tool_name}\nAction Input: {arguments}"


def test_react_grammar_shape() -> None:
    text = react_grammar([calculator, echo])
    assert text.startswith('%llguidance {}\nstart: "Thought: " LINE "\\n" step\n')
    assert '"Action: calculator\\nAction Input: "' in text
    assert '"Action: echo\\nAction Input: "' in text
    assert "step: act_0 | act_1 | final" in text
    only_final = react_grammar([])
    assert "step: final" in only_final and "Action" not in only_final
    assert "step: act_0\n" in react_grammar([echo], allow_final=False)


def test_steps_accepted_and_refused() -> None:
    grammar = react_grammar([calculator, echo])
    assert grammar_accepts(grammar, act("calculator", '{"expression": "17 * 23"}'))
    assert grammar_accepts(grammar, act("echo", '{"text": "hi"}'))
    assert grammar_accepts(grammar, "Thought: easy\nFinal Answer: 42")
    assert not grammar_accepts(grammar, act("search", '{"query": "x"}'))  # not offered
    assert not grammar_accepts(grammar, act("calculator", '{"expression": "import os"}'))  # pattern
    assert not grammar_accepts(grammar, act("echo", '{"text": "hi", "extra": 1}'))
    assert not grammar_accepts(grammar, act("echo", '{ "text":"hi"}'))  # compact JSON only
    assert not grammar_accepts(react_grammar([]), act("echo", '{"text": "hi"}'))


def test_optional_arguments_can_be_passed_or_left_out() -> None:
    grammar = react_grammar([rich_args])
    assert grammar_accepts(grammar, act("rich_args", '{"city": "Oslo", "days": 3}'))
    assert grammar_accepts(grammar, act("rich_args", '{"city": "Oslo", "days": 3, "units": "imperial"}'))
    assert grammar_accepts(grammar, act("rich_args", '{"city": "Oslo", "days": 3, "detailed": true}'))
    assert not grammar_accepts(grammar, act("rich_args", '{"city": "Oslo"}'))  # days is required
    assert not grammar_accepts(grammar, act("rich_args", '{"city": "Oslo", "days": "3"}'))
    assert not grammar_accepts(grammar, act("rich_args", '{"city": "Oslo", "days": 3.5}'))
    assert tool_args_schema(rich_args)["required"] == ["city", "days"]


def test_long_and_empty_strings_follow_the_schema() -> None:
    grammar = react_grammar([fetch_page, search])
    long_url = "https://example.org/" + "a" * 1500
    assert grammar_accepts(grammar, act("fetch_page", f'{{"url": "{long_url}"}}'))
    too_long = "x" * (STRING_CAP + 1)
    assert not grammar_accepts(grammar, act("fetch_page", f'{{"url": "{too_long}"}}'))  # the cap
    assert grammar_accepts(grammar, act("fetch_page", '{"url": ""}'))  # no minLength: empty is fine
    assert grammar_accepts(grammar, act("fetch_page", '{"url": "u", "note": "abcde"}'))
    assert not grammar_accepts(grammar, act("fetch_page", '{"url": "u", "note": "abcdef"}'))  # maxLength
    query = "what is " + "very " * 60 + "long"
    assert grammar_accepts(grammar, act("search", f'{{"query": "{query}"}}'))  # was cut at 120
    assert grammar_accepts(grammar, act("fetch_page", '{"url": "a \\"quoted\\" café path"}'))


def test_enums_arrays_and_numbers() -> None:
    grammar = react_grammar([fetch_page])
    ok = '{"url": "u", "mode": "links", "tags": ["a", "b"], "limit": 10, "ratio": 0.25}'
    assert grammar_accepts(grammar, act("fetch_page", ok))
    assert grammar_accepts(grammar, act("fetch_page", '{"url": "u", "tags": null}'))
    assert grammar_accepts(grammar, act("fetch_page", '{"url": "u", "tags": []}'))
    assert not grammar_accepts(grammar, act("fetch_page", '{"url": "u", "mode": "html"}'))  # enum
    assert not grammar_accepts(grammar, act("fetch_page", '{"url": "u", "limit": 11}'))  # le=10
    assert not grammar_accepts(grammar, act("fetch_page", '{"url": "u", "tags": [1]}'))
    assert not grammar_accepts(grammar, act("fetch_page", '{"url": "u", "ratio": "half"}'))


def test_tool_names_that_slug_alike_are_both_callable() -> None:
    grammar = react_grammar([my_tool_underscore, my_tool_dash])
    assert grammar_accepts(grammar, act("my_tool", '{"text": "a"}'))
    assert grammar_accepts(grammar, act("my-tool", '{"count": 2}'))
    assert not grammar_accepts(grammar, act("my-tool", '{"text": "a"}'))  # each keeps its own schema
    assert not grammar_accepts(grammar, act("my_tool", '{"count": 2}'))


def test_json_value_and_self_ask_grammars() -> None:
    grammar = json_value_rule({"type": "object", "properties": {"a": {"type": "integer"}}})
    assert grammar_accepts(grammar, '{"a": 1}') and grammar_accepts(grammar, "{}")
    assert not grammar_accepts(grammar, '{"b": 1}')
    assert grammar_accepts(self_ask_grammar(), "Follow up: Who is X?")
    assert grammar_accepts(self_ask_grammar(), "So the final answer is: Paris")
    assert not grammar_accepts(self_ask_grammar(), "Paris")


def test_unknown_formats_and_keywords_do_not_break_the_grammar() -> None:
    schema = {
        "type": "object",
        "properties": {"when": {"type": "string", "format": "no-such-format", "not": {}}},
    }
    assert grammar_accepts(json_value_rule(schema), '{"when": "soon"}')


@pytest.mark.integration
@pytest.mark.parametrize("tools", [[calculator], [calculator, echo, search, rich_args], []])
def test_llamacpp_accepts_and_obeys_the_grammar(tools: list[Any], tmp_path: Any) -> None:
    from tooldeck.config import ModelConfig
    from tooldeck.models import get_chat_model

    chat = get_chat_model(ModelConfig(max_tokens=1024), tmp_path)
    for question in ("What is 3 + 4?", "Who are you?"):
        text = chat.invoke(question, grammar=react_grammar(tools)).content
        parsed = parse_react(text)
        assert isinstance(parsed, ParsedAction | ParsedFinal), text
        if isinstance(parsed, ParsedAction):
            assert parsed.tool in {t.name for t in tools} and isinstance(parsed.tool_input, dict)
    text = chat.invoke("Who is the president?", grammar=self_ask_grammar()).content
    assert text.startswith(("Follow up: ", "So the final answer is: "))


@pytest.mark.integration
def test_llamacpp_writes_an_optional_argument(tmp_path: Any) -> None:
    """The embedded model, held to the grammar, can pass an optional argument (it could not)."""
    from tooldeck.config import ModelConfig
    from tooldeck.models import get_chat_model

    chat = get_chat_model(ModelConfig(max_tokens=200), tmp_path)
    prompt = (
        "Call the tool rich_args for Oslo, 3 days, in imperial units. Reply exactly like:\n"
        'Thought: ...\nAction: rich_args\nAction Input: {"city": "...", "days": 3, '
        '"units": "imperial"}'
    )
    text = chat.invoke(prompt, grammar=react_grammar([rich_args], allow_final=False)).content
    parsed = parse_react(text)
    assert isinstance(parsed, ParsedAction) and parsed.tool == "rich_args", text
    assert set(parsed.tool_input) >= {"city", "days", "units"}, text


class ManyUrlsArgs(BaseModel):
    """URL arguments named ``*_url``, typed by ``format: uri``, or optional."""

    page_url: str
    link: AnyUrl
    source: str | None = None
    url: str | None = None


@tool(args_schema=ManyUrlsArgs)
def many_urls(page_url: str, link: str, source: str | None = None, url: str | None = None) -> str:
    """A tool with several kinds of URL arguments."""
    return page_url


SEEN = "http://127.0.0.1:8123/article"


def test_a_url_argument_takes_only_the_urls_seen() -> None:
    grammar = react_grammar([fetch_page], urls=[SEEN, "https://example.org/a"])
    assert grammar_accepts(grammar, act("fetch_page", f'{{"url": "{SEEN}"}}'))
    assert grammar_accepts(grammar, act("fetch_page", '{"url": "https://example.org/a"}'))
    rewritten = SEEN.replace("http://", "https://")
    assert not grammar_accepts(grammar, act("fetch_page", f'{{"url": "{rewritten}"}}'))
    assert not grammar_accepts(grammar, act("fetch_page", '{"url": "http://127.0.0.1/article"}'))
    # the other arguments keep their schema
    assert grammar_accepts(grammar, act("fetch_page", f'{{"url": "{SEEN}", "limit": 4}}'))
    assert not grammar_accepts(grammar, act("fetch_page", f'{{"url": "{SEEN}", "limit": 40}}'))


def test_a_url_argument_is_free_when_none_was_seen() -> None:
    rewritten = act("fetch_page", '{"url": "https://127.0.0.1:8123/article"}')
    assert grammar_accepts(react_grammar([fetch_page]), rewritten)
    assert grammar_accepts(react_grammar([fetch_page], urls=[]), rewritten)


def test_url_arguments_by_name_by_format_and_optional() -> None:
    grammar = react_grammar([many_urls], urls=[SEEN])
    ok = f'{{"page_url": "{SEEN}", "link": "{SEEN}", "source": "x", "url": null}}'
    assert grammar_accepts(grammar, act("many_urls", ok))
    assert grammar_accepts(grammar, act("many_urls", ok.replace("null", f'"{SEEN}"')))
    for bad in (ok.replace('"page_url": "http:', '"page_url": "https:'),
                ok.replace('"link": "http:', '"link": "https:'),
                ok.replace("null", '"https://elsewhere.org/"')):  # fmt: skip
        assert not grammar_accepts(grammar, act("many_urls", bad)), bad


def test_a_seen_url_the_schema_refuses_is_not_offered() -> None:
    # web_fetch-like pattern: no spaces or quotes; a URL that breaks it leaves the argument free
    from tooldeck.agents.grammar import with_url_choices

    schema = {"properties": {"url": {"type": "string", "maxLength": 10}}}
    assert with_url_choices(schema, ["https://a.example/long"]) == schema
    narrowed = with_url_choices(schema, ["https://a.example/long", "http://a.b"])
    assert narrowed["properties"]["url"] == {"type": "string", "enum": ["http://a.b"]}


def test_find_urls_and_seen_urls() -> None:
    text = (
        f"Read {SEEN}. Then (https://en.wikipedia.org/wiki/Lutz_(town)), "
        '"https://q.example/?a=1&b=2", and <https://x.example/>; not ftp://y.example.'
    )
    assert find_urls(text) == [
        SEEN,
        "https://en.wikipedia.org/wiki/Lutz_(town)",
        "https://q.example/?a=1&b=2",
        "https://x.example/",
    ]
    seen = SeenUrls(f"Is {SEEN} up?")
    seen.add("links: https://a.example/ https://b.example/ " + SEEN)
    seen.add("again https://a.example/")
    assert seen.urls == (SEEN, "https://b.example/", "https://a.example/")
    for i in range(2 * URL_CHOICES_CAP):
        seen.add(f"https://n.example/{i}")
    assert len(seen.urls) == URL_CHOICES_CAP and seen.urls[0] == SEEN
    assert seen.urls[-1] == f"https://n.example/{2 * URL_CHOICES_CAP - 1}"


def test_takes_url_and_the_answer_grammar() -> None:
    assert takes_url(fetch_page) and takes_url(many_urls)
    assert not takes_url(echo) and not takes_url(search)
    grammar = react_answer_grammar()
    assert grammar_accepts(grammar, "Thought: I know the answer\nFinal Answer: 42")
    assert not grammar_accepts(grammar, "Thought: hmm\nFinal Answer: 42")
    assert not grammar_accepts(grammar, act("echo", '{"text": "hi"}'))
