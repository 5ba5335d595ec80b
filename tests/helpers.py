"""Tools and builders for the tests."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from langchain_core.tools import tool

from tooldeck.plugins import hookimpl, load_plugins
from tooldeck.testing import grammar_accepts
from tooldeck.tools.registry import ToolRegistry, build_registry


@tool
def echo(text: str) -> str:
    """Echo the text back unchanged.

    Args:
        text: the text to echo
    """
    return f"echo: {text}"


@tool
def boom(text: str) -> str:
    """A tool that always raises an exception.

    Args:
        text: anything
    """
    raise RuntimeError("kaboom")


@tool
def sleepy(seconds: float) -> str:
    """Sleep for a number of seconds and then answer.

    Args:
        seconds: how long to sleep
    """
    time.sleep(seconds)
    return "woke up"


@tool
def search(query: str) -> str:
    """Search a tiny fake encyclopedia for facts about people and places.

    Args:
        query: what to look up
    """
    facts = {
        "capital of france": "Paris is the capital of France.",
        "paris": "Paris has 2.1 million people.",
    }
    for key, value in facts.items():
        if key in query.lower():
            return value
    return "No good search result found."


class DemoPlugin:
    """A plugin object registered in-process."""

    @hookimpl
    def register_tools(self, register: Any) -> None:
        for t in (echo, boom, sleepy, search):
            register(t)


def make_registry(config: Any) -> ToolRegistry:
    """The built-in tools plus the test tools."""
    plugins = load_plugins(entry_points_enabled=False, extra=[("test", DemoPlugin())])
    return build_registry(config, plugins)


def react(thought: str, tool_name: str, tool_input: str) -> str:
    """A ReAct action step as a model would write it."""
    return f"Thought: {thought}\nAction: {tool_name}\nAction Input: {tool_input}"


def final(answer: str, thought: str = "I know the answer") -> str:
    """A ReAct final step."""
    return f"Thought: {thought}\nFinal Answer: {answer}"


@contextlib.contextmanager
def loopback_server(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Serve ``handler`` on 127.0.0.1 (a free port) in a thread; yield ``http://host:port``."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class JSONHandler(BaseHTTPRequestHandler):
    """Base handler: quiet, with a helper that sends one JSON (or NDJSON) body."""

    def log_message(self, *args: Any) -> None:
        pass

    def read_json(self) -> Any:
        return json.loads(self.rfile.read(int(self.headers["Content-Length"])))

    def send_json(
        self, data: Any, content_type: str = "application/json", suffix: str = ""
    ) -> None:
        body = (json.dumps(data) + suffix).encode()
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def step_accepted(tools: list[Any], name: str, arguments: str) -> bool:
    """Whether the ReAct grammar over ``tools`` accepts calling ``name`` with ``arguments``."""
    from tooldeck.agents.grammar import react_grammar

    return grammar_accepts(react_grammar(tools), react("I need it", name, arguments))


def drive_loop(gen: Any, replies: list[str]) -> tuple[Any, list[Any]]:
    """Run an agent loop generator with scripted model replies and real tool calls.

    The last reply repeats once the script ends. Returns the ``AgentResult`` and the
    ``ModelCall`` requests the loop made, in order.
    """
    from tooldeck.agents.core import ModelCall, ToolCall
    from tooldeck.tools.runner import run_tool

    calls: list[Any] = []
    reply: Any = None
    while True:
        try:
            item = gen.send(reply)
        except StopIteration as done:
            return done.value, calls
        reply = None
        if isinstance(item, ModelCall):
            calls.append(item)
            reply = replies[min(len(calls), len(replies)) - 1]
        elif isinstance(item, ToolCall):
            reply = run_tool(item.tool, item.tool_input, timeout_s=item.timeout_s)
