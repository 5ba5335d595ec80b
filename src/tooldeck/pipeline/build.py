"""``build_agent(config)``: the model, the tools, the loop and the stages, as one ``Runnable``.

The stages, in order (each a Runnable a user can take alone, see ``stages.py`` / ``memory.py``)::

    input -> memory_load -> agent -> output -> memory_save

A later stage (guardrail, cache, formatter) goes into :func:`default_stages`' list or is
added with :meth:`Pipeline.insert`; the loops never change for it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from tooldeck.errors import ConfigError

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import BaseMessage
    from langchain_core.tools import BaseTool

    from tooldeck.agents.core import Limits, LoopGen
    from tooldeck.agents.runnable import BaseAgent
    from tooldeck.config import Config
    from tooldeck.pipeline.compose import Pipeline
    from tooldeck.pipeline.memory import MemoryHandle
    from tooldeck.tools.registry import ToolRegistry

__all__ = [
    "as_tools",
    "build_agent",
    "build_loop_agent",
    "default_stages",
    "limits_from",
    "wants_grammar",
]

ToolLike = Any  # a BaseTool, or a typed function with a docstring


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
    max_examples: int,
    act_first: bool,
    question: str,
    history: list[BaseMessage],
) -> LoopGen:
    from tooldeck.agents.react import react_loop
    from tooldeck.tools.select import preselect_tools

    offered = preselect_tools(question, tools, top_k, min_score)
    return react_loop(
        question,
        offered,
        limits,
        use_grammar=grammar,
        history=history,
        max_examples=max_examples,
        act_first=act_first,
    )


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


def as_tools(tools: Sequence[ToolLike]) -> list[BaseTool]:
    """``BaseTool``s as they are; plain typed functions wrapped with LangChain's ``tool``.

    Raises:
        ConfigError: An item that is neither, or a function ``tool`` cannot describe.
    """
    from langchain_core.tools import BaseTool, tool

    out: list[BaseTool] = []
    for item in tools:
        if isinstance(item, BaseTool):
            out.append(item)
            continue
        name = getattr(item, "__name__", type(item).__name__)
        if not callable(item):
            msg = f"tools=[...] takes BaseTools or functions; {name!r} is neither"
            raise ConfigError(msg)
        try:
            out.append(tool(item))
        except (ValueError, TypeError) as exc:
            msg = f"function {name!r} cannot be a tool ({exc}); give it type hints and a docstring"
            raise ConfigError(msg) from None
    return out


def _given_search_tool(tools: list[BaseTool], name: str) -> BaseTool:
    """Self-ask's search tool among the tools given: the one named ``name``, or the only one."""
    named = [t for t in tools if t.name == name]
    if named:
        return named[0]
    if len(tools) == 1:
        return tools[0]
    msg = (
        f"self-ask needs its search tool: none of the given tools is named {name!r} "
        "(agent.search_tool); pass that tool, or set agent.search_tool"
    )
    raise ConfigError(msg)


def _needs_tool_calling(chat: BaseChatModel, label: str) -> None:
    from langchain_core.language_models import BaseChatModel

    if type(chat).bind_tools is BaseChatModel.bind_tools:
        msg = (
            f"agent.type 'tool-calling' needs a model with native tool calling, and "
            f"{label} has none; use agent.type react or self-ask, or a model such as "
            "openai or ollama"
        )
        raise ConfigError(msg)


def build_loop_agent(
    config: Config,
    chat: BaseChatModel,
    label: str,
    tools: Callable[[], list[BaseTool]],
    search: Callable[[], BaseTool],
) -> BaseAgent:
    """The bare agent (the loop as a Runnable) that ``config.agent.type`` names.

    Args:
        config: The configuration.
        chat: The chat model.
        label: The model's label in results.
        tools: Gives the tools for react and tool-calling.
        search: Gives the search tool for self-ask.
    """
    from tooldeck.agents.runnable import TextAgent

    limits = limits_from(config)
    kind = config.agent.type
    if kind == "tool-calling":
        from tooldeck.agents.tool_calling import ToolCallingAgent

        _needs_tool_calling(chat, label)
        return ToolCallingAgent(
            chat,
            tools(),
            model_label=label,
            limits=limits,
            max_question_chars=config.max_question_chars,
            tool_top_k=config.agent.tool_top_k,
        )
    grammar = wants_grammar(config, chat)
    if kind == "self-ask":
        loop = partial(_self_ask, search(), limits, grammar)
    else:
        min_score = config.agent.tool_min_score
        # auto: a small constrained model sees only matching tools, and must use one of them
        # first (a question matching none gets none and is answered directly)
        act_first = min_score is None and grammar
        if act_first:
            min_score = 0.0
        loop = partial(
            _react, tools(), config.agent.tool_top_k, min_score, limits, grammar,
            config.prompts.max_examples, act_first,
        )
    return TextAgent(
        chat, loop, model_label=label, limits=limits, max_question_chars=config.max_question_chars
    )


def default_stages(
    config: Config, chat: BaseChatModel, agent: BaseAgent, memory: MemoryHandle
) -> list[tuple[str, Any]]:
    """The stages of one turn, in order, as ``(name, runnable)`` pairs."""
    from tooldeck.pipeline.memory import MemoryLoadStage, MemorySaveStage, history_budget
    from tooldeck.pipeline.stages import AgentLoopStage, InputStage, OutputStage

    return [
        ("input", InputStage(config.max_question_chars)),
        ("memory_load", MemoryLoadStage(memory, partial(history_budget, config, chat))),
        ("agent", AgentLoopStage(agent)),
        ("output", OutputStage()),
        ("memory_save", MemorySaveStage(memory)),
    ]


def build_agent(
    config: Config,
    *,
    registry: ToolRegistry | None = None,
    model: BaseChatModel | None = None,
    tools: Sequence[ToolLike] | None = None,
) -> Pipeline:
    """Build the agent pipeline the configuration describes.

    Args:
        config: The configuration.
        registry: Tools to use; built from plugins when None (and no ``tools`` are given).
        model: A chat model to use instead of the configured one (tests, embedding apps).
        tools: ``BaseTool``s or plain typed functions; they replace the configured tools
            (for self-ask, the search tool is the one named ``agent.search_tool``, or the
            only one given).

    Returns:
        A LangChain ``Runnable`` taking a question string, ``{"input": ..., "history": [...]}``,
        a list of messages, ``{"messages": [...]}`` or a ``HumanMessage`` and returning
        ``{"answer", "steps", "stopped_by", "model", "elapsed_s"}``. The session is
        ``config={"configurable": {"session_id": NAME}}``.

    Raises:
        ConfigError: Unknown tools, a missing self-ask search tool, or a bad model setup.
        UnknownToolError: A configured tool name is not registered.
    """
    from tooldeck.memory.conversation import open_memory
    from tooldeck.models import describe_model, get_chat_model
    from tooldeck.pipeline.compose import Pipeline
    from tooldeck.pipeline.memory import MemoryHandle
    from tooldeck.prompts import configure_prompts

    configure_prompts(config)  # the user's prompts_dir and example_files
    chat = model or get_chat_model(config.model, config.data_dir)
    label = describe_model(config.model) if model is None else type(model).__name__
    if tools is not None:
        given = as_tools(tools)
        agent = build_loop_agent(
            config, chat, label, lambda: given,
            lambda: _given_search_tool(given, config.agent.search_tool),
        )
    else:
        reg = registry or _registry(config)
        agent = build_loop_agent(
            config, chat, label, lambda: _configured_tools(reg, config.tools),
            lambda: _search_tool(reg, config.agent.search_tool),
        )
    memory = MemoryHandle(partial(open_memory, config, chat))
    return Pipeline(default_stages(config, chat, agent, memory), loop_agent=agent, memory=memory)


def _registry(config: Config) -> ToolRegistry:
    from tooldeck.tools.registry import build_registry

    return build_registry(config)
