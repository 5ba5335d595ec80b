"""GBNF grammars that make a small local model emit only well-formed agent steps.

The ReAct grammar enumerates the offered tool names and, for each, the JSON arguments its
schema allows (required properties, in order, with typed values), or a final answer.
Lines are bounded so a model cannot ramble past the token budget.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from langchain_core.tools import BaseTool

# Longest step the grammar admits is well under this many tokens, so a grammar-constrained
# call with this budget always ends inside the grammar (never cut off mid-step).
GRAMMAR_MAX_TOKENS = 1024

__all__ = [
    "GRAMMAR_MAX_TOKENS",
    "json_value_rule",
    "react_grammar",
    "self_ask_grammar",
    "tool_args_schema",
]

_COMMON = r"""
ws ::= [ ]?
line ::= [^\n]{1,160}
jstr ::= "\"" jchar{1,120} "\""
jchar ::= [^"\\\n\x00-\x1f] | "\\" ["\\/bfnrt]
jint ::= "-"? ([0-9] | [1-9] [0-9]{1,15})
jnum ::= jint ("." [0-9]{1,12})? ([eE] [-+]? [0-9]{1,3})?
jbool ::= "true" | "false"
jnull ::= "null"
jval ::= jstr | jnum | jbool | jnull | jarr | jobj
jarr ::= "[" ws (jval (ws "," ws jval){0,30})? ws "]"
jobj ::= "{" ws (jstr ws ":" ws jval (ws "," ws jstr ws ":" ws jval){0,30})? ws "}"
"""


def _lit(text: str) -> str:
    return json.dumps(text)


def tool_args_schema(tool: BaseTool) -> dict[str, Any]:
    """The JSON schema of a tool's arguments, with ``$ref``s to ``$defs`` resolved."""
    schema = tool.tool_call_schema
    raw: dict[str, Any] = (
        schema if isinstance(schema, dict) else schema.model_json_schema()  # type: ignore[union-attr]
    )
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


class _Builder:
    def __init__(self) -> None:
        self.rules: dict[str, str] = {}

    def add(self, name: str, body: str) -> str:
        self.rules[name] = body
        return name

    def value(self, schema: Any, name: str) -> str:
        if not isinstance(schema, dict) or not schema:
            return "jval"
        if "const" in schema:
            return self.add(name, _lit(json.dumps(schema["const"])))
        if "enum" in schema:
            options = " | ".join(_lit(json.dumps(v)) for v in schema["enum"])
            return self.add(name, options or "jnull")
        for key in ("anyOf", "oneOf"):
            if key in schema:
                alts = [self.value(s, f"{name}-{i}") for i, s in enumerate(schema[key])]
                return self.add(name, " | ".join(alts))
        kind = schema.get("type")
        if isinstance(kind, list):
            alts = [self.value({**schema, "type": k}, f"{name}-{k}") for k in kind]
            return self.add(name, " | ".join(alts))
        if kind == "string" and isinstance(schema.get("pattern"), str):
            pattern = _pattern_rule(schema["pattern"], schema.get("maxLength"))
            if pattern:
                return self.add(name, pattern)
        simple = {"string": "jstr", "integer": "jint", "number": "jnum", "boolean": "jbool"}
        if kind in simple:
            return simple[kind]
        if kind == "null":
            return "jnull"
        if kind == "array":
            item = self.value(schema.get("items", {}), f"{name}-item")
            return self.add(name, f'"[" ws ({item} (ws "," ws {item}){{0,30}})? ws "]"')
        if kind == "object" or "properties" in schema:
            return self.obj(schema, name)
        return "jval"

    def obj(self, schema: dict[str, Any], name: str) -> str:
        props: dict[str, Any] = schema.get("properties", {})
        required = [p for p in schema.get("required", list(props)) if p in props]
        if not props:
            return "jobj"
        parts = []
        for prop in required:
            rule = self.value(props[prop], f"{name}-{_slug(prop)}")
            parts.append(f'{_lit(json.dumps(prop))} ws ":" ws {rule}')
        body = ' ws "," ws '.join(parts)
        return self.add(name, f'"{{" ws {body} ws "}}"' if parts else '"{" ws "}"')

    def render(self, root: str) -> str:
        lines = [f"root ::= {root}"] + [f"{k} ::= {v}" for k, v in self.rules.items()]
        return "\n".join(lines) + "\n" + _COMMON.strip() + "\n"


_PATTERN_PIECE = re.compile(r"(\[[^\]\"]+\])(\+|\*|\?|\{\d+(?:,\d+)?\})?")


def _pattern_rule(pattern: str, max_length: int | None) -> str | None:
    """GBNF for a string pattern made only of character classes with quantifiers.

    Handles ``^[a-z][a-z0-9_]{0,30}$``-style patterns (anchored, classes, ``+ * ? {m,n}``);
    returns None for anything else, and the caller falls back to any JSON string.
    """
    if not (pattern.startswith("^") and pattern.endswith("$")):
        return None
    body, pieces, pos = pattern[1:-1], [], 0
    cap = min(max_length or 200, 400)
    while pos < len(body):
        match = _PATTERN_PIECE.match(body, pos)
        if not match:
            return None
        quant = match.group(2) or ""
        quant = {"+": f"{{1,{cap}}}", "*": f"{{0,{cap}}}"}.get(quant, quant)
        pieces.append(match.group(1) + quant)
        pos = match.end()
    return '"\\"" ' + " ".join(pieces) + ' "\\""' if pieces else None


def _slug(text: str) -> str:
    return re.sub(r"[^a-zA-Z0-9]+", "-", text).strip("-").lower() or "x"


def json_value_rule(schema: dict[str, Any]) -> str:
    """A whole grammar whose root is one JSON value valid for ``schema`` (subset)."""
    builder = _Builder()
    return builder.render(builder.value(schema, "v"))


def react_grammar(tools: Sequence[BaseTool], *, allow_final: bool = True) -> str:
    """The grammar of one ReAct step over the offered tools.

    Args:
        tools: The tools the model may call (names enumerated); none means the step must
            be a final answer.
        allow_final: Whether a ``Final Answer`` may end the step.

    Returns:
        GBNF text: ``Thought: ...`` then an action with schema-valid JSON input, or
        ``Final Answer: ...``.
    """
    builder = _Builder()
    actions = []
    for tool in tools:
        slug = _slug(tool.name)
        args = builder.value(tool_args_schema(tool), f"args-{slug}")
        head = _lit(f"Action: {tool.name}\nAction Input: ")
        actions.append(builder.add(f"act-{slug}", f"{head} {args}"))
    choices = list(actions)
    if allow_final:
        choices.append(builder.add("final", '"Final Answer: " line'))
    builder.add("step", " | ".join(choices) if choices else "final")
    return builder.render('"Thought: " line "\\n" step')


def self_ask_grammar() -> str:
    """The grammar of one self-ask step: a follow-up question or the final answer."""
    builder = _Builder()
    builder.add("step", '"Follow up: " line | "So the final answer is: " line')
    return builder.render("step")
