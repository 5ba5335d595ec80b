"""A lazy tool declaration: what listing a tool needs, and how to build it when it is used.

A plugin that registers a ready ``BaseTool`` makes every ``tooldeck`` command import LangChain
(about half a second) and the tool's own libraries. A :class:`ToolSpec` instead says what
``tooldeck tools list`` shows (name, description, argument schema, kind) and how to build the
real tool; the registry builds it only when something uses it (an agent, ``tools run``). This
module imports nothing heavy; pydantic is imported only to read a model's JSON schema.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["ToolSpec", "resolve"]


def resolve(target: str) -> Any:
    """Import ``"package.module:attr"`` (``attr`` may be dotted) and return the attribute.

    Raises:
        ValueError: ``target`` has no ``:`` between a module and an attribute.
        ImportError: The module cannot be imported.
        AttributeError: The module has no such attribute.
    """
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        msg = f"{target!r} is not a 'package.module:attribute' reference"
        raise ValueError(msg)
    value: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        value = getattr(value, part)
    return value


@dataclass(frozen=True)
class ToolSpec:
    """A tool declared without being built.

    Attributes:
        name: The tool's unique name (the built tool must have the same name).
        description: What the tool does, written for the model (``tools list`` shows it; the
            built tool should carry the same text).
        build: How to make the ``BaseTool`` when it is first used: a zero-argument callable
            returning it, or ``"package.module:attr"`` naming a ``BaseTool`` or such a callable.
        args_schema: The arguments: a pydantic model class, a JSON schema dict, a
            ``"package.module:Model"`` reference, or a zero-argument callable returning one of
            these; ``None`` when there are none. Only pydantic is imported to read it.
        kind: ``"search"`` for a tool that answers a free-text query with passages (see
            :mod:`tooldeck.tools.registry`), else None.
    """

    name: str
    description: str
    build: str | Callable[[], Any]
    args_schema: Any = None
    kind: str | None = None

    def make(self) -> Any:
        """Build the tool (imports whatever it needs).

        Raises:
            Exception: Whatever resolving or calling ``build`` raises; the registry turns it
                into a :class:`~tooldeck.errors.PluginError` naming the tool.
        """
        from langchain_core.tools import BaseTool

        target = resolve(self.build) if isinstance(self.build, str) else self.build
        return target if isinstance(target, BaseTool) else target()

    def json_schema(self) -> dict[str, Any]:
        """The arguments as the JSON schema a tool-calling model sees (title = tool name).

        Raises:
            Exception: The schema cannot be resolved or is not a JSON object schema.
        """
        schema = self.args_schema
        if isinstance(schema, str):
            schema = resolve(schema)
        if callable(schema) and not isinstance(schema, type):
            schema = schema()
        if schema is None:
            data: dict[str, Any] = {"type": "object", "properties": {}}
        elif isinstance(schema, Mapping):
            data = dict(schema)
        elif isinstance(schema, type) and hasattr(schema, "model_json_schema"):
            data = dict(schema.model_json_schema())
        else:
            msg = f"args_schema must be a pydantic model or a JSON schema dict, not {schema!r}"
            raise TypeError(msg)
        if data.get("type") != "object":
            msg = f"the argument schema must be a JSON object schema, not type {data.get('type')!r}"
            raise TypeError(msg)
        data["title"] = self.name
        data["description"] = inspect.cleandoc(self.description)
        return data

