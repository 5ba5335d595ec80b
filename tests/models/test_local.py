"""The embedded llama.cpp chat model: invoke, stream, stop, seed, grammar, JSON schema."""

from __future__ import annotations

from typing import Any

import pytest

from tooldeck.config import ModelConfig
from tooldeck.errors import ModelError, ModelNotFoundError
from tooldeck.models import get_chat_model

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def chat(tmp_path_factory: Any) -> Any:
    return get_chat_model(ModelConfig(max_tokens=24), tmp_path_factory.mktemp("d"))


def test_invoke_and_stream_agree(chat: Any) -> None:
    message = chat.invoke("Say hello.")
    assert isinstance(message.content, str) and message.content
    assert message.usage_metadata["output_tokens"] > 0
    streamed = "".join(chunk.text for chunk in chat.stream("Say hello."))
    assert streamed == message.content  # temperature 0, same seed


def test_stop_sequence(chat: Any) -> None:
    text = chat.invoke("Count from 1 to 10 separated by commas.", stop=["5"]).content
    assert "5" not in text and "6" not in text


def test_grammar_constrains_output(chat: Any) -> None:
    grammar = 'root ::= ("yes" | "no") "!"'
    assert chat.invoke("Is the sky blue?", grammar=grammar).content in ("yes!", "no!")


def test_json_schema(chat: Any) -> None:
    import json

    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    data = json.loads(
        chat.invoke("Give a number as JSON.", json_schema=schema, max_tokens=60).content
    )
    assert isinstance(data["n"], int)


def test_bad_grammar_is_a_clear_error(chat: Any) -> None:
    with pytest.raises(ModelError, match="llama.cpp refused the request"):
        chat.invoke("x", grammar="root ::= (((")


def test_temperature_and_seed_are_reproducible(tmp_path: Any) -> None:
    model = get_chat_model(ModelConfig(temperature=1.0, seed=7, max_tokens=16), tmp_path)
    assert model.invoke("Name a colour.").content == model.invoke("Name a colour.").content


def test_missing_gguf(tmp_path: Any) -> None:
    with pytest.raises(ModelNotFoundError, match="not found"):
        get_chat_model(ModelConfig(provider="gguf", name=str(tmp_path / "x.gguf")), tmp_path)


def test_context_overflow_names_the_settings(tmp_path: Any) -> None:
    model = get_chat_model(ModelConfig(n_ctx=512, max_tokens=8), tmp_path)
    with pytest.raises(ModelError, match="exceeds the available context size.*raise model.n_ctx"):
        model.invoke("hello " * 2000)


def test_batch(chat: Any) -> None:
    replies = chat.batch(["Say hi.", "Say bye."])
    assert len(replies) == 2 and all(r.content for r in replies)
