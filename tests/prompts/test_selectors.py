"""Few-shot example selectors: n-gram overlap, semantic, MMR, the token budget, example files."""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path

import pytest
from langchain_core.example_selectors import BaseExampleSelector
from langchain_core.prompts import PromptTemplate

from tooldeck.config import ModelConfig
from tooldeck.errors import ConfigError
from tooldeck.models.embeddings import LocalEmbeddings
from tooldeck.prompts.selectors import (
    MMRExampleSelector,
    NGramOverlapExampleSelector,
    TokenBudgetSelector,
    load_examples,
    mmr_selector,
    ngram_overlap_score,
    semantic_selector,
)

# The design seed's food example. Our sentences, not the seed's wording: chosen so that the
# stated orders hold under LangChain's scoring (sentence BLEU, whitespace tokens, case-sensitive).
# Kimchi shares "is my favorite" and "food", pasta shares "party", the other two share nothing.
FOOD = [
    {"input": "Kimchi is my favorite food", "output": "Korean"},
    {"input": "Chocolate tastes sweet", "output": "snack"},
    {"input": "I eat pasta at the party", "output": "Italian"},
    {"input": "Americano wakes me up", "output": "coffee"},
]
FOOD_QUESTION = {"input": "Sushi is my favorite choice for party food"}

NEWS = [
    {"input": "Heavy rain and storms are forecast for the weekend", "output": "weather"},
    {"input": "Temperatures will drop sharply with snow expected on Tuesday", "output": "weather"},
    {"input": "Stock markets fell as inflation fears hit investors", "output": "economy"},
    {"input": "The central bank raised interest rates to cool the economy", "output": "economy"},
    {"input": "The home team won the football final in extra time", "output": "sport"},
]
NEWS_QUESTION = {"input": "I want to know the economy trends and weather this week."}


def _first_words(examples: list[dict[str, str]]) -> list[str]:
    return [e["input"].split()[0] if "pasta" not in e["input"] else "pasta" for e in examples]


# -- n-gram overlap --------------------------------------------------------------------------

def test_ngram_score_none_some_complete() -> None:
    """LangChain community's own score test: none 0, some strictly between, complete 1."""
    assert ngram_overlap_score("Spot can run.", "My dog barks.") == 0.0
    assert 0.0 < ngram_overlap_score("Spot can run.", "See Spot run.") < 1.0
    assert ngram_overlap_score("Spot can run.", "Spot can run.") == pytest.approx(1.0)


def test_ngram_score_matches_nltk_by_hand() -> None:
    """Values worked out from NLTK's sentence_bleu (method1, auto_reweigh)."""
    # 3 tokens: weights 1/3 over n = 1..3; p1 = 2/3, p2 = 0 -> 0.1/2, p3 = 0 -> 0.1/1; no penalty.
    assert ngram_overlap_score("Spot can run.", "See Spot run.") == pytest.approx(
        (2 / 3 * 0.05 * 0.1) ** (1 / 3))
    # 8 tokens vs 5: p1 = 4/8, p2 = 2/7, p3 = 1/6, p4 = 0 -> 0.1/5; hypothesis longer: no penalty.
    assert ngram_overlap_score(FOOD_QUESTION["input"], FOOD[0]["input"]) == pytest.approx(
        (0.5 * 2 / 7 * 1 / 6 * 0.02) ** 0.25)
    # Hypothesis shorter than the reference: brevity penalty exp(1 - 6/4).
    assert ngram_overlap_score("a b c d", "a b c d e f") == pytest.approx(math.exp(1 - 6 / 4))
    # Clipping: a repeated word counts only as often as the reference has it.
    assert ngram_overlap_score("the the the the", "the cat") == pytest.approx(
        (1 / 4 * 0.1 / 3 * 0.1 / 2 * 0.1 / 1) ** 0.25)
    assert ngram_overlap_score("", "anything") == 0.0


def test_ngram_threshold_minus_one_orders_all() -> None:
    selector = NGramOverlapExampleSelector(FOOD, threshold=-1.0)
    assert isinstance(selector, BaseExampleSelector)
    assert _first_words(selector.select_examples(FOOD_QUESTION)) == [
        "Kimchi", "pasta", "Chocolate", "Americano"]


def test_ngram_threshold_zero_drops_no_overlap() -> None:
    selector = NGramOverlapExampleSelector(FOOD, threshold=0.0)
    assert _first_words(selector.select_examples(FOOD_QUESTION)) == ["Kimchi", "pasta"]


def test_ngram_threshold_above_zero_and_above_one() -> None:
    selector = NGramOverlapExampleSelector(FOOD, threshold=0.1)
    assert _first_words(selector.select_examples(FOOD_QUESTION)) == ["Kimchi"]
    selector.threshold = 1.0 + 1e-9
    assert selector.select_examples(FOOD_QUESTION) == []


def test_ngram_community_selector_cases() -> None:
    """LangChain community's selector tests, same examples, same answers."""
    examples = [
        {"input": "See Spot run.", "output": "foo1"},
        {"input": "My dog barks.", "output": "foo2"},
        {"input": "Spot can run.", "output": "foo3"},
    ]
    selector = NGramOverlapExampleSelector(examples, threshold=0.0)
    assert selector.select_examples({"input": "Spot can run."}) == [examples[2], examples[0]]
    selector.threshold = 1.0 + 1e-9
    selector.add_example({"input": "Spot plays fetch.", "output": "foo4"})
    assert selector.select_examples({"input": "Spot can run."}) == []
    selector.threshold = -1.0
    ordered = selector.select_examples({"input": "Spot can run."})
    assert ordered[:2] == [examples[2], examples[0]] and len(ordered) == 4


def test_ngram_question_from_first_value_without_input_key() -> None:
    selector = NGramOverlapExampleSelector(FOOD, threshold=0.0)
    assert _first_words(selector.select_examples({"q": FOOD_QUESTION["input"]})) == [
        "Kimchi", "pasta"]


# -- semantic similarity and MMR (the real embedder) -----------------------------------------

@pytest.fixture(scope="module")
def embeddings() -> LocalEmbeddings:
    return LocalEmbeddings()


def test_semantic_picks_nearest(embeddings: LocalEmbeddings) -> None:
    selector = semantic_selector(NEWS, embeddings, k=1, input_keys=["input"])
    picked = selector.select_examples({"input": "Will it snow or rain tomorrow?"})
    assert [e["output"] for e in picked] == ["weather"]
    picked = selector.select_examples({"input": "Who won the football match?"})
    assert [e["output"] for e in picked] == ["sport"]


def test_mmr_picks_one_weather_one_economy(embeddings: LocalEmbeddings) -> None:
    selector = mmr_selector(NEWS, embeddings, k=2, fetch_k=5, lambda_mult=0.5,
                            input_keys=["input"])
    assert isinstance(selector, MMRExampleSelector)
    picked = selector.select_examples(NEWS_QUESTION)
    assert sorted(e["output"] for e in picked) == ["economy", "weather"]
    picked = asyncio.run(selector.aselect_examples(NEWS_QUESTION))
    assert sorted(e["output"] for e in picked) == ["economy", "weather"]


def test_mmr_lambda_reaches_the_store(embeddings: LocalEmbeddings) -> None:
    """lambda 1 is plain similarity: MMR then returns what the semantic selector returns."""
    mmr = mmr_selector(NEWS, embeddings, k=3, fetch_k=5, lambda_mult=1.0, input_keys=["input"])
    sem = semantic_selector(NEWS, embeddings, k=3, input_keys=["input"])
    assert mmr.select_examples(NEWS_QUESTION) == sem.select_examples(NEWS_QUESTION)


# -- the token budget -------------------------------------------------------------------------

class _Ranked(BaseExampleSelector):
    """Returns its examples in a fixed order (a test double)."""

    def __init__(self, examples: list[dict[str, str]]) -> None:
        self.examples = examples

    def add_example(self, example: dict[str, str]) -> None:
        self.examples.append(example)

    def select_examples(self, input_variables: dict[str, str]) -> list[dict[str, str]]:
        return list(self.examples)


def _example(rank: int, chars: int) -> dict[str, str]:
    return {"input": f"q{rank}", "output": "x" * chars}


def test_budget_for_model_context_drops_lowest_ranked_whole() -> None:
    n_ctx = ModelConfig().n_ctx
    assert n_ctx == 4096
    # Each example about 1,000 tokens by the chars/3 estimate; 4096 - 512 answer - 500 prompt
    # leaves 3084: three fit, the fourth and fifth are dropped, none is cut.
    ranked = [_example(i, 3000) for i in range(5)]
    selector = TokenBudgetSelector.for_context(_Ranked(ranked), n_ctx, reserve=512,
                                               prompt_tokens=500)
    picked = selector.select_examples({"input": "a question"})
    assert picked == ranked[:3]
    assert all(len(e["output"]) == 3000 for e in picked)
    assert asyncio.run(selector.aselect_examples({"input": "a question"})) == ranked[:3]


def test_budget_stops_at_first_misfit_even_if_a_later_one_is_small() -> None:
    ranked = [_example(0, 30), _example(1, 300), _example(2, 3)]
    selector = TokenBudgetSelector(_Ranked(ranked), max_tokens=50)
    assert selector.select_examples({"input": "q"}) == ranked[:1]


def test_budget_counts_the_question_and_uses_the_counter_and_template() -> None:
    ranked = [_example(0, 10), _example(1, 10)]
    words = len  # a counter that is one token per character

    template = PromptTemplate.from_template("Q: {input}\nA: {output}")
    per_example = len(template.format(**ranked[0]))
    budget = len("question") + per_example + len("\n\n") + per_example
    selector = TokenBudgetSelector(_Ranked(ranked), budget, count_tokens=words,
                                   format_example=template.format)
    assert selector.select_examples({"input": "question"}) == ranked
    selector.max_tokens = budget - 1
    assert selector.select_examples({"input": "question"}) == ranked[:1]
    assert selector.select_examples({"input": "q" * budget}) == []


def test_budget_with_nothing_left_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="budget"):
        TokenBudgetSelector.for_context(_Ranked([]), 4096, reserve=4096)


def test_budget_wraps_ngram() -> None:
    inner = NGramOverlapExampleSelector(FOOD, threshold=-1.0)
    selector = TokenBudgetSelector(inner, max_tokens=30)
    # The question is 14 tokens, Kimchi 16 (30 in all); pasta, ranked second, would pass 30.
    assert _first_words(selector.select_examples(FOOD_QUESTION)) == ["Kimchi"]


# -- example files ----------------------------------------------------------------------------

def test_load_yaml_and_jsonl(tmp_path: Path) -> None:
    yml = tmp_path / "food.yaml"
    yml.write_text("- input: Kimchi is my favorite food\n  output: Korean\n"
                   "- input: Chocolate tastes sweet\n  output: snack\n", "utf-8")
    assert load_examples(yml, required_keys=["output"]) == FOOD[:2]
    wrapped = tmp_path / "food.yml"
    wrapped.write_text("examples:\n  - {input: a, output: b}\n", "utf-8")
    assert load_examples(wrapped) == [{"input": "a", "output": "b"}]
    jsonl = tmp_path / "food.jsonl"
    jsonl.write_text("\n".join(json.dumps(e) for e in FOOD) + "\n\n", "utf-8")
    assert load_examples(jsonl, required_keys=["output"]) == FOOD


def test_load_missing_key_named_with_file_and_place(tmp_path: Path) -> None:
    jsonl = tmp_path / "bad.jsonl"
    jsonl.write_text('{"input": "a", "output": "b"}\n{"input": "c"}\n', "utf-8")
    with pytest.raises(ConfigError, match=r"bad\.jsonl line 2: missing key 'output'"):
        load_examples(jsonl, required_keys=["output"])
    yml = tmp_path / "bad.yaml"
    yml.write_text("- {input: a}\n- {output: b}\n", "utf-8")
    with pytest.raises(ConfigError, match=r"bad\.yaml example 1: missing key 'input'"):
        load_examples(yml)


def test_load_rejects_non_text_and_non_mapping(tmp_path: Path) -> None:
    jsonl = tmp_path / "n.jsonl"
    jsonl.write_text('{"input": 3}\n', "utf-8")
    with pytest.raises(ConfigError, match="line 1: key 'input' is not text"):
        load_examples(jsonl)
    jsonl.write_text('["input"]\n', "utf-8")
    with pytest.raises(ConfigError, match="line 1: an example must be a mapping"):
        load_examples(jsonl)


def test_load_bad_encoding_and_syntax_name_the_file(tmp_path: Path) -> None:
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("- input: caf\xe9\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=r"latin\.yaml: not UTF-8"):
        load_examples(latin)
    broken = tmp_path / "broken.yaml"
    broken.write_text("- input: [unclosed\n", "utf-8")
    with pytest.raises(ConfigError, match=r"broken\.yaml is not valid YAML"):
        load_examples(broken)
    lines = tmp_path / "broken.jsonl"
    lines.write_text('{"input": "a"}\n{input: b}\n', "utf-8")
    with pytest.raises(ConfigError, match=r"broken\.jsonl line 2 is not valid JSON"):
        load_examples(lines)
    with pytest.raises(ConfigError, match="must end in"):
        load_examples(tmp_path / "x.txt")
    with pytest.raises(ConfigError, match="cannot be read"):
        load_examples(tmp_path / "missing.yaml")
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("just text\n", "utf-8")
    with pytest.raises(ConfigError, match="list of examples"):
        load_examples(scalar)


def test_load_size_bounds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tooldeck.prompts.example_files as selectors

    big = tmp_path / "big.jsonl"
    big.write_text('{"input": "a"}\n' * 5, "utf-8")
    monkeypatch.setattr(selectors, "MAX_EXAMPLES", 4)
    with pytest.raises(ConfigError, match="over 4 examples"):
        load_examples(big)
    monkeypatch.setattr(selectors, "MAX_EXAMPLES_BYTES", 10)
    with pytest.raises(ConfigError, match="over the 10-byte limit"):
        load_examples(big)
