"""Grammars that make a small local model emit only well-formed agent steps.

The grammars are written for llama.cpp's llguidance engine (Lark syntax under a
``%llguidance`` header), which the embedded backend (xllamacpp) is built with: it is the engine
llama.cpp itself uses for JSON schemas. The ReAct grammar enumerates the offered tool names
and, for each, inlines the JSON schema of its arguments with ``%json``, so optional
properties, enums, arrays, integers, numbers, booleans, patterns and string lengths are all
honoured, or the step is a final answer.

Before it is inlined, a schema is tightened (:func:`grammar_schema`): a string with no
``maxLength`` is capped at :data:`STRING_CAP` characters, an array with no ``maxItems`` at
:data:`ARRAY_CAP` items, an object lists no properties beyond its own, formats llguidance does
not know are dropped, and the JSON is compact (``", "`` and ``": "`` separators) so a model
cannot pad it with whitespace. Rule names are positional (``act_3``, ``args_3``), so two tools
whose names differ only in punctuation (``my_tool``, ``my-tool``) never share a rule.

A string argument that holds a URL (``format: "uri"``, or a property named ``url`` or ending
in ``_url``) is narrowed, when URLs have been seen in the run (the question, the observations;
:func:`find_urls`), to exactly those strings: a small model copies a link character by
character instead of rewriting it (``http://`` into ``https://``, a dropped port). With none
seen, the argument stays free.

llama.cpp ignores a grammar it cannot compile and decodes freely, so every built-in tool's
grammar is checked by the tests with the ``llguidance`` package (the same engine).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from langchain_core.tools import BaseTool

# A step is cut at this many tokens; a Thought line is at most 160 characters, and a cut step
# (an argument near STRING_CAP) is parsed as malformed and reported back to the model.
GRAMMAR_MAX_TOKENS = 1024

# Longest string argument when the tool's schema sets no maxLength (long URLs and queries fit).
STRING_CAP = 2000

# Most items in an array argument when the tool's schema sets no maxItems.
ARRAY_CAP = 30

# The Thought before a final answer, as the ReAct prompt and its worked examples write it.
ANSWER_THOUGHT = "I know the answer"

# Most URLs a URL argument is narrowed to (the question's first, then the most recent).
URL_CHOICES_CAP = 64

__all__ = [
    "ANSWER_THOUGHT",
    "ARRAY_CAP",
    "GRAMMAR_MAX_TOKENS",
    "STRING_CAP",
    "URL_CHOICES_CAP",
    "SeenUrls",
    "find_urls",
    "grammar_schema",
    "json_value_rule",
    "react_answer_grammar",
    "react_grammar",
    "self_ask_grammar",
    "takes_url",
    "tool_args_schema",
    "with_url_choices",
]

_HEADER = "%llguidance {}"
_LINE = r"LINE: /[^\n]{1,160}/"
_COMPACT = {
    "whitespace_flexible": False,
    "key_separator": ": ",
    "item_separator": ", ",
    "lenient": True,  # a keyword llguidance lacks is ignored, not a grammar error
}
# Formats llguidance's JSON compiler knows; any other one is dropped (free text).
_FORMATS = frozenset(
    {"date-time", "time", "date", "duration", "email", "hostname", "ipv4", "ipv6", "uuid", "uri"}
)
# Keywords that only annotate a schema: left out of the grammar to keep it small.
_ANNOTATIONS = frozenset(
    {"title", "description", "default", "examples", "deprecated", "readOnly", "writeOnly",
     "$comment", "$schema", "$id"}
)  # fmt: skip
_SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SCHEMA_VALUES = (
    "items",
    "additionalProperties",
    "additionalItems",
    "contains",
    "not",
    "if",
    "then",
    "else",
    "propertyNames",
    "unevaluatedItems",
    "unevaluatedProperties",
)


def _lit(text: str) -> str:
    return json.dumps(text)


def _raw_args_schema(tool: BaseTool) -> dict[str, Any]:
    schema = tool.tool_call_schema
    raw: dict[str, Any] = (
        schema if isinstance(schema, dict) else schema.model_json_schema()  # type: ignore[union-attr]
    )
    return raw


def tool_args_schema(tool: BaseTool) -> dict[str, Any]:
    """The JSON schema of a tool's arguments, with ``$ref``s to ``$defs`` resolved."""
    raw = _raw_args_schema(tool)
    resolved: dict[str, Any] = _resolve(raw, raw.get("$defs", {}), depth=0)
    return resolved


def _resolve(node: Any, defs: dict[str, Any], depth: int) -> Any:
    if depth > 8:
        return {}
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return _resolve(defs.get(ref.rsplit("/", 1)[-1], {}), defs, depth + 1)
        return {k: _resolve(v, defs, depth + 1) for k, v in node.items() if k != "$defs"}
    if isinstance(node, list):
        return [_resolve(v, defs, depth + 1) for v in node]
    return node


def _tighten(node: Any) -> Any:
    """One schema node with annotations dropped and caps added (see the module docstring)."""
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _ANNOTATIONS or (key == "format" and value not in _FORMATS):
            continue
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {name: _tighten(sub) for name, sub in value.items()}
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            out[key] = [_tighten(sub) for sub in value]
        elif key in _SCHEMA_VALUES and isinstance(value, dict):
            out[key] = _tighten(value)
        else:
            out[key] = value
    kinds = out.get("type")
    kinds = set(kinds) if isinstance(kinds, list) else {kinds}
    if "string" in kinds and "maxLength" not in out and not {"enum", "const"} & set(out):
        out["maxLength"] = max(STRING_CAP, int(out.get("minLength", 0)))
    if "array" in kinds and "maxItems" not in out:
        out["maxItems"] = max(ARRAY_CAP, int(out.get("minItems", 0)))
    if "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


def grammar_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema as the grammar inlines it: tightened, compact, lenient (module docstring).

    Args:
        schema: A JSON schema (``$ref``s may point into its ``$defs``).

    Returns:
        A new schema with llguidance's ``x-guidance`` options set.
    """
    tightened: dict[str, Any] = _tighten(schema)
    return {**tightened, "x-guidance": dict(_COMPACT)}


def _json_rule(schema: dict[str, Any]) -> str:
    return "%json " + json.dumps(grammar_schema(schema), ensure_ascii=False)


def json_value_rule(schema: dict[str, Any]) -> str:
    """A whole grammar whose start is one JSON value valid for ``schema``."""
    return "\n".join([_HEADER, f"start: {_json_rule(schema)}"]) + "\n"


def react_grammar(
    tools: Sequence[BaseTool], *, allow_final: bool = True, urls: Sequence[str] = ()
) -> str:
    """The grammar of one ReAct step over the offered tools.

    Args:
        tools: The tools the model may call (names enumerated); none means the step must
            be a final answer.
        allow_final: Whether a ``Final Answer`` may end the step.
        urls: The URLs seen so far in the run; URL arguments may only be one of them (free
            when empty; see the module docstring).

    Returns:
        llguidance grammar text: ``Thought: ...`` then an action with schema-valid JSON input,
        or ``Final Answer: ...``.
    """
    rules: list[str] = []
    choices: list[str] = []
    for index, tool in enumerate(tools):
        head = _lit(f"Action: {tool.name}\nAction Input: ")
        rules.append(f"act_{index}: {head} args_{index}")
        schema = with_url_choices(_raw_args_schema(tool), urls)  # llguidance resolves $refs
        rules.append(f"args_{index}: {_json_rule(schema)}")
        choices.append(f"act_{index}")
    if allow_final or not choices:
        choices.append("final")
    lines = [
        _HEADER,
        r'start: "Thought: " LINE "\n" step',
        "step: " + " | ".join(choices),
        *rules,
        'final: "Final Answer: " LINE',
        _LINE,
    ]
    return "\n".join(lines) + "\n"


def react_answer_grammar() -> str:
    """The grammar of a ReAct step that must be the final answer.

    Its Thought is the one the prompt teaches before an answer (:data:`ANSWER_THOUGHT`), so a
    small model starts the answer the way its worked examples do instead of wandering.
    """
    head = _lit(f"Thought: {ANSWER_THOUGHT}\nFinal Answer: ")
    return "\n".join([_HEADER, f"start: {head} LINE", _LINE]) + "\n"


def self_ask_grammar(*, allow_follow_up: bool = True) -> str:
    """The grammar of one self-ask step: a follow-up question or the final answer.

    Args:
        allow_follow_up: Whether the step may be a follow-up question (else only the answer).
    """
    final = '"So the final answer is: " LINE'
    start = f'start: "Follow up: " LINE | {final}' if allow_follow_up else f"start: {final}"
    return "\n".join([_HEADER, start, _LINE]) + "\n"


# An http(s) URL as written in text; trailing sentence punctuation is not part of it.
_URL = re.compile(r"https?://[^\s\x00-\x1f\x7f\"'<>\\`]{1,2000}", re.I)
_URL_TAIL = ".,;:!?)]}*"
_URL_FORMATS = frozenset({"uri", "url", "iri"})


def find_urls(text: str) -> list[str]:
    """The http(s) URLs in a text, in order, without trailing punctuation.

    Args:
        text: Any text (a question, an observation).

    Returns:
        The URLs found (duplicates kept).
    """
    found = []
    for match in _URL.finditer(text):
        url = match.group(0).rstrip(_URL_TAIL)
        if url.count("(") > url.count(")") and match.group(0)[len(url) :].startswith(")"):
            url += ")"  # a link such as https://en.wikipedia.org/wiki/Lutz_(town)
        if "://" in url and len(url) > url.index("://") + 3:
            found.append(url)
    return found


class SeenUrls:
    """The distinct URLs seen in one run: the question's first, then the latest others."""

    def __init__(self, question: str = "") -> None:
        """Start with the URLs of the question."""
        self._pinned = list(dict.fromkeys(find_urls(question)))[:URL_CHOICES_CAP]
        self._recent: dict[str, None] = {}

    def add(self, text: str) -> None:
        """Take in the URLs of one more text (an observation)."""
        for url in find_urls(text):
            if url not in self._pinned:
                self._recent.pop(url, None)
                self._recent[url] = None
        while len(self._pinned) + len(self._recent) > URL_CHOICES_CAP:
            del self._recent[next(iter(self._recent))]

    @property
    def urls(self) -> tuple[str, ...]:
        """The URLs a URL argument may take, at most :data:`URL_CHOICES_CAP`."""
        return (*self._pinned, *self._recent)


def _is_url_property(name: str, schema: Any) -> bool:
    if not isinstance(schema, dict):
        return False
    if schema.get("format") in _URL_FORMATS:
        return True
    return schema.get("type") == "string" and (name == "url" or name.endswith("_url"))


def _fits(url: str, schema: dict[str, Any]) -> bool:
    """Whether a seen URL is a valid value of the string schema (length and pattern)."""
    if not int(schema.get("minLength", 0)) <= len(url) <= int(schema.get("maxLength", 1 << 30)):
        return False
    pattern = schema.get("pattern")
    try:
        return not isinstance(pattern, str) or re.search(pattern, url) is not None
    except re.error:
        return True


def _url_choices(name: str, schema: Any, urls: Sequence[str]) -> Any:
    """The property's schema narrowed to the fitting URLs, or unchanged."""
    branches = schema.get("anyOf") if isinstance(schema, dict) else None
    if isinstance(branches, list):
        narrowed = [_url_choices(name, branch, urls) for branch in branches]
        return {**schema, "anyOf": narrowed}
    if not _is_url_property(name, schema):
        return schema
    choices = [url for url in urls if _fits(url, schema)]
    return {"type": "string", "enum": choices} if choices else schema


def takes_url(tool: BaseTool) -> bool:
    """Whether one of the tool's arguments is a URL (see the module docstring)."""
    props = _raw_args_schema(tool).get("properties")
    if not isinstance(props, dict):
        return False
    for name, sub in props.items():
        branches = sub.get("anyOf") if isinstance(sub, dict) else None
        options = branches if isinstance(branches, list) else [sub]
        if any(_is_url_property(name, option) for option in options):
            return True
    return False


def with_url_choices(schema: dict[str, Any], urls: Iterable[str]) -> dict[str, Any]:
    """A tool's argument schema whose URL arguments may only be one of ``urls``.

    Args:
        schema: The tool's argument schema (top-level ``properties`` are looked at).
        urls: The URLs seen so far; empty leaves the schema as it is.

    Returns:
        The schema, or a copy with each URL property an ``enum`` of the fitting URLs.
    """
    seen = list(urls)
    props = schema.get("properties")
    if not seen or not isinstance(props, dict):
        return schema
    narrowed = {name: _url_choices(name, sub, seen) for name, sub in props.items()}
    return {**schema, "properties": narrowed}
