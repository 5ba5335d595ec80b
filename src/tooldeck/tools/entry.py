"""One registry entry: a tool (built, or declared by a :class:`~tooldeck.tools.spec.ToolSpec`
and built on first use) and what it needs to run here.

This module owns the rule that listing never builds a declared tool: name, description, kind,
argument schema and availability come from the declaration, and only :attr:`ToolEntry.tool`
builds it (once, under a lock). A declared tool that cannot be built, or whose declaration is
broken (an argument schema that cannot be read, a build module that does not exist), is
unavailable with the reason; it never breaks a listing.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from tooldeck.errors import PluginError
from tooldeck.tools.spec import ToolSpec

if TYPE_CHECKING:
    from langchain_core.tools import BaseTool

__all__ = ["Availability", "ToolEntry", "importable"]

Availability = Callable[[], "str | None"]
_log = logging.getLogger("tooldeck.tools")


def importable(name: str) -> bool:
    """Whether a module can be found (its parent packages are imported, the module is not)."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


class ToolEntry:
    """A registered tool, which plugin gave it, and what it needs to run here.

    Attributes:
        plugin: The name of the plugin that registered it.
        requires_env: Env vars it needs.
        requires_packages: Python packages (import names) it needs.
        check: Its own availability check (returns why not, or None), if any.
        spec: Its declaration, for a tool registered lazily; None for a ready tool.
    """

    def __init__(
        self,
        tool: BaseTool | ToolSpec,
        plugin: str,
        requires_env: tuple[str, ...] = (),
        requires_packages: tuple[str, ...] = (),
        check: Availability | None = None,
        *,
        finish: Callable[[Any], BaseTool] | None = None,
    ) -> None:
        """Create an entry.

        Args:
            tool: A checked ``BaseTool``, or a declaration to build on first use.
            plugin: The plugin that registered it.
            requires_env: Env vars it needs.
            requires_packages: Python packages (import names) it needs.
            check: Its availability check.
            finish: For a declaration: checks the built tool (name, schema, examples) and
                returns it; raises ``PluginError`` when it fails.
        """
        self.plugin = plugin
        self.requires_env = requires_env
        self.requires_packages = requires_packages
        self.check = check
        self.spec = tool if isinstance(tool, ToolSpec) else None
        self._tool: BaseTool | None = None if isinstance(tool, ToolSpec) else tool
        self._finish = finish
        self._broken: str | None = None
        self._schema_error: str | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        """``ToolEntry(name, plugin=..., built=...)``."""
        return f"ToolEntry({self.name!r}, plugin={self.plugin!r}, built={self.built})"

    @property
    def name(self) -> str:
        """The tool's unique name."""
        if self.spec is not None:
            return self.spec.name
        return cast("BaseTool", self._tool).name

    @property
    def built(self) -> bool:
        """Whether the ``BaseTool`` exists yet (always, for a tool registered ready)."""
        return self._tool is not None

    @property
    def tool(self) -> BaseTool:
        """The LangChain tool, built from its declaration on first use.

        Raises:
            PluginError: The declared tool cannot be built or fails the registry's checks; the
                entry is unavailable from then on, with the reason.
        """
        if self._tool is not None:
            return self._tool
        with self._lock:
            if self._tool is None:
                self._tool = self._build(cast("ToolSpec", self.spec))
        return self._tool

    def _build(self, spec: ToolSpec) -> BaseTool:
        if self._broken is not None:
            raise PluginError(self._broken)
        try:
            made = spec.make()
            return self._finish(made) if self._finish is not None else made
        except PluginError as exc:
            self._broken = str(exc)
        except Exception as exc:  # whatever the plugin's factory raises
            self._broken = (
                f"plugin {self.plugin!r}: tool {self.name!r} could not be built "
                f"({type(exc).__name__}: {exc})"
            )
        _log.warning("%s", self._broken)
        raise PluginError(self._broken)

    @property
    def description(self) -> str:
        """The description (the declaration's, for a declared tool)."""
        if self.spec is not None:
            return self.spec.description
        return self.tool.description or ""

    @property
    def summary(self) -> str:
        """The first line of the tool's description."""
        lines = self.description.strip().splitlines()
        return lines[0] if lines else ""

    @property
    def kind(self) -> str | None:
        """``"search"`` for query-answering tools (the declaration's or ``metadata["kind"]``)."""
        if self.spec is not None:
            return self.spec.kind
        kind = (self.tool.metadata or {}).get("kind")
        return kind if isinstance(kind, str) else None

    def args_json_schema(self) -> dict[str, Any]:
        """The arguments' JSON schema, as a tool-calling model sees it; never builds a tool.

        Raises:
            Exception: A declared schema that cannot be read (``broken`` says why from then on).
        """
        if self.spec is None:
            schema = self.tool.tool_call_schema
            data: dict[str, Any] = (
                schema if isinstance(schema, dict) else schema.model_json_schema()  # type: ignore[union-attr]
            )
            return data
        try:
            return self.spec.json_schema()
        except Exception as exc:
            self._schema_error = (
                f"its argument schema cannot be read ({type(exc).__name__}: {exc})"
            )
            raise

    def broken(self) -> str | None:
        """Why a declared tool cannot work at all: a failed build, or a bad declaration.

        Cheap: a schema given by ``"module:Model"`` is only looked for (its module found), not
        imported, until :meth:`args_json_schema` or a build reads it.
        """
        if self._broken is not None:
            return f"broken: {self._broken}"
        if self.spec is None or self._tool is not None:
            return None
        if self._schema_error is None:
            self._schema_error = _declaration_problem(self.spec)
        return f"broken: {self._schema_error}" if self._schema_error else None

    def missing_env(self) -> list[str]:
        """Env vars the tool needs that are not set."""
        return [var for var in self.requires_env if not os.environ.get(var)]

    def missing_packages(self) -> list[str]:
        """Python packages (import names) the tool needs that are not installed."""
        return [name for name in self.requires_packages if not importable(name)]

    def unavailable(self) -> str | None:
        """Why the tool cannot run here (``needs ...``, ``broken: ...``), or None when it can."""
        broken = self.broken()
        if broken is not None:
            return broken
        missing = self.missing_env()
        if missing:
            return "needs " + ", ".join(missing)
        packages = self.missing_packages()
        if packages:
            pip = " ".join(name.split(".")[0].replace("_", "-") for name in packages)
            return f"needs package {', '.join(packages)}: pip install {pip}"
        if self.check is None:
            return None
        try:
            return self.check() or None
        except Exception as exc:  # a check that fails says so instead of breaking the listing
            return f"unavailable: its check failed ({type(exc).__name__}: {exc})"

    @property
    def availability(self) -> str:
        """``available``, or why not (``needs VAR``, ``needs package X: ...``, ``broken: ...``)."""
        return self.unavailable() or "available"


def _declaration_problem(spec: ToolSpec) -> str:
    """What is wrong with a declaration, found without importing its modules ("" if nothing)."""
    build, schema = spec.build, spec.args_schema
    if isinstance(build, str) and not importable(build.partition(":")[0]):
        return f"its module {build.partition(':')[0]!r} is not installed"
    if isinstance(schema, str):
        module = schema.partition(":")[0]
        if importable(module):
            return ""
        return f"its argument schema cannot be read (module {module!r} is not installed)"
    try:
        spec.json_schema()
    except Exception as exc:
        return f"its argument schema cannot be read ({type(exc).__name__}: {exc})"
    return ""
