"""``build_agent(config)``: compose the model, the tools and the loop into one ``Runnable``."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from tooldeck.errors import ConfigError

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import BaseMessage
    from langchain_core.tools import BaseTool

    from tooldeck.agents.core import Limits, LoopGen
    from tooldeck.agents.runnable import BaseAgent
    from tooldeck.config import Config
    from tooldeck.tools.registry import ToolRegistry

__all__ = ["build_agent", "limits_from", "wants_grammar"]


def limits_from(config: Config) -> Limits:
    """The run limits that the ``agent`` section sets."""
    from tooldeck.agents.core import Limits

    agent = config.agent
    return Limits(
        max_steps=agent.max_steps,
        max_seconds=agent.max_seconds,
        max_repeats=agent.max_repeats,
        tool_timeout_s=agent.tool_timeout_s,
        max_observation_chars=agent.max_observation_chars,
    )


def wants_grammar(config: Config, model: BaseChatModel) -> bool:
    """Whether to constrain decoding: ``auto`` means when the model supports grammars."""
    supported = bool(getattr(model, "supports_grammar", False))
    if config.agent.grammar == "on" and not supported:
        msg = (
            "agent.grammar is 'on' but the model does not support grammars; "
            "use a local/gguf model or set agent.grammar to auto/off"
        )
        raise ConfigError(msg)
    return config.agent.grammar == "on" or (config.agent.grammar == "auto" and supported)


def _react(
    tools: list[BaseTool],
    top_k: int,
    min_score: float | None,
    limits: Limits,
    grammar: bool,
    question: str,
    history: list[BaseMessage],
) -> LoopGen:
    from tooldeck.agents.react import react_loop
    from tooldeck.tools.select import preselect_tools

    offered = preselect_tools(question, tools, top_k, min_score)
    return react_loop(question, offered, limits, use_grammar=grammar, history=history)


def _self_ask(
    search: BaseTool, limits: Limits, grammar: bool, question: str, history: list[BaseMessage]
) -> LoopGen:
    from tooldeck.agents.self_ask import self_ask_loop

    return self_ask_loop(question, search, limits, use_grammar=grammar, history=history)


def _configured_tools(registry: ToolRegistry, names: list[str]) -> list[BaseTool]:
    from tooldeck.errors import UnknownToolError

    try:
        return registry.select(names)
    except (UnknownToolError, ConfigError) as exc:
        raise type(exc)(f"config key tools: {exc}") from None


def _search_tool(registry: ToolRegistry, name: str) -> BaseTool:
    """The self-ask search tool; errors suggest only available ``kind: "search"`` tools."""
    usable = [e.name for e in registry.search_tools() if e.unavailable() is None and e.name != name]
    if usable:
        hint = f"set agent.search_tool to one of {', '.join(usable)}"
    else:
        hint = (
            "no search tool is available (a tool with metadata kind 'search', such as the "
            "built-in duckduckgo, or retriever once an index is built)"
        )
    if name not in registry.names():
        msg = f"agent.search_tool {name!r} is not a registered tool; self-ask needs a search tool: "
        raise ConfigError(msg + hint)
    reason = registry.get(name).unavailable()
    if reason is not None:
        msg = f"agent.search_tool {name!r} is unavailable ({reason}); or {hint}"
        raise ConfigError(msg)
    return registry.get(name).tool


def build_agent(
    config: Config,
    *,
    registry: ToolRegistry | None = None,
    model: BaseChatModel | None = None,
) -> BaseAgent:
    """Build the agent the configuration describes.

    Args:
        config: The configuration.
        registry: Tools to use; built from plugins when None.
        model: A chat model to use instead of the configured one (tests, embedding apps).

    Returns:
        A LangChain ``Runnable`` taking a question (or ``{"input": ..., "history": [...]}``)
        and returning ``{"answer", "steps", "stopped_by", "model", "elapsed_s"}``.

    Raises:
        ConfigError: Unknown tools, a missing self-ask search tool, or a bad model setup.
        UnknownToolError: A configured tool name is not registered.
    """
    from tooldeck.agents.runnable import TextAgent
    from tooldeck.models import describe_model, get_chat_model
    from tooldeck.tools.registry import build_registry

    registry = registry or build_registry(config)
    chat = model or get_chat_model(config.model, config.data_dir)
    label = describe_model(config.model) if model is None else type(model).__name__
    limits = limits_from(config)
    kind = config.agent.type
    if kind == "tool-calling":
        from langchain_core.language_models import BaseChatModel

        from tooldeck.agents.tool_calling import ToolCallingAgent

        if type(chat).bind_tools is BaseChatModel.bind_tools:
            msg = (
                f"agent.type 'tool-calling' needs a model with native tool calling, and "
                f"{label} has none; use agent.type react or self-ask, or a model such as "
                "openai or ollama"
            )
            raise ConfigError(msg)
        return ToolCallingAgent(
            chat,
            _configured_tools(registry, config.tools),
            model_label=label,
            limits=limits,
            max_question_chars=config.max_question_chars,
            tool_top_k=config.agent.tool_top_k,
        )
    grammar = wants_grammar(config, chat)
    if kind == "self-ask":
        search = _search_tool(registry, config.agent.search_tool)
        loop = partial(_self_ask, search, limits, grammar)
    else:
        tools = _configured_tools(registry, config.tools)
        min_score = config.agent.tool_min_score
        if min_score is None and grammar:
            min_score = 0.0  # auto: a small constrained model sees only matching tools
        loop = partial(_react, tools, config.agent.tool_top_k, min_score, limits, grammar)
    return TextAgent(
        chat, loop, model_label=label, limits=limits, max_question_chars=config.max_question_chars
    )
