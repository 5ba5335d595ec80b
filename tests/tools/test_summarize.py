"""Summarize: the map-reduce chain with a scripted model, and the tool (text, URL, failures)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from langchain_core.callbacks import AsyncCallbackHandler, BaseCallbackHandler

from tests.helpers import step_accepted
from tooldeck.chains.summarize import (
    PROGRESS_EVENT,
    SummarizeChain,
    estimate_tokens,
    model_token_counter,
    tidy,
)
from tooldeck.config import Config, WebConfig
from tooldeck.errors import ConfigError, InputError, ModelError, ToolTimeoutError
from tooldeck.testing import ScriptedChatModel, ToolStandardTests
from tooldeck.tools.builtin.summarize import SummarizeTool, register_into
from tooldeck.tools.net import NetPolicy, Retries, allow_addresses_for_tests
from tooldeck.tools.net.testing import Handler, LoopbackServer, SeenRequest, reply
from tooldeck.tools.runner import arun_tool, run_tool

FAST = NetPolicy(retries=Retries(attempts=2, backoff_s=0.01, max_delay_s=0.05))
SENTENCE = "The committee met on Tuesday and approved the river survey budget of 40,000 euros. "
BOOK = SENTENCE * 6_250  # 100,000 words: a 200-page text
ARTICLE = (
    "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Rivers of Europe</title>"
    "</head><body><nav><a href='/'>Home</a> | <a href='/news'>News</a> | Sign in</nav>"
    "<article><h1>Rivers of Europe</h1>"
    + "".join(
        f"<p>The Volga is the longest river of Europe, paragraph {n}: it flows through central "
        "Russia into the Caspian Sea and drains much of the country's west.</p>"
        for n in range(12)
    )
    + "</article><footer>Copyright 2025 Example News. All rights reserved.</footer>"
    "</body></html>"
).encode()


def scripted(reply_words: int = 40) -> ScriptedChatModel:
    return ScriptedChatModel(responses=["summary " * reply_words], repeat_last=True)


def stage(call: dict[str, Any]) -> str:
    text = call["messages"][-1].content
    if "PART SUMMARIES:" in text:
        return "reduce"
    return "map" if "PART:" in text else "single"


class Progress(BaseCallbackHandler):
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def on_custom_event(self, name: str, data: Any, **kwargs: Any) -> None:
        if name == PROGRESS_EVENT:
            self.events.append(data)


class AsyncProgress(AsyncCallbackHandler):
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    async def on_custom_event(self, name: str, data: Any, **kwargs: Any) -> None:
        if name == PROGRESS_EVENT:
            self.events.append(data)


# --- the chain ---


def test_a_200_page_text_fits_a_4096_token_model() -> None:
    model = scripted(reply_words=10)
    chain = SummarizeChain(model, context_tokens=4096)
    assert chain.invoke(BOOK).startswith("summary summary")
    chunks = chain.split(BOOK)
    stages = [stage(c) for c in model.calls]
    assert stages.count("map") == len(chunks) > 40
    assert stages[: len(chunks)] == ["map"] * len(chunks)
    assert stages[len(chunks) :] == ["reduce"]  # small partial summaries: one reduce call
    for call in model.calls:
        prompt = sum(estimate_tokens(str(m.content)) for m in call["messages"])
        assert prompt + call["max_tokens"] + 32 <= 4096
    assert {c["max_tokens"] for c in model.calls} == {192, 256}


def test_recursive_reduce_when_partial_summaries_do_not_fit() -> None:
    model = scripted(reply_words=400)  # a model that ignores max_tokens: clipped to the budget
    chain = SummarizeChain(model, context_tokens=4096)
    chain.invoke(BOOK)
    chunks = len(chain.split(BOOK))
    reduces = [stage(c) for c in model.calls].count("reduce")
    assert reduces > 1  # a level of groups, then the final combination
    fan_in = chain._budget.input_tokens // (chain._budget.summary_tokens + 2)
    assert reduces <= -(-chunks // fan_in) + 1 + 1
    assert len(model.calls) <= chain.max_calls


def test_two_reduce_levels_with_a_small_context() -> None:
    model = scripted(reply_words=200)
    chain = SummarizeChain(model, context_tokens=1500, map_tokens=200, reduce_tokens=200)
    text = SENTENCE * 400
    chain.invoke(text)
    stages = [stage(c) for c in model.calls]
    chunks = len(chain.split(text))
    assert stages.count("map") == chunks
    # every reduce call combines at least two summaries, so each level at least halves them
    assert 2 <= stages.count("reduce") < chunks


def test_a_short_text_takes_one_call() -> None:
    model = scripted()
    out = SummarizeChain(model).invoke("Rivers flow to the sea. " * 20)
    assert out == ("summary " * 40).strip()
    (call,) = model.calls
    assert stage(call) == "single" and "Rivers flow to the sea." in call["messages"][-1].content
    assert call["messages"][0].type == "system"


def test_chunks_follow_non_latin_text() -> None:
    chain = SummarizeChain(scripted(), context_tokens=2048)
    text = "東京は日本の首都である。" * 3000
    chunks = chain.split(text)
    assert "".join(chunks) == text
    assert all(estimate_tokens(c) <= chain._budget.input_tokens for c in chunks)


@pytest.mark.parametrize("text", ["", "   \n  "])
def test_empty_text(text: str) -> None:
    model = scripted()
    with pytest.raises(InputError, match="nothing to summarize"):
        SummarizeChain(model).invoke(text)
    assert model.calls == []


def test_text_over_the_limit() -> None:
    model = scripted()
    with pytest.raises(InputError, match=r"10,001 characters long; the limit is 10,000"):
        SummarizeChain(model, max_chars=10_000).invoke("x" * 10_001)
    assert model.calls == []


def test_more_calls_than_allowed() -> None:
    model = scripted()
    with pytest.raises(InputError, match="model calls; the limit is 5"):
        SummarizeChain(model, max_calls=5).invoke(BOOK)
    assert model.calls == []


def test_time_limit_stops_between_calls() -> None:
    with pytest.raises(ToolTimeoutError, match="stopped after 0 of up to"):
        SummarizeChain(scripted(), max_seconds=0).invoke(BOOK)


def test_a_context_too_small_is_refused() -> None:
    with pytest.raises(ConfigError, match="too small to summarize"):
        SummarizeChain(scripted(), context_tokens=600)


def test_empty_final_summary_is_a_model_error() -> None:
    with pytest.raises(ModelError, match="empty summary"):
        SummarizeChain(ScriptedChatModel(responses=["  "])).invoke("Some text to summarize.")


def test_progress_events_reach_a_callback_handler() -> None:
    handler = Progress()
    model = scripted(reply_words=400)
    SummarizeChain(model).invoke(BOOK, config={"callbacks": [handler]})
    done = [e["done"] for e in handler.events]
    assert done == list(range(1, len(model.calls) + 1))
    assert handler.events[-1]["done"] == handler.events[-1]["total"]
    assert all(e["done"] <= e["total"] for e in handler.events)
    assert {e["stage"] for e in handler.events} == {"map", "reduce"}


async def test_ainvoke_same_plan_and_async_events() -> None:
    handler = AsyncProgress()
    model = scripted()
    out = await SummarizeChain(model).ainvoke(BOOK, config={"callbacks": [handler]})
    sync_model = scripted()
    assert out == SummarizeChain(sync_model).invoke(BOOK)
    assert len(model.calls) == len(sync_model.calls) == len(handler.events)


def test_model_token_counter_only_when_the_model_counts_itself() -> None:
    model = scripted()
    assert model_token_counter(model) is None  # LangChain's default would download GPT-2
    counting = model.model_copy(update={"custom_get_token_ids": lambda text: [1] * len(text)})
    counter = model_token_counter(counting)
    assert counter is not None and counter("abcd") == 4


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("The plan costs 12 million. The plan costs 12 million.  The plan  costs 12 million. "
         "Work starts in March. The council", "The plan costs 12 million. Work starts in March."),
        ("summary summary summary", "summary summary summary"),
        ("One sentence cut off", "One sentence cut off"),
        ('He said "yes." Then he left (quietly.)', 'He said "yes." Then he left (quietly.)'),
        ("", ""),
    ],
)
def test_tidy_drops_repeats_and_a_cut_sentence(reply: str, expected: str) -> None:
    assert tidy(reply) == expected


def test_repeated_sentences_do_not_reach_the_reduce_call() -> None:
    model = ScriptedChatModel(responses=["Rivers flood. Rivers flood. Rivers flood."],
                              repeat_last=True)
    chain = SummarizeChain(model)
    assert chain.invoke(BOOK[:60_000]) == "Rivers flood."
    reduce_prompt = model.calls[-1]["messages"][-1].content
    assert reduce_prompt.count("Rivers flood.") == len(chain.split(BOOK[:60_000]))


def test_prompts_are_data() -> None:
    from tooldeck.prompts import load_template

    parts = load_template("summarize")
    assert {"system", "single", "map", "reduce"} <= set(parts)
    assert "{passage}" in parts["map"] and "{summaries}" in parts["reduce"]


# --- the tool ---


def make_tool(model: Any = None, **web: Any) -> SummarizeTool:
    config = Config(web=WebConfig(**{"timeout_s": 2.0, **web}))
    return SummarizeTool(config=config, chat_model=model or scripted(), policy=FAST)


@contextmanager
def serving(handler: Handler) -> Iterator[LoopbackServer]:
    with LoopbackServer(handler) as server, allow_addresses_for_tests({"127.0.0.1"}):
        yield server


def article(request: SeenRequest, conn: socket.socket) -> None:
    reply(conn, 200, ARTICLE, {"Content-Type": "text/html; charset=utf-8"})


class TestSummarizeStandard(ToolStandardTests):
    tool = make_tool()
    valid_input = {"text": "Rivers flow to the sea. " * 10, "url": None}


def test_text_is_summarized() -> None:
    out = make_tool().invoke({"text": "Rivers flow to the sea. " * 10, "url": None})
    assert out == "Summary of the text (50 words):\n" + ("summary " * 40).strip()


def test_url_is_fetched_and_its_main_text_summarized() -> None:
    model = scripted()
    with serving(article) as server:
        url = server.url + "/news/article.html"
        out = make_tool(model).invoke({"text": None, "url": url})
    assert out.startswith(f"Summary of {url} (")
    (call,) = model.calls
    prompt = call["messages"][-1].content
    from tooldeck.tools.extract import read_html

    page = read_html(ARTICLE, "text/html", url, max_links=0)
    assert page.text and page.text.splitlines()[0] in prompt
    assert "paragraph 11" in prompt and "Sign in" not in prompt and "Copyright" not in prompt
    assert "'Rivers of Europe'" in out
    assert server.requests[0].headers["user-agent"] == WebConfig().user_agent


def test_a_bare_url_given_as_text_is_fetched() -> None:
    with serving(article) as server:
        out = make_tool().invoke({"text": server.url + "/a", "url": None})
    assert out.startswith(f"Summary of {server.url}/a (") and len(server.requests) == 1


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({"text": None, "url": None}, "nothing to summarize"),
        ({"text": "   ", "url": ""}, "nothing to summarize"),
        ({"text": "some text", "url": "https://example.com"}, "not both"),
        ({}, "nothing to summarize"),
    ],
)
def test_bad_arguments_are_observations(args: dict[str, Any], expected: str) -> None:
    model = scripted()
    obs = run_tool(make_tool(model), args, timeout_s=10)
    assert obs.error and "invalid input for summarize" in obs.text and expected in obs.text
    assert model.calls == []


def test_too_long_text_is_an_observation() -> None:
    obs = run_tool(make_tool(summarize_max_chars=1_000), {"text": "x " * 600}, timeout_s=10)
    assert obs.error and "the limit is 1,000 (web.summarize_max_chars)" in obs.text


def test_not_a_url() -> None:
    obs = run_tool(make_tool(), {"url": "ftp://example.com/file"}, timeout_s=10)
    assert obs.error and "is not an http(s) address" in obs.text


def test_blocked_address_is_an_observation() -> None:
    with LoopbackServer(article) as server:
        obs = run_tool(make_tool(), {"url": server.url + "/"}, timeout_s=10)
    assert obs.error and "only fetches public http(s) addresses" in obs.text
    assert server.requests == []


@pytest.mark.parametrize(
    ("status", "body", "content_type", "expected"),
    [
        (404, b"", "text/html", "the web page: no such page (HTTP 404); check the URL"),
        (503, b"", "text/html", "the web page has a server problem (HTTP 503)"),
        (200, b"%PDF-1.7", "application/pdf", "summarize reads HTML and plain-text pages only"),
        (200, b"<html><body></body></html>", "text/html", "has no readable text"),
    ],
)
def test_page_failures_are_observations(
    status: int, body: bytes, content_type: str, expected: str
) -> None:
    model = scripted()
    with serving(lambda req, conn: reply(conn, status, body, {"Content-Type": content_type})) \
            as server:
        obs = run_tool(make_tool(model), {"url": server.url + "/doc"}, timeout_s=10)
    assert obs.error and expected in obs.text
    assert model.calls == []


def test_plain_text_page() -> None:
    model = scripted()
    body = b"Line one of the notes.\nLine two of the notes.\n"
    with serving(lambda req, conn: reply(conn, 200, body, {"Content-Type": "text/plain"})) \
            as server:
        out = make_tool(model).invoke({"url": server.url + "/notes.txt"})
    assert "(10 words)" in out and "Line two of the notes." in model.calls[0]["messages"][-1].content


def test_time_limit_is_an_observation() -> None:
    tool = make_tool()
    tool.max_seconds = 0
    obs = run_tool(tool, {"text": BOOK[:50_000]}, timeout_s=10)
    assert obs.error and "the time limit of 0 s passed" in obs.text
    assert "raise agent.tool_timeout_s" in obs.text


def test_model_failure_is_an_observation() -> None:
    failing = ScriptedChatModel(responses=[ModelError("llama.cpp refused the request: boom")])
    obs = run_tool(make_tool(failing), {"text": "Some text."}, timeout_s=10)
    assert obs.error and "the model failed while summarizing" in obs.text


def test_progress_events_through_the_tool() -> None:
    handler = Progress()
    model = scripted()
    make_tool(model).invoke({"text": BOOK[:100_000]}, config={"callbacks": [handler]})
    assert len(handler.events) == len(model.calls) > 1
    assert handler.events[-1]["done"] == handler.events[-1]["total"]


async def test_async_tool_with_a_url_and_events() -> None:
    handler = AsyncProgress()
    with serving(article) as server:
        out = await make_tool().ainvoke({"url": server.url + "/a"}, config={"callbacks": [handler]})
    assert out.startswith("Summary of ") and len(handler.events) == 1


async def test_async_runner_observation() -> None:
    obs = await arun_tool(make_tool(), {"text": None, "url": None}, timeout_s=10)
    assert obs.error and "nothing to summarize" in obs.text


def test_tool_uses_the_configured_context_and_time_limit() -> None:
    config = Config(web=WebConfig(summarize_max_chars=5_000))
    config.model.n_ctx = 2048
    config.agent.tool_timeout_s = 42
    chain = SummarizeTool(config=config, chat_model=scripted())._chain()
    assert (chain.context_tokens, chain.max_chars, chain.max_seconds) == (2048, 5_000, 42)


def test_registered_with_examples() -> None:
    tools: list[Any] = []
    register_into(lambda tool, **_: tools.append(tool), None)
    (tool,) = tools
    assert tool.name == "summarize" and tool.chat_model is None  # built on first use
    examples = tool.metadata["examples"]
    assert examples and all(set(e["input"]) == {"text", "url"} for e in examples)
    assert {"text": None, "url": "https://example.com/rivers"} in [e["input"] for e in examples]


def test_the_react_grammar_can_express_either_argument() -> None:
    tools = [make_tool()]
    assert step_accepted(tools, "summarize", '{"url": "https://example.com/a"}')
    assert step_accepted(tools, "summarize", '{"text": "Rivers flow.", "url": null}')
    assert step_accepted(tools, "summarize", '{"text": "' + "a" * 3000 + '"}')


REPORT = "\n\n".join(
    f"Section {n}. " + paragraph
    for n, paragraph in enumerate(
        [
            "The city council of Riverton met on Monday to discuss the new flood defences. "
            "Engineers said the old walls along the Avon river were built in 1952 and can no "
            "longer hold the spring floods, which have grown higher in each of the last ten years.",
            "The proposal is a chain of earth embankments, three pumping stations and a wetland "
            "park north of the town that would store water during storms. The plan would cost "
            "twelve million euros, two thirds of it paid by the national government.",
            "Shop owners on the river front supported the plan but asked that building work stop "
            "during the summer market season. Farmers north of the town worried that the wetland "
            "park would take good farmland; the council offered to rent the land instead of "
            "buying it.",
            "The council voted nine to two in favour. Work will start next March and should end "
            "within three years. A public meeting about the wetland park will be held in the town "
            "hall in May, and residents can send written comments until the end of April.",
        ]
        * 3,
        start=1,
    )
)


@pytest.mark.integration
def test_map_reduce_with_the_embedded_model(tmp_path: Any) -> None:
    from tooldeck.config import ModelConfig
    from tooldeck.models import get_chat_model

    model = get_chat_model(ModelConfig(), tmp_path)
    config = Config(model=ModelConfig(n_ctx=1024), data_dir=tmp_path)  # a small budget: 2 chunks
    tool = SummarizeTool(config=config, chat_model=model, max_seconds=900)
    handler = Progress()
    out = tool.invoke({"text": REPORT}, config={"callbacks": [handler]})
    head, summary = out.split("\n", 1)
    assert head == f"Summary of the text ({len(REPORT.split()):,} words):"
    assert summary.strip()
    stages = [e["stage"] for e in handler.events]
    assert stages.count("map") >= 2 and stages[-1] == "reduce"
    assert handler.events[-1]["done"] == handler.events[-1]["total"]

