"""The prompt template format: one YAML file per template, checked once when it is loaded.

This module owns two rules: what a template file may hold, and how a ``{slot}`` is filled.

A template names its parts and its input variables::

    version: "2"                    # required; travels in traces with the name
    description: one line           # optional
    variables:                      # every {slot} of every text below, with what it holds
      question: the user's question
    role: You answer questions.     # required: who the model is
    task: ...                       # required: what it must do
    context: ...                    # optional: material for the task, e.g. {tools}
    constraints: ...                # optional: the reply's form and limits
    examples:                       # optional worked examples (few-shot)
      prefix: "Examples:"           #   heading when they are written into the system text
      human: "Question: {question}" #   slots here are example keys, not variables
      ai: "{steps}"
      over_budget: drop             #   or "summarize": examples that do not fit become
      summary: "{question} -> {final}"  # one summary line each (needs summary)
      items: [{question: ..., steps: ..., final: ...}]
    input: question                 # which text below is the user message of the chat prompt
    texts:                          # further texts the code fills itself (observation, ...)
      question: "Question: {question}"

A slot is ``{name}`` with a Python identifier inside; a literal brace in a template's text is
written ``{{`` or ``}}`` (as in LangChain's f-string templates) and anything else in braces
fails at load. Values are data: :func:`render` and the chat prompts put each value in once and
never read it again, so an OpenAPI path such as ``/files/{source}`` inside a value stays as it is.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from tooldeck.errors import LoaderError, PromptError, ToolDeckError

__all__ = [
    "PART_NAMES",
    "Examples",
    "TemplateSpec",
    "TemplateText",
    "check_example",
    "escape",
    "load_yaml_text",
    "parse_template",
    "render",
    "slots",
]

PART_NAMES = ("role", "task", "context", "constraints")  # the system text, in this order
_REQUIRED = ("version", "role", "task")
_KEYS = frozenset({"version", "description", "variables", *PART_NAMES, "examples", "input",
                   "texts"})
_EXAMPLE_KEYS = frozenset({"prefix", "human", "ai", "summary", "over_budget", "items"})
_RESERVED = frozenset({"name", "version", "description", "variables", "system", "source"})
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_MAX_EXPANDED = 4_000_000
_MAX_ITEMS = 1_000


class TemplateText(str):
    """A text from a template, as :func:`load_template` hands it out.

    It is a plain ``str`` to every caller; :func:`render` also reads where it came from (to
    name the template in its errors) and whether it has no slot at all (``literal``: its
    braces are already unescaped and it is returned as it is).
    """

    template: str
    part: str
    literal: bool

    def __new__(cls, value: str = "", template: str = "?", part: str = "?",
                literal: bool = False) -> TemplateText:
        """Make a text that remembers its template and part."""
        text = super().__new__(cls, value)
        text.template, text.part, text.literal = template, part, literal
        return text


def _pieces(text: str, where: str) -> list[tuple[str, str | None]]:
    """``text`` cut into (literal, slot or None) pairs; literal braces come back single."""
    pieces: list[tuple[str, str | None]] = []
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        msg = (f"{where}: {exc}; a literal brace in a template is written {{{{ or }}}}, "
               "a slot as {name}")
        raise PromptError(msg) from None
    for literal, name, spec, conversion in parsed:
        if name is None:
            pieces.append((literal, None))
            continue
        if conversion or spec or not _IDENTIFIER.match(name):
            shown = "{" + name + (f"!{conversion}" if conversion else "") + (
                f":{spec}" if spec else "") + "}"
            msg = (f"{where}: {shown!r} is not a slot; a slot is {{name}}, and a literal "
                   "brace is written {{ or }}")
            raise PromptError(msg)
        pieces.append((literal, name))
    return pieces


def slots(text: str, where: str = "prompt text") -> list[str]:
    """The slot names of a template text, in order of first use.

    Args:
        text: The template text.
        where: What to name in an error (template and part).

    Raises:
        PromptError: a brace that is neither a slot nor doubled.
    """
    return list(dict.fromkeys(name for _, name in _pieces(text, where) if name is not None))


def escape(value: str) -> str:
    """``value`` written as template text: every brace doubled, so it reads back unchanged."""
    return value.replace("{", "{{").replace("}", "}}")


def render(text: str, /, **values: Any) -> str:
    """Fill each ``{name}`` slot of ``text`` once with its value; values are never re-read.

    ``{{`` and ``}}`` become single braces. Values not used by the text are ignored.

    Args:
        text: A template text (from :func:`load_template`, or any f-string style text).
        **values: A value for each slot (turned into text with ``str``).

    Returns:
        The filled text.

    Raises:
        PromptError: a slot has no value (named with its template), or the text is malformed.
    """
    if isinstance(text, TemplateText):
        if text.literal:
            return str(text)
        where = f"prompt template {text.template!r} ({text.part})"
    else:
        where = "prompt text"
    out: list[str] = []
    for literal, name in _pieces(text, where):
        out.append(literal)
        if name is None:
            continue
        if name not in values:
            msg = f"{where}: no value for the variable {name!r}; pass {name}=..."
            raise PromptError(msg)
        out.append(str(values[name]))
    return "".join(out)


@dataclass(frozen=True)
class Examples:
    """The worked examples of a template (its few-shot part).

    Attributes:
        human: The user turn of one example (slots are example keys).
        ai: The model's turn of one example.
        items: The examples, each a mapping of text.
        prefix: Heading when the examples are written into the system text.
        summary: One line standing for an example that does not fit whole.
        over_budget: ``drop`` examples that do not fit, lowest-ranked first, or ``summarize``
            them as ``summary`` lines.
        keys: The keys every example must have (the slots of human, ai and summary).
    """

    human: str
    ai: str
    items: tuple[dict[str, str], ...]
    prefix: str = "Examples:"
    summary: str | None = None
    over_budget: Literal["drop", "summarize"] = "drop"
    keys: tuple[str, ...] = ()

    def as_text(self, example: Mapping[str, str]) -> str:
        """One example written out in full (values are data: never re-read)."""
        return render(self.human, **example) + "\n" + render(self.ai, **example)

    def as_summary(self, example: Mapping[str, str]) -> str:
        """One example's summary line (the whole example when the template has none)."""
        if self.summary is None:
            return self.as_text(example)
        return render(self.summary, **example)

    def with_items(self, extra: list[dict[str, str]]) -> Examples:
        """These examples with ``extra`` appended (from example files)."""
        return Examples(self.human, self.ai, (*self.items, *extra), self.prefix, self.summary,
                        self.over_budget, self.keys)


@dataclass(frozen=True)
class TemplateSpec:
    """One loaded, checked template.

    Attributes:
        name: The template's name (its file stem).
        version: Its version string.
        source: ``built-in`` or the user file's path.
        variables: Each input variable and what it holds.
        parts: Role, task, context and constraints present, as template text.
        texts: Further texts (the chat prompt's user message among them).
        input: The name of the text that is the chat prompt's user message, if any.
        examples: The worked examples, if any.
        description: One line saying what the template is for.
        replaces_builtin: A user file that replaces the built-in of the same name.
    """

    name: str
    version: str
    source: str
    variables: dict[str, str]
    parts: dict[str, str]
    texts: dict[str, str]
    input: str | None = None
    examples: Examples | None = None
    description: str = ""
    replaces_builtin: bool = False

    def system_template(self) -> str:
        """The system message's template text: the parts present, in order."""
        return "\n\n".join(self.parts[p].strip() for p in PART_NAMES if p in self.parts)

    def system_text(self, max_examples: int) -> str:
        """The system template with the first ``max_examples`` examples written in."""
        system = self.system_template()
        if self.examples is None or max_examples <= 0 or not self.examples.items:
            return system
        shown = "\n\n".join(self.examples.as_text(e) for e in self.examples.items[:max_examples])
        block = "\n".join(p for p in (self.examples.prefix, shown) if p)
        return f"{system}\n\n{escape(block)}"

    def as_mapping(self, max_examples: int = 2) -> dict[str, Any]:
        """The mapping :func:`load_template` returns: ``system`` and every text by name.

        Texts with slots are template text (fill them with :func:`render`); texts without
        one are final (their braces unescaped), and :func:`render` returns them unchanged.
        """
        mapping: dict[str, Any] = {"name": self.name, "version": self.version,
                                   "description": self.description,
                                   "variables": dict(self.variables)}
        texts = {"system": self.system_text(max_examples), **self.texts}
        for key, text in texts.items():
            literal = not slots(text)
            value = render(text) if literal else text
            mapping[key] = TemplateText(value, self.name, key, literal)
        return mapping


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        msg = f"{where} must be text, not {type(value).__name__}"
        raise PromptError(msg)
    return value


def _text_map(value: Any, where: str, *, optional_values: bool = False) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        msg = f"{where} must be a mapping of names to text"
        raise PromptError(msg)
    out: dict[str, str] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not _IDENTIFIER.match(key):
            msg = f"{where}: {key!r} is not a valid name (letters, digits, underscores)"
            raise PromptError(msg)
        out[key] = "" if optional_values and item is None else _text(item, f"{where}.{key}")
    return out


def _examples(value: Any, where: str) -> Examples:
    if not isinstance(value, dict):
        msg = f"{where} must be a mapping (human, ai, items, ...)"
        raise PromptError(msg)
    unknown = sorted(set(value) - _EXAMPLE_KEYS)
    if unknown:
        msg = f"{where}: unknown key {unknown[0]!r}; allowed: {', '.join(sorted(_EXAMPLE_KEYS))}"
        raise PromptError(msg)
    for key in ("human", "ai"):
        if key not in value:
            msg = f"{where}: missing {key!r} (the example's {key} turn)"
            raise PromptError(msg)
    over = value.get("over_budget", "drop")
    if over not in ("drop", "summarize"):
        msg = f"{where}.over_budget is {over!r}; use drop or summarize"
        raise PromptError(msg)
    summary = value.get("summary")
    if over == "summarize" and summary is None:
        msg = f"{where}: over_budget: summarize needs a summary line template"
        raise PromptError(msg)
    texts = {k: _text(value[k], f"{where}.{k}") for k in ("human", "ai", "summary")
             if value.get(k) is not None}
    keys = tuple(dict.fromkeys(s for k, t in texts.items() for s in slots(t, f"{where}.{k}")))
    raw_items = value.get("items") or []
    if not isinstance(raw_items, list) or len(raw_items) > _MAX_ITEMS:
        msg = f"{where}.items must be a list of at most {_MAX_ITEMS} examples"
        raise PromptError(msg)
    items = tuple(check_example(item, keys, f"{where}.items[{i}]")
                  for i, item in enumerate(raw_items))
    return Examples(texts["human"], texts["ai"], items, _text(value.get("prefix", "Examples:"),
                    f"{where}.prefix"), texts.get("summary"), over, keys)


def check_example(item: Any, keys: tuple[str, ...], where: str) -> dict[str, str]:
    """One example checked: a mapping of text with every key the template's example texts use.

    Raises:
        PromptError: not a mapping of text, or a key is missing (named).
    """
    if not isinstance(item, dict):
        msg = f"{where}: an example must be a mapping of text"
        raise PromptError(msg)
    for key in keys:
        if key not in item:
            msg = f"{where}: missing key {key!r}"
            raise PromptError(msg)
    for key, value in item.items():
        if not isinstance(key, str) or not isinstance(value, str):
            msg = f"{where}: key {key!r} is not text"
            raise PromptError(msg)
    return dict(item)


def _check_variables(spec: TemplateSpec, where: str) -> None:
    """Every slot declared, every declared variable used: a misspelling fails either way."""
    used: dict[str, str] = {}
    texts = {**spec.parts, **spec.texts}
    for part, text in texts.items():
        for name in slots(text, f"{where} ({part})"):
            used.setdefault(name, part)
    for name, part in used.items():
        if name not in spec.variables:
            declared = ", ".join(spec.variables) or "none"
            msg = (f"{where}: {part} uses the variable {{{name}}}, which is not declared "
                   f"in variables (declared: {declared}); fix the spelling or declare it")
            raise PromptError(msg)
    for name in spec.variables:
        if name not in used:
            msg = (f"{where}: the variable {name!r} is declared but no text uses it; fix "
                   "the spelling of the slot or of the declaration")
            raise PromptError(msg)


def load_yaml_text(
    text: str, where: str, *, limit: int = _MAX_EXPANDED, error: type[ToolDeckError] = PromptError
) -> Any:
    """Parse YAML (aliases bounded by ``limit``) or raise ``error`` naming ``where`` and the line.

    Args:
        text: The YAML text.
        where: What the text is, for the message (``template file ...``, ``example file ...``).
        limit: The most characters the document may expand to through aliases.
        error: The error class to raise (``PromptError`` or ``ConfigError``).

    Returns:
        The parsed document.
    """
    import yaml

    from tooldeck.rag.safe_yaml import load_yaml

    try:
        return load_yaml(text, limit=limit)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark is not None else ""
        msg = f"{where} is not valid YAML{line}: {getattr(exc, 'problem', None) or exc}"
        raise error(msg) from None
    except LoaderError as exc:
        msg = f"{where}: {exc}"
        raise error(msg) from None


def parse_template(name: str, text: str, source: str) -> TemplateSpec:
    """Parse and check one template file.

    Args:
        name: The template's name (its file stem).
        text: The file's text.
        source: ``built-in`` or the file's path, used in errors and in ``prompts list``.

    Returns:
        The checked template.

    Raises:
        PromptError: bad YAML, missing parts, unknown keys, a slot that is not declared, a
            declared variable no text uses, or a malformed example; the message names the file.
    """
    where = f"prompt template {name!r} ({source})"
    data = load_yaml_text(text, where)
    if not isinstance(data, dict):
        msg = f"{where} must be a mapping with version, variables, role, task, ..."
        raise PromptError(msg)
    unknown = sorted(str(k) for k in set(data) - _KEYS)
    if unknown:
        msg = f"{where}: unknown key {unknown[0]!r}; allowed: {', '.join(sorted(_KEYS))}"
        raise PromptError(msg)
    missing = [key for key in _REQUIRED if key not in data]
    if missing:
        msg = f"{where}: missing {missing[0]!r} (every template has {', '.join(_REQUIRED)})"
        raise PromptError(msg)
    version = data["version"]
    if isinstance(version, bool) or not isinstance(version, (str, int)) or version == "":
        msg = f"{where}: version must be text such as \"2.1\" (quote it: 2.10 reads as 2.1)"
        raise PromptError(msg)
    texts = _text_map(data.get("texts"), f"{where} texts")
    clash = sorted(set(texts) & _RESERVED)
    if clash:
        msg = f"{where}: texts may not be named {clash[0]!r} (a reserved key)"
        raise PromptError(msg)
    spec_input = data.get("input")
    if spec_input is not None and spec_input not in texts:
        msg = f"{where}: input names {spec_input!r}, which is not one of texts"
        raise PromptError(msg)
    examples = data.get("examples")
    spec = TemplateSpec(
        name=name, version=str(version), source=source,
        variables=_text_map(data.get("variables"), f"{where} variables", optional_values=True),
        parts={p: _text(data[p], f"{where} {p}") for p in PART_NAMES if data.get(p) is not None},
        texts=texts, input=spec_input,
        examples=None if examples is None else _examples(examples, f"{where} examples"),
        description=_text(data.get("description") or "", f"{where} description"),
    )
    _check_variables(spec, where)
    return spec
