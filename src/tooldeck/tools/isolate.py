"""CPU-bound work in a worker process that is killed on timeout: the one way to stop it.

A thread cannot be stopped, and C-level work (a huge ``int`` power, a backtracking regex, a
big sort) holds the GIL, so a tool doing such work on the runner's thread freezes every thread
of the process, a server's event loop included, and its timeout never fires. A CPU-bound tool
either bounds its input so that every accepted call finishes in milliseconds (the calculator
does), or does the heavy part through :func:`run_in_subprocess`, which runs a module-level
function in a pre-started worker process and kills the worker when the call runs past its
timeout. The waiting thread sleeps on a socket, so the rest of the process keeps running.

Only plain data crosses, as JSON both ways (no pickle): the function goes by reference (its
module and name, imported in the worker), its arguments and its result must be text, numbers,
``bool``, ``None`` and lists or dicts of them, so a worker can never make the parent build an
object. A worker is a fresh interpreter started
with ``subprocess`` (POSIX), never a ``fork`` of a process that runs threads (that can
deadlock) nor a ``multiprocessing`` child (that re-runs the main script).
"""

from __future__ import annotations

import atexit
import importlib
import json
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any, TypeVar, cast

from tooldeck.errors import ToolExecutionError, ToolTimeoutError

__all__ = ["STARTUP_TIMEOUT_S", "run_in_subprocess", "shutdown_workers"]

T = TypeVar("T")

STARTUP_TIMEOUT_S = 60.0
_MAX_IDLE = 2
_MAX_REPLY_BYTES = 16 * 1024 * 1024
_MAX_ERROR_CHARS = 2000
_BOOT = (
    "import json, sys; sys.path[:] = json.loads(sys.argv[2]); "
    "from tooldeck.tools.isolate import _worker_main; _worker_main(int(sys.argv[1]))"
)


def _dump(message: Any) -> bytes:
    return json.dumps(message, allow_nan=False).encode("utf-8")


def _function(module: str, name: str) -> Callable[..., Any]:
    """The module-level function ``module.name`` (imported in the worker)."""
    found: Any = importlib.import_module(module)
    for part in name.split("."):
        found = getattr(found, part)
    if not callable(found):
        msg = f"{module}.{name} is not callable"
        raise TypeError(msg)
    return cast(Callable[..., Any], found)


def _worker_main(fd: int) -> None:
    """Entry point of a worker process: serve the socket ``fd``; Ctrl-C is the parent's."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _serve(Connection(fd))


def _serve(conn: Connection) -> None:
    """The worker's loop: answer requests until the parent closes the socket."""
    while True:
        try:
            request = conn.recv_bytes()
        except (EOFError, OSError):
            return
        conn.send_bytes(_answer(request))


def _answer(request: bytes) -> bytes:
    """Run one JSON request from the parent and answer in JSON."""
    try:
        message = json.loads(request)
        if message["kind"] == "import":
            importlib.import_module(message["module"])
            return _dump(["ok", None])
        result = _function(message["module"], message["name"])(*message["args"])
        try:
            return _dump(["ok", result])
        except (TypeError, ValueError):
            return _dump(["not-plain", type(result).__name__])
    except Exception as exc:
        tool_error = any(c.__name__ == "ToolException" for c in type(exc).__mro__)
        text = str(exc)[:_MAX_ERROR_CHARS]
        return _dump(["error", tool_error, type(exc).__name__, text])


class _Worker:
    """One worker process and the parent's end of its socket."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair()
        try:
            self._process = subprocess.Popen(  # noqa: S603  # our interpreter, no shell
                [sys.executable, "-c", _BOOT, str(theirs.fileno()), json.dumps(sys.path)],
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
            )
        finally:
            theirs.close()
        self._conn = Connection(ours.detach())
        self._modules: set[str] = set()

    def prepare(self, module: str) -> None:
        """Import ``module`` in the worker; its start and imports do not count as the call's."""
        if module not in self._modules:
            try:
                reply = self.ask(_dump({"kind": "import", "module": module}), STARTUP_TIMEOUT_S)
            except ToolTimeoutError:
                msg = f"the worker process did not start within {STARTUP_TIMEOUT_S:g} s"
                raise ToolExecutionError(msg) from None
            _unpack(reply)
            self._modules.add(module)

    def ask(self, request: bytes, timeout_s: float) -> bytes:
        """Send a request and wait for the reply; raise on timeout or a dead worker."""
        try:
            self._conn.send_bytes(request)
            if not self._conn.poll(timeout_s):
                msg = f"the computation ran past {timeout_s:g} s and was stopped"
                raise ToolTimeoutError(msg)
            return self._conn.recv_bytes(_MAX_REPLY_BYTES)
        except (EOFError, ConnectionError):
            code = self._process.poll()
            msg = f"the worker process died (exit code {code})"
            raise ToolExecutionError(msg) from None
        except OSError:  # "bad message length"
            msg = f"the result is over {_MAX_REPLY_BYTES // 2**20} MB"
            raise ToolExecutionError(msg) from None

    def kill(self) -> None:
        """Stop the worker at once, whatever it is doing."""
        self._process.kill()
        self._process.wait(5)
        self._conn.close()


_idle: list[_Worker] = []
_lock = threading.Lock()


def _take() -> _Worker:
    with _lock:
        if _idle:
            return _idle.pop()
    return _Worker()


def _give_back(worker: _Worker) -> None:
    with _lock:
        if len(_idle) < _MAX_IDLE:
            _idle.append(worker)
            return
    worker.kill()


def _unpack(reply: bytes) -> Any:
    from langchain_core.tools import ToolException

    message = json.loads(reply)
    if message[0] == "ok":
        return message[1]
    if message[0] == "not-plain":
        msg = (f"the worker returned a {message[1]}, something other than plain data (text, "
               "numbers, lists, dicts)")
        raise ToolExecutionError(msg)
    _, tool_error, name, text = message
    if tool_error:
        raise ToolException(text)
    raise ToolExecutionError(f"{name}: {text}")


def run_in_subprocess(fn: Callable[..., T], *args: object, timeout_s: float) -> T:
    """Call ``fn(*args)`` in a worker process, killing it if it runs past ``timeout_s``.

    Workers are started on first use and reused (up to two stay idle); the first call that
    uses a module imports it in the worker before the timeout starts. Meant for CPU-bound
    tools; see the module docstring.

    Args:
        fn: A module-level function (sent by reference, so lambdas and closures cannot go).
        *args: Its arguments: plain data (text, numbers, lists, dicts), sent as JSON.
        timeout_s: Seconds the call may run; the worker is killed after that.

    Returns:
        What ``fn`` returned, which must be plain data (text, numbers, lists, dicts).

    Raises:
        ToolTimeoutError: The call ran past ``timeout_s``; the worker was killed.
        ToolException: ``fn`` raised a ``ToolException``; same message.
        ToolExecutionError: ``fn`` raised anything else, returned non-plain data, could not be
            sent, or the worker died.
    """
    module, name = getattr(fn, "__module__", None), getattr(fn, "__qualname__", "")
    if not module or not name or "<" in name:
        msg = f"cannot send {fn!r} to a worker process; pass a module-level function"
        raise ToolExecutionError(msg)
    try:
        request = _dump({"kind": "call", "module": module, "name": name, "args": list(args)})
    except (TypeError, ValueError) as exc:
        msg = f"cannot send the arguments to a worker process ({exc}); pass plain data"
        raise ToolExecutionError(msg) from None
    worker = _take()
    try:
        worker.prepare(module)
        reply = worker.ask(request, timeout_s)
    except BaseException:
        worker.kill()
        raise
    _give_back(worker)
    return cast(T, _unpack(reply))


def shutdown_workers() -> None:
    """Stop the idle workers (a worker also exits by itself when this process ends)."""
    with _lock:
        workers, _idle[:] = list(_idle), []
    for worker in workers:
        worker.kill()


atexit.register(shutdown_workers)
