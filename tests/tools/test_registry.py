"""The registry and plugins: the hook, duplicates, broken plugins, custom tools, entry points."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from langchain_core.tools import tool
from pydantic import BaseModel, Field

from tests.helpers import DemoPlugin, echo
from tooldeck.errors import ConfigError, PluginError, UnknownToolError
from tooldeck.plugins import hookimpl, load_plugins
from tooldeck.tools.registry import ToolRegistry, ToolSpec, build_registry

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def test_builtins_come_through_the_hook(config: Any) -> None:
    registry = build_registry(config, load_plugins(entry_points_enabled=False))
    assert {"calculator", "retriever"} <= set(registry.names())
    assert {entry.plugin for entry in registry.entries()} == {"builtin"}
    assert not registry.failed_plugins


def test_unknown_tool_names_the_known_ones(registry: Any) -> None:
    with pytest.raises(UnknownToolError, match="registered tools: boom, calculator"):
        registry.get("nope")
    with pytest.raises(UnknownToolError):
        registry.select(["calculator", "nope"])


def test_duplicate_names_are_an_error(config: Any) -> None:
    class Twice:
        @hookimpl
        def register_tools(self, register: Any) -> None:
            register(echo)

    plugins = load_plugins(entry_points_enabled=False, extra=[("a", DemoPlugin()), ("b", Twice())])
    with pytest.raises(PluginError, match="duplicate tool name 'echo'"):
        build_registry(config, plugins)


def test_plain_functions_and_bad_objects() -> None:
    registry = ToolRegistry()

    def shout(text: str) -> str:
        """Upper-case the text."""
        return text.upper()

    registry.register(shout, plugin="p")
    assert registry.get("shout").tool.invoke({"text": "a"}) == "A"
    with pytest.raises(PluginError, match="not a BaseTool"):
        registry.register(42, plugin="p")  # type: ignore[arg-type]

    @tool("bad name!")
    def weird(x: int) -> int:
        """Weird."""
        return x

    with pytest.raises(PluginError, match="must match"):
        registry.register(weird, plugin="p")


def test_failing_hook_disables_only_that_plugin(config: Any, caplog: Any) -> None:
    class Broken:
        @hookimpl
        def register_tools(self, register: Any) -> None:
            raise ImportError("missing dependency foo")

    plugins = load_plugins(entry_points_enabled=False, extra=[("broken", Broken())])
    registry = build_registry(config, plugins)
    assert {"calculator", "retriever"} <= set(registry.names())
    assert "missing dependency foo" in registry.failed_plugins["broken"]
    assert "plugin 'broken' disabled" in caplog.text


def test_availability_from_env(monkeypatch: Any) -> None:
    registry = ToolRegistry()
    registry.register(echo, plugin="p", requires_env=["TOOLDECK_TEST_KEY"])
    monkeypatch.delenv("TOOLDECK_TEST_KEY", raising=False)
    assert registry.get("echo").availability == "needs TOOLDECK_TEST_KEY"
    assert registry.select([]) == []
    with pytest.raises(ConfigError, match="needs TOOLDECK_TEST_KEY"):
        registry.select(["echo"])
    monkeypatch.setenv("TOOLDECK_TEST_KEY", "x")
    assert registry.get("echo").availability == "available"


def test_custom_tools_module(config: Any, monkeypatch: Any) -> None:
    monkeypatch.syspath_prepend(str(FIXTURES))
    cfg = config.model_copy(update={"custom_tools": ["custom_tools_module"]})
    registry = build_registry(cfg, load_plugins(entry_points_enabled=False))
    assert registry.get("reverse_text").plugin == "custom:custom_tools_module"
    bad = config.model_copy(update={"custom_tools": ["no_such_module_xyz"]})
    with pytest.raises(ConfigError, match="'no_such_module_xyz' not found .*check the name"):
        build_registry(bad, load_plugins(entry_points_enabled=False))


def _install(package: str, target: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--target",
            str(target),
            str(FIXTURES / package),
        ],
        check=True,
        capture_output=True,
    )


def _tools_list(target: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "TOOLDECK_NO_ENTRY_POINTS"}
    env["PYTHONPATH"] = str(target)
    return subprocess.run(
        [sys.executable, "-m", "tooldeck", "tools", "list"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_installed_plugin_package_appears(tmp_path: Path) -> None:
    _install("tooldeck_plugin_demo", tmp_path)
    out = _tools_list(tmp_path)
    assert out.returncode == 0, out.stderr
    assert "word_count" in out.stdout and "demo" in out.stdout
    assert "needs DEMO_API_KEY" in out.stdout
    assert "calculator" in out.stdout


def test_broken_installed_plugin_is_disabled(tmp_path: Path) -> None:
    _install("tooldeck_plugin_broken", tmp_path)
    out = _tools_list(tmp_path)
    assert out.returncode == 0, out.stderr
    assert "calculator" in out.stdout
    assert "plugin 'broken' disabled" in out.stderr and "ModuleNotFoundError" in out.stderr
    json.dumps(out.stdout)


# --- worked examples are checked at registration (issue 10, item 3) ---------------------------


def _with_examples(examples: Any) -> Any:
    @tool
    def lookup(query: str, limit: int = 3) -> str:
        """Look something up.

        Args:
            query: what to look up
            limit: how many results
        """
        return query

    lookup.metadata = {"examples": examples}
    return lookup


_GOOD = {"question": "Who wrote Dune?", "input": {"query": "Dune author"}, "observation": "Herbert"}


def test_valid_examples_are_accepted() -> None:
    registry = ToolRegistry()
    full = {**_GOOD, "answer": "Frank Herbert", "thought": "I should look it up"}
    registry.register(_with_examples([_GOOD, full]), plugin="p")
    assert registry.names() == ["lookup"]


@pytest.mark.parametrize(
    ("examples", "problem"),
    [
        (["Who wrote Dune?"], "example 0 is invalid"),
        ([_GOOD, {"q": "x", "input": {}, "observation": "y"}], "example 1 is invalid .*question"),
        ([{**_GOOD, "input": {"limit": 2}}], "example 0 is invalid .*query"),
        ([{**_GOOD, "input": {"query": "x", "limit": "many"}}], "example 0 .*limit"),
        ([{**_GOOD, "input": {"query": "x", "page": 2}}], "example 0 .*page"),
        ({"question": "x"}, r"metadata\['examples'\] must be a list"),
    ],
)
def test_bad_examples_are_refused_naming_tool_and_index(examples: Any, problem: str) -> None:
    with pytest.raises(PluginError, match=f"plugin 'p': tool 'lookup': {problem}"):
        ToolRegistry().register(_with_examples(examples), plugin="p")


def test_a_plugin_with_bad_examples_is_disabled_not_the_app(config: Any, caplog: Any) -> None:
    class BadExamples:
        @hookimpl
        def register_tools(self, register: Any) -> None:
            register(echo)  # registered first, dropped with the plugin
            register(_with_examples([{"question": "q", "answer": "a"}]))

    plugins = load_plugins(
        entry_points_enabled=False, extra=[("bad", BadExamples()), ("test", DemoPlugin())]
    )
    registry = build_registry(config, plugins)
    assert "lookup" not in registry.names() and "calculator" in registry.names()
    assert registry.get("echo").plugin == "test"  # the good plugin's echo, not the bad one's
    assert "tool 'lookup': example 0 is invalid" in registry.failed_plugins["bad"]
    assert "plugin 'bad' disabled" in caplog.text


# --- disabled_plugins and custom_tools as config.yaml documents them (issue 10, item 4) -------


def test_disabled_plugins_builtin_disables_the_builtin_tools(config: Any) -> None:
    off = config.model_copy(update={"disabled_plugins": ["builtin"]})
    assert build_registry(off).names() == []  # the manager built from the config
    plugins = load_plugins(entry_points_enabled=False, extra=[("test", DemoPlugin())])
    assert build_registry(off, plugins).names() == ["boom", "echo", "search", "sleepy"]
    no_test = config.model_copy(update={"disabled_plugins": ["test"]})
    plugins = load_plugins(entry_points_enabled=False, extra=[("test", DemoPlugin())])
    assert "echo" not in build_registry(no_test, plugins).names()


_MYTOOLS = """from langchain_core.tools import tool


@tool
def shout(text: str) -> str:
    \"\"\"Upper-case the text.

    Args:
        text: the text
    \"\"\"
    return text.upper()
"""


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: Any) -> Any:
    """An empty working directory that is not on sys.path; modules imported from it are dropped."""
    monkeypatch.chdir(tmp_path)
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        if name.startswith(("mytools", "broken_tools")):
            del sys.modules[name]


def test_custom_tools_module_in_the_working_directory(config: Any, workdir: Path) -> None:
    (workdir / "mytools.py").write_text(_MYTOOLS)
    assert str(workdir) not in sys.path
    cfg = config.model_copy(update={"custom_tools": ["mytools"]})
    registry = build_registry(cfg, load_plugins(entry_points_enabled=False))
    assert registry.get("shout").plugin == "custom:mytools"
    assert str(workdir) not in sys.path  # only while importing


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("x = 1\n\nraise RuntimeError('bad setup')\n", r"RuntimeError: bad setup \(.*broken_tools.py, line 3\)"),
        ("import no_such_dependency_xyz\n", r"ModuleNotFoundError: No module named 'no_such_dependency_xyz' \(.*broken_tools.py, line 1\)"),
        ("def f(:\n", r"SyntaxError: .*broken_tools.py, line 1\)"),
    ],
)  # fmt: skip
def test_errors_inside_a_custom_module_are_reported_as_they_are(
    config: Any, workdir: Path, source: str, expected: str
) -> None:
    (workdir / "broken_tools.py").write_text(source)
    cfg = config.model_copy(update={"custom_tools": ["broken_tools"]})
    with pytest.raises(ConfigError, match="'broken_tools' failed to import: " + expected):
        build_registry(cfg, load_plugins(entry_points_enabled=False))


def test_the_tooldeck_command_finds_custom_tools_in_the_working_directory(tmp_path: Path) -> None:
    (tmp_path / "mytools.py").write_text(_MYTOOLS)
    (tmp_path / "config.yaml").write_text("custom_tools: [mytools]\n")
    script = Path(sys.executable).parent / "tooldeck"
    env = {**os.environ, "TOOLDECK_DATA_DIR": str(tmp_path / "data")}
    env.pop("PYTHONPATH", None)
    out = subprocess.run(
        [str(script), "tools", "list"], cwd=tmp_path, capture_output=True, text=True, env=env,
        timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "shout" in out.stdout and "custom:mytools" in out.stdout


# --- availability beyond env vars (issue 10, item 5) ------------------------------------------


def test_availability_from_packages_and_checks(monkeypatch: Any) -> None:
    from tests.helpers import search

    registry = ToolRegistry()
    registry.register(echo, plugin="p", requires_packages=["no_such_package_xyz", "json"])
    state = {"reason": "needs index: run `tooldeck index docs PATH`"}
    registry.register(search, plugin="p", availability=lambda: state["reason"])

    def broken() -> str | None:
        raise OSError("disk gone")

    registry.register(_with_examples([]), plugin="p", availability=broken)
    echo_entry = registry.get("echo")
    assert echo_entry.availability == (
        "needs package no_such_package_xyz: pip install no-such-package-xyz"
    )
    assert registry.get("search").availability == "needs index: run `tooldeck index docs PATH`"
    assert registry.get("lookup").availability.startswith("unavailable: its check failed")
    assert registry.select([]) == []
    with pytest.raises(ConfigError, match="'search' is unavailable: needs index: run"):
        registry.select(["search"])
    state["reason"] = ""
    assert registry.get("search").availability == "available"
    assert [t.name for t in registry.select([])] == ["search"]


def test_search_kind_convention(config: Any) -> None:
    registry = build_registry(config, load_plugins(entry_points_enabled=False))
    kinds = {entry.name: entry.kind for entry in registry.entries()}
    assert kinds["retriever"] == "search" and kinds["calculator"] is None
    assert "retriever" in [entry.name for entry in registry.search_tools()]


def test_a_web_tool_module_that_cannot_import_costs_only_its_tools(
    config: Any, monkeypatch: Any, caplog: Any
) -> None:
    import sys

    from tooldeck.tools.registry import build_registry

    monkeypatch.setitem(sys.modules, "tooldeck.tools.builtin.youtube", None)
    names = build_registry(config).names()
    assert "calculator" in names and "web_fetch" in names and "youtube" not in names
    assert "built-in tools of youtube are unavailable" in caplog.text


# --- lazy declarations: listed from the declaration, built on first use (issue 10, item 9) ----


class _Counted:
    """A build target that counts its calls."""

    def __init__(self, tool: Any) -> None:
        self.tool = tool
        self.calls = 0

    def __call__(self) -> Any:
        self.calls += 1
        return self.tool


def _shout_tool() -> Any:
    @tool
    def shout(text: str) -> str:
        """Upper-case the text.

        Args:
            text: the text
        """
        return text.upper()

    return shout


class _ShoutInput(BaseModel):
    text: str = Field(description="the text")


def _declared(build: Any, **fields: Any) -> ToolSpec:
    base: dict[str, Any] = {"description": "Upper-case the text.", "args_schema": _ShoutInput}
    return ToolSpec("shout", build=build, **{**base, **fields})


def test_a_declared_tool_is_listed_without_being_built_and_built_once_on_use() -> None:
    build = _Counted(_shout_tool())
    registry = ToolRegistry()
    entry = registry.register(_declared(build, kind="search"), plugin="p")
    assert (entry.name, entry.summary, entry.kind, entry.availability) == (
        "shout", "Upper-case the text.", "search", "available"
    )
    schema = entry.args_json_schema()
    assert schema["title"] == "shout" and schema["required"] == ["text"]
    assert [e.name for e in registry.search_tools()] == ["shout"]
    assert build.calls == 0 and not entry.built
    assert registry.get("shout").tool.invoke({"text": "a"}) == "A"
    assert [t.name for t in registry.select([])] == ["shout"]
    assert build.calls == 1 and entry.built


def test_a_declaration_may_name_its_tool_and_schema_by_module_path() -> None:
    registry = ToolRegistry()
    spec = ToolSpec(
        "echo", "Echo the text back unchanged.", build="tests.helpers:echo",
        args_schema="tests.tools.test_registry:_ShoutInput",
    )  # fmt: skip
    entry = registry.register(spec, plugin="p")
    assert entry.args_json_schema()["properties"]["text"]["description"] == "the text"
    assert entry.tool is echo


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        (_declared("no_such_module_xyz.tools:make"), "module 'no_such_module_xyz.tools' is not"),
        (_declared(_shout_tool, args_schema="no_such_module_xyz:Model"), "argument schema cannot"),
        (_declared(_shout_tool, args_schema={"type": "string"}), "JSON object schema"),
        (_declared(lambda: 42), "not a BaseTool"),
        (_declared(lambda: _with_examples([])), "declared under that name but built as 'lookup'"),
        (_declared(lambda: _shout_tool().__class__()), "could not be built"),
    ],
)
def test_a_broken_declaration_is_listed_as_unavailable_never_offered(
    spec: ToolSpec, reason: str, caplog: Any
) -> None:
    registry = ToolRegistry()
    entry = registry.register(spec, plugin="p")
    assert registry.select([]) == []  # the listing and the choice of tools never raise
    assert entry.availability.startswith("broken: ") and reason in entry.availability
    with pytest.raises(ConfigError, match=f"'shout' is unavailable: broken: .*{reason}"):
        registry.select(["shout"])


def test_examples_of_a_declared_tool_are_checked_when_it_is_built() -> None:
    bad = _with_examples([{"question": "q", "answer": "a"}])
    registry = ToolRegistry()
    entry = registry.register(
        ToolSpec("lookup", "Look something up.", build=lambda: bad), plugin="p"
    )
    assert entry.availability == "available"  # not known until built
    with pytest.raises(PluginError, match="tool 'lookup': example 0 is invalid"):
        _ = entry.tool
    assert entry.availability.startswith("broken: plugin 'p': tool 'lookup': example 0")


def test_declarations_are_checked_for_name_and_description_at_registration() -> None:
    registry = ToolRegistry()
    with pytest.raises(PluginError, match="must match"):
        registry.register(ToolSpec("bad name!", "Does things.", build=_shout_tool), plugin="p")
    with pytest.raises(PluginError, match="has no description"):
        registry.register(ToolSpec("quiet", "  ", build=_shout_tool), plugin="p")
    registry.register(_declared(_shout_tool), plugin="p")
    with pytest.raises(PluginError, match="duplicate tool name 'shout'"):
        registry.register(_shout_tool(), plugin="q")


def test_a_plugin_may_mix_ready_and_declared_tools_with_needs(
    config: Any, monkeypatch: Any
) -> None:
    class Mixed:
        @hookimpl
        def register_tools(self, register: Any) -> None:
            register(echo)
            register(_declared(_shout_tool), requires_env=["TOOLDECK_TEST_SHOUT_KEY"])

    monkeypatch.delenv("TOOLDECK_TEST_SHOUT_KEY", raising=False)
    plugins = load_plugins(entry_points_enabled=False, extra=[("mixed", Mixed())])
    registry = build_registry(config, plugins)
    assert registry.get("echo").built and not registry.get("shout").built
    assert registry.get("shout").availability == "needs TOOLDECK_TEST_SHOUT_KEY"
    assert not registry.failed_plugins


@pytest.mark.parametrize("transcripts", [False, True])
def test_every_builtin_declaration_matches_the_tool_it_builds(
    config: Any, transcripts: bool
) -> None:
    web = config.web.model_copy(update={"youtube_transcripts": transcripts})
    cfg = config.model_copy(update={"web": web})
    registry = build_registry(cfg, load_plugins(entry_points_enabled=False))
    for entry in registry.entries():
        assert entry.spec is not None and not entry.built, entry
        declared = (entry.description, entry.kind, entry.args_json_schema())
        built = entry.tool
        kind = (built.metadata or {}).get("kind")
        schema = built.tool_call_schema.model_json_schema()  # type: ignore[union-attr]
        assert declared == (built.description, kind, schema)


def test_tools_list_shows_a_broken_declaration_with_its_reason(capsys: Any) -> None:
    from tooldeck.console import print_tools

    registry = ToolRegistry()
    registry.register(_declared(_shout_tool, args_schema="no_such_module_xyz:Model"), plugin="p")
    print_tools(registry, as_json=True)
    (row,) = json.loads(capsys.readouterr().out)
    assert row["availability"].startswith("broken: its argument schema cannot be read")
    assert row["args_schema"] is None and row["description"] == "Upper-case the text."
    print_tools(registry)
    assert "broken: its argument schema" in capsys.readouterr().out.replace("\n", " ")


def test_a_schema_named_by_module_path_is_read_only_when_needed(capsys: Any) -> None:
    from tooldeck.console import print_tools

    registry = ToolRegistry()
    entry = registry.register(
        _declared(_shout_tool, args_schema="tests.helpers:NoSuchModel"), plugin="p"
    )
    assert entry.availability == "available"  # its module exists; the model is not imported
    print_tools(registry, as_json=True)
    (row,) = json.loads(capsys.readouterr().out)
    assert row["args_schema"] is None
    assert row["availability"].startswith("broken: its argument schema cannot be read")
    assert "NoSuchModel" in row["availability"] and registry.select([]) == []
