"""The built-in plugin: declares tooldeck's own tools through the same hook as any plugin.

Every built-in tool is registered as a lazy :class:`~tooldeck.tools.spec.ToolSpec`: its name
and description come from :mod:`tooldeck.tools.builtin.declarations`, its argument model from
:mod:`tooldeck.tools.builtin.arguments` (imported only to read a schema), and the tool module
(which imports LangChain) is imported only when the tool is first used. So
``tooldeck tools list`` imports neither LangChain nor any tool's library. Each tool module
also keeps ``register_into(register, config)``, which registers ready tools (for embedders
and tests that want them built at once).
"""

from __future__ import annotations

import functools
import importlib.util
import logging
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from tooldeck.plugins import Register, hookimpl
from tooldeck.tools.builtin import declarations as d
from tooldeck.tools.spec import ToolSpec, resolve

if TYPE_CHECKING:
    from tooldeck.config import Config
    from tooldeck.config_schema import WebConfig

__all__ = ["TOOL_MODULES", "Declared", "builtin_declarations", "register_tools"]

_log = logging.getLogger("tooldeck.tools")
_HERE = "tooldeck.tools.builtin"
_ARGS = f"{_HERE}.arguments"  # the argument models, imported only to read a schema

# Modules under tooldeck.tools.builtin with a register_into(register, config), in listing order.
TOOL_MODULES = ("search", "web_fetch", "summarize", "wikipedia", "youtube")

# A declaration and the keyword arguments register() takes with it (requires_env, availability).
Declared = tuple[ToolSpec, dict[str, Any]]


def _factory(target: str, *args: Any) -> Callable[[], Any]:
    """A zero-argument builder: import ``target`` ("module:attr") when called, call it."""
    return functools.partial(_call, target, *args)


def _call(target: str, *args: Any) -> Any:
    return resolve(target)(*args)


def _web(config: Config | None) -> WebConfig:
    from tooldeck.config_schema import WebConfig

    return config.web if config is not None else WebConfig()


def _retrievers(config: Config) -> Iterator[Declared]:
    for index in d.index_names(config):
        build = _factory(f"{_HERE}.retriever:retriever_tool", config, index)
        name = d.retriever_name(index, config.rag.default_index)
        spec = ToolSpec(name, d.retriever_description(index), build=build,
                        args_schema=f"{_ARGS}:RetrieverInput", kind="search")  # fmt: skip
        yield spec, {"availability": d.index_check(config, index)}


def _search(config: Config | None) -> Iterator[Declared]:
    build = _factory(f"{_HERE}.search:search_tool", "duckduckgo", config)
    yield ToolSpec("duckduckgo", d.DUCKDUCKGO_DESCRIPTION, build=build,
                   args_schema=f"{_ARGS}:SearchInput", kind="search"), {}  # fmt: skip
    web = _web(config)
    for keyed in (d.SERPER, d.SERPAPI):
        build = _factory(f"{_HERE}.search:search_tool", keyed.name, config)
        spec = ToolSpec(keyed.name, keyed.description, build=build,
                        args_schema=f"{_ARGS}:SearchInput", kind="search")  # fmt: skip
        needs = () if getattr(web, keyed.config_key) is not None else (keyed.env_var,)
        yield spec, {"requires_env": needs}


def _web_tools(config: Config | None) -> dict[str, list[Declared]]:
    transcripts = _web(config).youtube_transcripts
    youtube = ToolSpec(
        "youtube",
        d.YOUTUBE_DESCRIPTION + (d.YOUTUBE_TRANSCRIPT_NOTE if transcripts else ""),
        build=_factory(f"{_HERE}.youtube:youtube_tool", config),
        args_schema=f"{_ARGS}:YoutubeTranscriptInput" if transcripts else f"{_ARGS}:YoutubeInput",
    )
    simple = (
        ("web_fetch", d.WEB_FETCH_DESCRIPTION, "web_fetch_tool", "WebFetchInput"),
        ("summarize", d.SUMMARIZE_DESCRIPTION, "summarize_tool", "SummarizeInput"),
        ("wikipedia", d.WIKIPEDIA_DESCRIPTION, "wikipedia_tool", "WikipediaInput"),
    )
    tools: dict[str, list[Declared]] = {
        name: [(ToolSpec(name, text, build=_factory(f"{_HERE}.{name}:{maker}", config),
                         args_schema=f"{_ARGS}:{schema}"), {})]
        for name, text, maker, schema in simple
    }  # fmt: skip
    return {"search": list(_search(config)), **tools, "youtube": [(youtube, {})]}


def builtin_declarations(config: Config | None) -> list[Declared]:
    """Every built-in tool's declaration, in listing order, with what it needs.

    The calculator, one retriever per index (with a config), then the tools of each module of
    :data:`TOOL_MODULES`; a module that cannot be found costs its own tools only (warned).
    """
    calculator = ToolSpec(
        "calculator",
        d.CALCULATOR_DESCRIPTION,
        build=f"{_HERE}.calculator:calculator",
        args_schema=f"{_ARGS}:CalculatorInput",
    )
    found: list[Declared] = [(calculator, {})]
    if config is not None:
        found.extend(_retrievers(config))
    by_module = _web_tools(config)
    for name in TOOL_MODULES:
        if importlib.util.find_spec(f"{_HERE}.{name}") is None:
            _log.warning("built-in tools of %s are unavailable: module not found", name)
            continue
        found.extend(by_module[name])
    return found


@hookimpl
def register_tools(register: Register) -> None:
    """Declare the built-in tools (each is built when first used)."""
    for spec, needs in builtin_declarations(getattr(register, "config", None)):
        register(spec, **needs)
