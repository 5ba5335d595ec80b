"""The FastAPI app behind ``tooldeck serve``.

Endpoints: ``POST /rest_api`` and ``POST /functional`` (``{"instruction": ...}``: the best REST
operation / function for an instruction), ``POST /v1/ask`` (the API helper), ``POST /v1/run``
(the agent), ``GET /healthz``, the OpenAPI docs at ``/docs``, and a web page at ``/``.
Errors come back as ``{"error": type, "message": ...}`` with 400/404/409/500 status codes.
"""

from __future__ import annotations

import threading
from importlib import resources
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, Field

from tooldeck.errors import (
    EmptyIndexError,
    IndexBusyError,
    IndexNotFoundError,
    ToolDeckError,
    UsageError,
)

if TYPE_CHECKING:
    from tooldeck.config import Config

__all__ = ["create_app"]


class Instruction(BaseModel):
    """Body of ``/rest_api`` and ``/functional``."""

    instruction: str = Field(min_length=1)
    index: str | None = None
    top_k: int | None = Field(default=None, ge=1, le=50)


class AskBody(BaseModel):
    """Body of ``/v1/ask``."""

    question: str = Field(min_length=1)
    index: str | None = None
    top_k: int | None = Field(default=None, ge=1, le=50)
    no_llm: bool | None = None
    kind: str | None = Field(default=None, pattern="^(rest|function|doc)$")


class RunBody(BaseModel):
    """Body of ``/v1/run``."""

    question: str = Field(min_length=1)


def _status(exc: ToolDeckError) -> int:
    if isinstance(exc, IndexNotFoundError):
        return 404
    if isinstance(exc, IndexBusyError):
        return 409
    if isinstance(exc, UsageError | EmptyIndexError):
        return 400
    return 500


class _State:
    def __init__(self, config: Config, index: str | None, use_llm: bool) -> None:
        self.config = config
        self.index_name = index or config.rag.default_index
        self.use_llm = use_llm
        self.lock = threading.Lock()
        self.model_lock = threading.Lock()
        self.indexes: dict[str, Any] = {}
        self.model: Any = None
        self.agent: Any = None

    def index(self, name: str | None) -> Any:
        from tooldeck.rag import open_index

        key = name or self.index_name
        with self.lock:
            if key not in self.indexes:
                self.indexes[key] = open_index(self.config, key)
            return self.indexes[key]

    def get_model(self) -> Any:
        from tooldeck.models import get_chat_model

        with self.lock:
            if self.model is None:
                self.model = get_chat_model(self.config.model, self.config.data_dir)
            return self.model

    def get_agent(self) -> Any:
        from tooldeck.pipeline import build_agent

        with self.lock:
            if self.agent is None:
                self.agent = build_agent(self.config)
            return self.agent


def create_app(config: Config, index: str | None = None, use_llm: bool = True) -> FastAPI:
    """Build the app.

    Args:
        config: the configuration.
        index: the index for ``/rest_api`` and ``/functional`` (``rag.default_index``).
        use_llm: whether ``/v1/ask`` uses the model by default.
    """
    from tooldeck.rag import check_question
    from tooldeck.rag.answer import ask

    state = _State(config, index, use_llm)
    app = FastAPI(title="tooldeck", version="0.1",
                  description="Agents and an API helper over local indexes, offline by default.")

    @app.exception_handler(ToolDeckError)
    async def _tooldeck_error(_: Request, exc: ToolDeckError) -> JSONResponse:
        return JSONResponse({"error": type(exc).__name__, "message": str(exc)}, _status(exc))

    def _ask(question: str, index_name: str | None, top_k: int | None, use_model: bool,
             kind: str | None) -> dict[str, Any]:
        text = check_question(question, config.max_question_chars)
        idx = state.index(index_name)
        k = top_k or config.rag.top_k
        filters = {"kind": kind} if kind else None
        if not use_model:
            return ask(idx, text, k, None, filters).to_dict()
        model = state.get_model()
        with state.model_lock:  # one llama.cpp context: one request at a time
            return ask(idx, text, k, model, filters).to_dict()

    def _best(body: Instruction, kind: str) -> dict[str, Any]:
        result = _ask(body.instruction, body.index, body.top_k, False, kind)
        best = result["matches"][0] if result["matches"] else None
        return {"api": best["id"] if best else None, "example": best["example"] if best else None,
                **result}

    @app.post("/rest_api", summary="The REST operation that fits an instruction")
    def rest_api(body: Instruction) -> dict[str, Any]:
        return _best(body, "rest")

    @app.post("/functional", summary="The function or method that fits an instruction")
    def functional(body: Instruction) -> dict[str, Any]:
        return _best(body, "function")

    @app.post("/v1/ask", summary="Answer a question from an index, with sources")
    def v1_ask(body: AskBody) -> dict[str, Any]:
        use_model = state.use_llm if body.no_llm is None else not body.no_llm
        return _ask(body.question, body.index, body.top_k, use_model, body.kind)

    @app.post("/v1/run", summary="Run the agent on a question")
    def v1_run(body: RunBody) -> dict[str, Any]:
        agent = state.get_agent()  # the agent checks the question itself
        with state.model_lock:
            result: dict[str, Any] = agent.invoke(body.question)
        return result

    @app.get("/healthz", summary="Liveness and the indexes available")
    def healthz() -> dict[str, Any]:
        from tooldeck.rag.index import list_indexes

        return {"status": "ok", "indexes": list_indexes(config.data_dir),
                "default_index": state.index_name}

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> str:
        return resources.files("tooldeck.server").joinpath("static", "index.html").read_text(
            "utf-8")

    return app
