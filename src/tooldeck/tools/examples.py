"""Worked examples in a tool's ``metadata["examples"]``: their one shape, checked.

ReAct shows a tool's first examples to the model (question, action input, observation, answer);
the registry checks them when the tool is registered, so a malformed example disables its plugin
instead of breaking every run that offers the tool.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, ValidationError

from tooldeck.errors import PluginError

if TYPE_CHECKING:
    from langchain_core.tools import BaseTool

__all__ = ["ToolExample", "tool_examples"]


class ToolExample(BaseModel):
    """One worked example in a tool's ``metadata["examples"]``, shown to the model by ReAct.

    Attributes:
        question: A question a user might ask.
        input: The tool's arguments for it (must validate against the tool's schema).
        observation: What the tool returns for that input.
        answer: The final answer the example ends with (optional).
        thought: The thought before the action (optional; a stock one otherwise).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    question: str
    input: dict[str, Any]
    observation: str
    answer: str | None = None
    thought: str | None = None


def _check_input(tool: BaseTool, arguments: dict[str, Any]) -> None:
    """Validate example arguments against the tool's schema (ValueError/ValidationError).

    Unknown arguments are refused too: the grammar lets a model write only the schema's own.
    """
    schema = tool.tool_call_schema
    model = schema if isinstance(schema, type) and issubclass(schema, BaseModel) else None
    spec: dict[str, Any] = model.model_json_schema() if model else dict(schema or {})  # type: ignore[arg-type]
    known = spec.get("properties", {})
    unknown = [name for name in arguments if name not in known]
    if unknown:
        msg = f"unknown arguments {unknown}; the tool takes {sorted(known)}"
        raise ValueError(msg)
    if model is not None:
        model.model_validate(arguments)
        return
    missing = [name for name in spec.get("required", []) if name not in arguments]
    if missing:
        msg = f"missing required arguments {missing}"
        raise ValueError(msg)


def _problem(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'value'}: {e['msg']}" for e in exc.errors()
        )
    return str(exc)


def tool_examples(tool: BaseTool, plugin: str = "") -> list[ToolExample]:
    """The tool's worked examples, checked.

    Args:
        tool: The tool; its ``metadata["examples"]`` is a list of ``{question, input,
            observation[, answer, thought]}`` dicts (or :class:`ToolExample` objects).
        plugin: The plugin that gives it, named in the error.

    Returns:
        The examples, in order (none when the tool has none).

    Raises:
        PluginError: Not a list, or an example of another shape or with input the tool's
            schema refuses; the message names the tool and the example's index.
    """
    raw = (tool.metadata or {}).get("examples")
    where = f"plugin {plugin!r}: tool {tool.name!r}" if plugin else f"tool {tool.name!r}"
    if raw is None:
        return []
    if not isinstance(raw, list | tuple):
        msg = f"{where}: metadata['examples'] must be a list, not {type(raw).__name__}"
        raise PluginError(msg)
    examples = []
    for index, item in enumerate(raw):
        try:
            example = ToolExample.model_validate(item)
            _check_input(tool, example.input)
        except (ValidationError, ValueError, TypeError) as exc:
            msg = (
                f"{where}: example {index} is invalid ({_problem(exc)}); an example is "
                "{question: str, input: {arguments}, observation: str, answer?: str, "
                "thought?: str}"
            )
            raise PluginError(msg) from None
        examples.append(example)
    return examples
