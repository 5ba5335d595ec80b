"""ConversationMemory: the window, summary and vector kinds, and the token budget."""

from __future__ import annotations

import logging
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import BaseMessage

from tooldeck.config_schema import MemoryConfig
from tooldeck.errors import InputError
from tooldeck.memory.budget import approx_tokens, message_cost
from tooldeck.memory.conversation import MAX_SAVED_CHARS, ConversationMemory, open_memory
from tooldeck.memory.summary import model_summarizer
from tooldeck.testing import ScriptedChatModel

TOPICS = ["apples", "volcano", "guitar", "taxes", "penguin", "rocket", "bread", "chess"]


def _memory(tmp_path: Path, **kwargs: Any) -> ConversationMemory:
    options = {k: kwargs.pop(k) for k in list(kwargs) if k in MemoryConfig.model_fields}
    return ConversationMemory(MemoryConfig(**options), tmp_path / "data", **kwargs)


def _texts(messages: list[BaseMessage]) -> list[str]:
    return [str(m.content) for m in messages]


def _cost(messages: list[BaseMessage]) -> int:
    return sum(message_cost(m, approx_tokens) for m in messages)


def _bag_of_words(texts: list[str]) -> list[list[float]]:
    """A deterministic embedder: one dimension per topic word."""
    return [[float(t.lower().count(word)) for word in TOPICS] + [0.1] for t in texts]


# -- window ----------------------------------------------------------------------------------


def test_window_keeps_the_last_turns_whole_and_in_order(tmp_path: Path) -> None:
    memory = _memory(tmp_path, window_turns=2)
    for n in range(5):
        memory.save("s", f"t{n}", f"q{n}", f"a{n}")
    got = memory.load("s", "next?", max_tokens=1000)
    assert _texts(got) == ["q3", "a3", "q4", "a4"]
    assert [m.type for m in got] == ["human", "ai", "human", "ai"]


def test_saving_a_turn_twice_stores_it_once(tmp_path: Path) -> None:
    memory = _memory(tmp_path)
    memory.save("s", "t0", "q", "a")
    memory.save("s", "t0", "q", "a")
    assert len(memory.store.get_messages("s")) == 2


def test_sessions_never_see_each_other(tmp_path: Path) -> None:
    memory = _memory(tmp_path, kinds=["window", "vector"], embed=_bag_of_words)
    memory.save("alice", "t0", "my apples are red", "noted")
    memory.save("bob", "t0", "my volcano is loud", "noted")
    for n in range(1, 8):
        memory.save("bob", f"t{n}", f"filler {n}", "ok")
    assert _texts(memory.load("alice", "apples?", 1000)) == ["my apples are red", "noted"]
    bob = " ".join(_texts(memory.load("bob", "apples?", 1000)))
    assert "apples" not in bob and "volcano" in bob


@pytest.mark.parametrize("budget", [0, 3, 10, 25, 45, 77, 200])
def test_the_budget_holds_and_only_whole_turns_are_dropped(tmp_path: Path, budget: int) -> None:
    memory = _memory(tmp_path, window_turns=5)
    for n in range(5):
        memory.save("s", f"t{n}", f"question number {n} " * (n + 1), f"answer {n}")
    got = memory.load("s", "q", max_tokens=budget)
    assert _cost(got) <= budget
    stored = _texts(memory.store.get_messages("s"))
    texts = _texts(got)
    assert texts == stored[len(stored) - len(texts) :]  # a suffix of whole turns
    assert len(texts) % 2 == 0


def test_no_kinds_means_no_history_but_turns_are_still_kept(tmp_path: Path) -> None:
    memory = _memory(tmp_path, kinds=[])
    memory.save("s", "t0", "q0", "a0")
    assert memory.load("s", "q", 1000) == []
    assert len(memory.store.get_messages("s")) == 2


@pytest.mark.parametrize(("name", "rule"), [("a/b", "'/'"), ("..", "'..'"), ("a\x00", "NUL")])
def test_bad_session_names_fail_load_and_save_naming_the_rule(
    tmp_path: Path, name: str, rule: str
) -> None:
    memory = _memory(tmp_path)
    with pytest.raises(InputError, match=re.escape(rule)):
        memory.load(name, "q", 0)
    with pytest.raises(InputError, match=re.escape(rule)):
        memory.save(name, "t0", "q", "a")
    assert memory.store.list_sessions() == []


def test_max_history_tokens_lowers_the_budget(tmp_path: Path) -> None:
    memory = _memory(tmp_path, max_history_tokens=12)
    for n in range(3):
        memory.save("s", f"t{n}", f"q{n}", f"a{n}")
    assert _texts(memory.load("s", "q", max_tokens=1000)) == ["q2", "a2"]


def test_a_one_megabyte_message_is_saved_and_loaded_as_a_bounded_excerpt(tmp_path: Path) -> None:
    memory = _memory(tmp_path)
    huge = "word " * 200_000  # 1 MB
    memory.save("s", "t0", huge, "that is long")
    saved = str(memory.store.get_messages("s")[0].content)
    assert len(saved) <= MAX_SAVED_CHARS + 200
    assert saved.startswith("word word") and "1,000,000 characters" in saved
    got = memory.load("s", "q", max_tokens=400)
    assert _cost(got) <= 400
    assert _texts(got)[1] == "that is long"
    first = _texts(got)[0]
    assert first.startswith("word word") and "shortened for memory" in first
    assert got[0].additional_kwargs.get("memory_excerpt") is True


def test_text_that_is_not_valid_unicode_is_saved_repaired(tmp_path: Path) -> None:
    memory = _memory(tmp_path)
    memory.save("s", "t0", "bad \udc80 half", "ok \x00 nul")
    assert _texts(memory.load("s", "q", 1000)) == ["bad ? half", "ok \x00 nul"]


def test_a_long_message_keeps_whole_words_in_its_excerpt(tmp_path: Path) -> None:
    memory = _memory(tmp_path)
    memory.save("s", "t0", "alpha beta gamma delta " * 100, "short")
    first = _texts(memory.load("s", "q", max_tokens=100))[0]
    head = first.split("\n")[0]
    assert re.fullmatch(r"((alpha|beta|gamma|delta) ?)+", head)


# -- summary ---------------------------------------------------------------------------------


def test_older_turns_are_summarised_incrementally(tmp_path: Path) -> None:
    model = ScriptedChatModel(responses=["Bob likes apples.", "Bob likes apples and chess."])
    memory = _memory(
        tmp_path, kinds=["window", "summary"], window_turns=2,
        summarize=model_summarizer(model, 64),
    )
    memory.save("s", "t0", "I am Bob and I like apples", "Hello Bob")
    memory.save("s", "t1", "q1", "a1")
    assert model.calls == []  # the window still holds everything
    memory.save("s", "t2", "q2", "a2")
    assert len(model.calls) == 1
    first_prompt = str(model.calls[0]["messages"][-1].content)
    assert "I like apples" in first_prompt and "q1" not in first_prompt
    assert model.calls[0]["max_tokens"] == 64
    memory.save("s", "t3", "I also like chess", "Noted")
    assert len(model.calls) == 2
    second_prompt = str(model.calls[1]["messages"][-1].content)
    assert "Bob likes apples." in second_prompt  # the summary so far ...
    assert "q1" in second_prompt and "I like apples" not in second_prompt  # ... + only the new
    got = memory.load("s", "what do I like?", max_tokens=1000)
    assert got[0].type == "system" and got[0].additional_kwargs["memory"] == "summary"
    assert "Bob likes apples and chess." in str(got[0].content)
    assert _texts(got[1:]) == ["q2", "a2", "I also like chess", "Noted"]


def test_summary_alone_keeps_recent_turns_within_its_token_limit(tmp_path: Path) -> None:
    model = ScriptedChatModel(responses=["summary"], repeat_last=True)
    memory = _memory(
        tmp_path, kinds=["summary"], summary_max_tokens=40,
        summarize=model_summarizer(model, 40),
    )
    for n in range(10):
        memory.save("s", f"t{n}", f"question {n} " * 3, f"answer {n}")
    got = memory.load("s", "q", max_tokens=1000)
    assert got[0].type == "system"
    assert _cost(got[1:]) <= 40 and _texts(got)[-1] == "answer 9"
    assert 0 < len(model.calls) < 10  # folded in batches, not on every turn


ECHO = "Summary so far:\nnone\n\nRewrite the summary so that it also covers the new lines."


LOOP = "AI: Two cats, noted.\n\nAI: Two cats, noted.\n\nAI: Two cats, noted.\nAI: Two"


@pytest.mark.parametrize("failure", [RuntimeError("model crashed"), "", "   ", ECHO, LOOP])
def test_a_failed_or_empty_summary_drops_older_turns_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, failure: Any
) -> None:
    model = ScriptedChatModel(responses=[failure], repeat_last=True)
    memory = _memory(
        tmp_path, kinds=["window", "summary"], window_turns=1,
        summarize=model_summarizer(model, 32),
    )
    with caplog.at_level(logging.WARNING, logger="tooldeck.memory"):
        for n in range(3):
            memory.save("s", f"t{n}", f"q{n}", f"a{n}")  # never raises
    assert "dropping" in caplog.text
    assert _texts(memory.load("s", "q", 1000)) == ["q2", "a2"]
    assert len(memory.store.get_messages("s")) == 6  # dropped from memory, not deleted


def test_summary_without_a_model_drops_older_turns(
    config: Any, caplog: pytest.LogCaptureFixture
) -> None:
    config = config.model_copy(
        update={"memory": MemoryConfig(kinds=["window", "summary"], window_turns=1)}
    )
    memory = open_memory(config)
    with caplog.at_level(logging.WARNING, logger="tooldeck.memory"):
        memory.save("s", "t0", "q0", "a0")
        memory.save("s", "t1", "q1", "a1")
    assert "no model to summarise" in caplog.text
    assert _texts(memory.load("s", "q", 1000)) == ["q1", "a1"]


def test_the_summary_is_stored_in_the_same_database(tmp_path: Path) -> None:
    model = ScriptedChatModel(responses=["The user said hello."], repeat_last=True)
    memory = _memory(tmp_path, kinds=["window", "summary"], window_turns=1,
                     summarize=model_summarizer(model, 32))
    memory.save("s", "t0", "hello", "hi")
    memory.save("s", "t1", "q1", "a1")
    reopened = _memory(tmp_path, kinds=["window", "summary"], window_turns=1)
    assert "The user said hello." in str(reopened.load("s", "q", 1000)[0].content)
    conn = sqlite3.connect(tmp_path / "data" / "memory.sqlite")
    try:
        rows = conn.execute("SELECT session, text, covered_seq FROM summaries").fetchall()
    finally:
        conn.close()
    assert rows == [("s", "The user said hello.", 2)]
    reopened.clear("s")
    assert reopened.load("s", "q", 1000) == []


def test_clear_forgets_one_session_only(tmp_path: Path) -> None:
    model = ScriptedChatModel(responses=["The user said hello."], repeat_last=True)
    memory = _memory(tmp_path, kinds=["window", "summary"], window_turns=1,
                     summarize=model_summarizer(model, 32))
    for session in ("a", "b"):
        memory.save(session, "t0", "hello", "hi")
        memory.save(session, "t1", "q1", "a1")
    memory.clear("a")
    assert memory.load("a", "q", 1000) == []
    assert memory.store.get_summary("a") is None
    assert _texts(memory.load("b", "q", 1000))[1:] == ["q1", "a1"]
    assert {s.name: s.message_count for s in memory.store.list_sessions()} == {"a": 0, "b": 4}
    with pytest.raises(InputError):
        memory.clear("../x")


# -- vector ----------------------------------------------------------------------------------


def test_vector_recalls_the_most_similar_older_turn_before_the_window(tmp_path: Path) -> None:
    memory = _memory(tmp_path, kinds=["window", "vector"], window_turns=2, vector_k=1,
                     embed=_bag_of_words)
    for n, topic in enumerate(TOPICS):
        memory.save("s", f"t{n}", f"tell me about {topic}", f"{topic} are interesting")
    got = memory.load("s", "what did you say about the volcano?", 1000)
    assert _texts(got)[-4:] == [
        "tell me about bread", "bread are interesting", "tell me about chess",
        "chess are interesting",
    ]
    recalled = got[:2]
    assert [m.additional_kwargs.get("memory") for m in recalled] == ["recalled", "recalled"]
    assert "tell me about volcano" in str(recalled[0].content)
    assert str(recalled[0].content).startswith("(recalled")


def test_vectors_are_float32_blobs_and_old_turns_are_embedded_when_needed(tmp_path: Path) -> None:
    plain = _memory(tmp_path, window_turns=1)
    for n, topic in enumerate(TOPICS[:4]):
        plain.save("s", f"t{n}", f"tell me about {topic}", "ok")
    memory = _memory(tmp_path, kinds=["window", "vector"], window_turns=1, vector_k=1,
                     embed=_bag_of_words, embed_model_id="bow")
    got = memory.load("s", "guitar", 1000)
    assert "tell me about guitar" in str(got[0].content)
    conn = sqlite3.connect(tmp_path / "data" / "memory.sqlite")
    try:
        rows = conn.execute("SELECT model, length(vector), typeof(vector) FROM vectors").fetchall()
    finally:
        conn.close()
    assert rows and all(r == ("bow", 4 * (len(TOPICS) + 1), "blob") for r in rows)


def test_a_failing_embedder_costs_recall_not_the_turn(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(texts: list[str]) -> list[list[float]]:
        raise RuntimeError("embedder down")

    memory = _memory(tmp_path, kinds=["window", "vector"], window_turns=1, embed=broken)
    with caplog.at_level(logging.WARNING, logger="tooldeck.memory"):
        memory.save("s", "t0", "q0", "a0")
        memory.save("s", "t1", "q1", "a1")
        assert _texts(memory.load("s", "q0", 1000)) == ["q1", "a1"]
    assert "embedder down" in caplog.text


def test_vector_with_tooldecks_own_embedder(config: Any) -> None:
    config = config.model_copy(update={"memory": MemoryConfig(
        kinds=["window", "vector"], window_turns=1, vector_k=1)})
    memory = open_memory(config)
    memory.save("s", "t0", "My cat is called Whiskers.", "A lovely name for a cat.")
    memory.save("s", "t1", "What is the capital of France?", "Paris.")
    memory.save("s", "t2", "Is it going to rain tomorrow?", "I cannot tell.")
    got = memory.load("s", "What was the name of my pet?", 1000)
    assert "Whiskers" in str(got[0].content)
    assert _texts(got)[-2:] == ["Is it going to rain tomorrow?", "I cannot tell."]


# -- compaction order ------------------------------------------------------------------------


def test_compaction_drops_recalled_then_shortens_summary_then_drops_window(
    tmp_path: Path,
) -> None:
    summary = "The user is Bob. He likes apples. He lives in Oslo. He plays chess on Sundays."
    model = ScriptedChatModel(responses=[summary], repeat_last=True)
    memory = _memory(
        tmp_path, kinds=["window", "summary", "vector"], window_turns=2, vector_k=2,
        summarize=model_summarizer(model, 64), embed=_bag_of_words,
    )
    for n, topic in enumerate(TOPICS):
        memory.save("s", f"t{n}", f"tell me about {topic}", f"{topic} are interesting")
    full = memory.load("s", "apples and volcano", 10_000)
    kinds = [m.additional_kwargs.get("memory") for m in full]
    assert kinds == ["summary", *["recalled"] * 4, None, None, None, None]
    window_cost = _cost(full[5:])
    summary_cost = _cost(full[:1])

    no_recall = memory.load("s", "apples and volcano", window_cost + summary_cost)
    assert [m.additional_kwargs.get("memory") for m in no_recall] == ["summary", *[None] * 4]
    assert no_recall[0].content == full[0].content

    short = memory.load("s", "apples and volcano", window_cost + summary_cost - 5)
    assert short[0].type == "system" and str(short[0].content) != str(full[0].content)
    assert str(full[0].content).startswith(str(short[0].content))
    assert str(short[0].content).endswith(".")  # whole sentences
    assert _texts(short[1:]) == _texts(full[5:])

    tight = memory.load("s", "apples and volcano", window_cost - 1)
    assert _texts(tight) == _texts(full[7:])


# -- concurrency through the pipeline's path -------------------------------------------------


def test_sixteen_sessions_save_concurrently_with_summaries_and_vectors(tmp_path: Path) -> None:
    import threading

    def summarize(previous: str, messages: Any) -> str:
        return " ".join([previous, *(str(m.content).split()[0] for m in messages)]).strip()

    memory = _memory(
        tmp_path, kinds=["window", "summary", "vector"], window_turns=3,
        summarize=summarize, embed=_bag_of_words,
    )
    errors: list[BaseException] = []

    def work(name: str) -> None:
        try:
            for n in range(30):
                memory.save(name, f"t{n}", f"{name} asks {n}", f"{name} answers {n}")
                memory.load(name, f"{name} asks", 500)
        except BaseException as exc:  # reported to the test thread
            errors.append(exc)

    names = [f"s{i}" for i in range(16)]
    threads = [threading.Thread(target=work, args=(name,)) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert memory.store.integrity_check() == ["ok"]
    for name in names:
        messages = memory.store.get_messages(name)
        assert len(messages) == 60
        assert all(str(m.content).startswith(f"{name} ") for m in messages)
        summary = memory.store.get_summary(name)
        assert summary is not None and set(summary.text.split()) == {name}
        assert len(memory.store.get_vectors(name, "custom")) == 30
        assert _texts(memory.load(name, "q", 1000))[-1] == f"{name} answers 29"


@pytest.mark.parametrize(
    "kinds",
    [["window"], ["summary"], ["vector"], ["window", "summary"], ["window", "vector"],
     ["summary", "vector"], ["window", "summary", "vector"]],
)
def test_every_combination_stays_within_budget_with_whole_messages(
    tmp_path: Path, kinds: list[str]
) -> None:
    model = ScriptedChatModel(
        responses=["Facts one. Facts two. Facts three. Facts four."], repeat_last=True
    )
    memory = _memory(
        tmp_path, kinds=kinds, window_turns=3, vector_k=2, summary_max_tokens=60,
        summarize=model_summarizer(model, 60), embed=_bag_of_words,
    )
    for n, topic in enumerate(TOPICS * 2):
        memory.save("s", f"t{n}", f"tell me about {topic} " * (1 + n % 3), f"{topic} {n}")
    stored = set(_texts(memory.store.get_messages("s")))
    for budget in range(0, 200, 7):
        got = memory.load("s", "volcano and chess", budget)
        assert _cost(got) <= budget
        for message in got:
            tag = message.additional_kwargs.get("memory")
            text = str(message.content)
            if tag == "summary":
                assert "Facts one." in text and text.endswith(".")
            elif tag == "recalled":
                assert text.split(") ", 1)[1] in stored
            else:
                assert text in stored
