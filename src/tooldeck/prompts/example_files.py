"""Few-shot example sets from YAML or JSON-lines files, checked key by key.

A file holds one example set: a YAML list, a YAML mapping ``{template: NAME, examples:
[...]}``, or JSON lines (one example per line). Files are read like indexed files: only
regular files (never a FIFO, device or a link swapped in), UTF-8, bounded in size and count.
Every problem names the file and the place (``line N`` or ``example N``) and the key.

The set extends the examples of one template: the YAML ``template`` key, else the file name up
to its first dot (``self_ask.jsonl``, ``self_ask.more.yaml``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tooldeck.errors import ConfigError, LoaderError

__all__ = [
    "MAX_EXAMPLES",
    "MAX_EXAMPLES_BYTES",
    "ExampleSet",
    "check_examples",
    "load_examples",
    "read_example_set",
]

MAX_EXAMPLES_BYTES = 10 * 1024 * 1024
MAX_EXAMPLES = 100_000
_SUFFIXES = (".jsonl", ".yaml", ".yml")


@dataclass
class ExampleSet:
    """One example file, parsed but not yet checked against a template.

    Attributes:
        path: The file.
        template: The template whose examples it extends.
        items: Each example with its place in the file (``line 3``, ``example 0``).
    """

    path: Path
    template: str
    items: list[tuple[str, Any]]


def _read_text(path: Path) -> str:
    from tooldeck.rag.files import read_text

    try:
        size = os.stat(path).st_size
    except OSError as exc:
        msg = f"example file {path}: cannot be read ({exc.strerror}); check prompts.example_files"
        raise ConfigError(msg) from None
    if size > MAX_EXAMPLES_BYTES:
        msg = (f"example file {path} is {size:,} bytes, over the {MAX_EXAMPLES_BYTES:,}-byte "
               "limit; split it")
        raise ConfigError(msg)
    try:
        return read_text(path, MAX_EXAMPLES_BYTES)
    except LoaderError as exc:
        msg = f"example file {path}: {exc}"
        if "UTF-8" in str(exc):
            msg += "; save it as UTF-8"
        raise ConfigError(msg) from None


def _parse_jsonl(path: Path, text: str) -> list[tuple[str, Any]]:
    items: list[tuple[str, Any]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            items.append((f"line {number}", json.loads(line)))
        except json.JSONDecodeError as exc:
            msg = f"example file {path} line {number} is not valid JSON: {exc.msg}"
            raise ConfigError(msg) from None
        if len(items) > MAX_EXAMPLES:
            break
    return items


def _parse_yaml(path: Path, text: str) -> tuple[str | None, list[tuple[str, Any]]]:
    from tooldeck.prompts.spec import load_yaml_text

    data = load_yaml_text(
        text, f"example file {path}", limit=2 * MAX_EXAMPLES_BYTES, error=ConfigError
    )
    template: str | None = None
    if isinstance(data, dict) and "examples" in data:
        unknown = sorted(str(k) for k in set(data) - {"template", "examples"})
        if unknown:
            msg = f"example file {path}: unknown key {unknown[0]!r}; use template and examples"
            raise ConfigError(msg)
        template = data.get("template")
        if template is not None and not isinstance(template, str):
            msg = f"example file {path}: template must be a template's name"
            raise ConfigError(msg)
        data = data["examples"]
    if not isinstance(data, list):
        msg = f"example file {path} must hold a list of examples (or a mapping with 'examples')"
        raise ConfigError(msg)
    return template, [(f"example {index}", item) for index, item in enumerate(data)]


def read_example_set(path: str | Path) -> ExampleSet:
    """Read one example file (``.yaml``, ``.yml`` or ``.jsonl``) without checking its keys.

    Args:
        path: The file.

    Returns:
        The set, with the template it extends.

    Raises:
        ConfigError: The file is missing, not a regular file, over 10 MB or 100,000 examples,
            not UTF-8, or not valid YAML / JSON lines.
    """
    file = Path(path)
    suffix = file.suffix.lower()
    if suffix not in _SUFFIXES:
        msg = f"example file {file} must end in .yaml, .yml or .jsonl"
        raise ConfigError(msg)
    text = _read_text(file)
    template: str | None = None
    if suffix == ".jsonl":
        items = _parse_jsonl(file, text)
    else:
        template, items = _parse_yaml(file, text)
    if len(items) > MAX_EXAMPLES:
        msg = f"example file {file} holds over {MAX_EXAMPLES:,} examples; split it"
        raise ConfigError(msg)
    return ExampleSet(file, template or file.name.split(".", 1)[0], items)


def check_examples(example_set: ExampleSet, needed: Sequence[str]) -> list[dict[str, str]]:
    """The set's examples, each checked to be a mapping of text with every needed key.

    Args:
        example_set: The parsed file.
        needed: Keys every example must have.

    Raises:
        ConfigError: An example (named by file and line or index) is not a mapping of text,
            or lacks a key (named).
    """
    file = example_set.path
    examples: list[dict[str, str]] = []
    for where, item in example_set.items:
        if not isinstance(item, dict):
            msg = f"example file {file} {where}: an example must be a mapping of strings"
            raise ConfigError(msg)
        missing = [key for key in needed if key not in item]
        if missing:
            msg = f"example file {file} {where}: missing key {missing[0]!r}"
            raise ConfigError(msg)
        wrong = [key for key, value in item.items() if not isinstance(value, str)]
        if wrong or not all(isinstance(key, str) for key in item):
            msg = f"example file {file} {where}: key {wrong[0] if wrong else '?'!r} is not text"
            raise ConfigError(msg)
        examples.append(item)
    return examples


def load_examples(
    path: str | Path, input_keys: Sequence[str] = ("input",), required_keys: Sequence[str] = (),
) -> list[dict[str, str]]:
    """Read an example set from a ``.yaml``/``.yml`` list or a ``.jsonl`` file.

    Args:
        path: The file; YAML may hold a list or a mapping whose ``examples`` is the list.
        input_keys: Keys every example must have (those the selectors compare).
        required_keys: Further keys every example must have (e.g. ``output``).

    Returns:
        The examples, each a mapping of strings, in the file's order.

    Raises:
        ConfigError: The file cannot be read or parsed (see :func:`read_example_set`), or an
            example (named by line or index) is not a mapping of strings or lacks a key.
    """
    needed = list(dict.fromkeys([*input_keys, *required_keys]))
    return check_examples(read_example_set(path), needed)
