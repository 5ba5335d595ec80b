"""The FastAPI app behind ``tooldeck serve``.

Endpoints: ``POST /rest_api`` and ``POST /functional`` (``{"instruction": ...}``: the best REST
operation / function for an instruction), ``POST /v1/ask`` (the API helper), ``POST /v1/run``
(the agent), ``GET /healthz``, the API docs at ``/docs`` (served from the package: no CDN), and
a web page at ``/``.

Who may call and how much they may send is the guard's job (:mod:`.guard`); model work runs
in the bounded run pool (:mod:`.runs`) while retrieval runs in Starlette's thread pool, so
neither waits for the other. Every error is ``{"error": type, "message": ...}`` with secrets
and local paths removed (:mod:`.responses`): 400 bad input, 401 no token, 403 foreign origin,
404 unknown index or path, 409 index being written, 413 too large, 421 unknown host, 422
malformed body, 431 headers too large, 500, 503 busy (``Retry-After``), 504 run too long.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractContextManager, asynccontextmanager
from functools import partial
from importlib import resources
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import AfterValidator, BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from tooldeck.errors import (
    ContextOverflowError,
    EmptyIndexError,
    IndexBusyError,
    IndexNotFoundError,
    ToolDeckError,
    UsageError,
)
from tooldeck.server.guard import AUTHORIZED, GuardMiddleware, Policy
from tooldeck.server.responses import error_response
from tooldeck.server.run_stream import Emit, event_handler, stream_response
from tooldeck.server.runs import RunPool
from tooldeck.server.shared import IndexCache, Lazy

if TYPE_CHECKING:
    from tooldeck.config import Config

__all__ = ["create_app"]

log = logging.getLogger(__name__)

_LOCAL_PROVIDERS = frozenset({"local", "gguf"})
_STATIC_TYPES = {
    "index.html": "text/html; charset=utf-8",
    "docs.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "docs.js": "text/javascript; charset=utf-8",
    "page.css": "text/css; charset=utf-8",
}


def _text(value: str) -> str:
    value.encode("utf-8")  # a lone surrogate ("\ud800") cannot be: 422, not a 500 later
    return value


Text = Annotated[str, AfterValidator(_text)]


class Instruction(BaseModel):
    """Body of ``/rest_api`` and ``/functional``."""

    instruction: Text = Field(min_length=1)
    index: Text | None = None
    top_k: int | None = Field(default=None, ge=1, le=50)


class AskBody(BaseModel):
    """Body of ``/v1/ask``."""

    question: Text = Field(min_length=1)
    index: Text | None = None
    top_k: int | None = Field(default=None, ge=1, le=50)
    no_llm: bool | None = None
    kind: str | None = Field(default=None, pattern="^(rest|function|doc)$")


class RunBody(BaseModel):
    """Body of ``/v1/run``: a question, and a session to continue (its turns are kept)."""

    question: Text = Field(min_length=1)
    session_id: Text | None = Field(default=None, min_length=1, max_length=128)
    stream: bool = False


def _chat_model(config: Config) -> Any:
    from tooldeck.models import get_chat_model  # LangChain: imported on first use

    return get_chat_model(config.model, config.data_dir)


def _agent(config: Config) -> Any:
    from tooldeck.pipeline import build_agent

    return build_agent(config)


class _Service:
    """What the endpoints do, apart from HTTP."""

    def __init__(self, config: Config, index: str | None, use_llm: bool,
                 queue_timeout_s: float) -> None:
        from tooldeck.rag import open_index

        server = config.server
        self.config = config
        self.index_name = index or config.rag.default_index
        self.use_llm = use_llm
        self.indexes = IndexCache(config.data_dir, partial(open_index, config))
        self.model = Lazy(partial(_chat_model, config))
        self.agent = Lazy(partial(_agent, config))
        self.pool = RunPool(server.max_concurrent_runs, queue_timeout_s, server.run_timeout_s)
        # an in-process llama.cpp context serves one call at a time; remote models need no lock
        local = config.model.provider in _LOCAL_PROVIDERS
        self.model_turn: AbstractContextManager[Any] = (
            threading.Lock() if local else contextlib.nullcontext()
        )
        self.token_required = bool(server.token and server.token.get_secret_value())

    def check_length(self, question: str) -> None:
        """413 for a question over ``max_question_chars``, before any work."""
        limit = self.config.max_question_chars
        if len(question) > limit:
            msg = (f"the question is {len(question):,} characters long; the limit is "
                   f"{limit:,} (max_question_chars in config)")
            raise HTTPException(413, msg)

    def ask(self, question: str, index_name: str | None, top_k: int | None, use_model: bool,
            kind: str | None) -> dict[str, Any]:
        """Answer from an index; blocking (run it in a thread)."""
        from tooldeck.questions import check_question
        from tooldeck.rag.answer import ask
        from tooldeck.rag.rerank import rerank_settings

        self.check_length(question)
        text = check_question(question, self.config.max_question_chars)
        k = top_k or self.config.rag.top_k
        filters = {"kind": kind} if kind else None
        with self.indexes.lease(index_name or self.index_name) as idx:
            if not use_model:
                return ask(idx, text, k, None, filters).to_dict()
            s = rerank_settings(self.config.rag)
            model = self.model.get()
            with self.model_turn:
                return ask(idx, text, k, model, filters, rerank=s.mode, rerank_k=s.k,
                           rerank_timeout_s=s.timeout_s).to_dict()

    def best(self, body: Instruction, kind: str) -> dict[str, Any]:
        """The best operation or function for an instruction; blocking."""
        result = self.ask(body.instruction, body.index, body.top_k, False, kind)
        top = result["matches"][0] if result["matches"] else None
        return {"api": top["id"] if top else None, "example": top["example"] if top else None,
                **result}

    def run(self, question: str, session_id: str | None = None,
            emit: Emit | None = None) -> dict[str, Any]:
        """Run the agent pipeline (its input stage checks the question); blocking.

        With ``session_id`` the pipeline loads that session's history and saves the turn;
        with ``emit`` it runs streaming and each token and step event goes to ``emit``.
        """
        agent = self.agent.get()
        config: dict[str, Any] = {}
        if session_id is not None:
            config["configurable"] = {"session_id": session_id}
        with self.model_turn:
            if emit is None and not config:
                result: dict[str, Any] = agent.invoke(question)
            elif emit is None:
                result = agent.invoke(question, config)
            else:
                config["callbacks"] = [event_handler(emit)]
                for chunk in agent.stream(question, config):
                    result = chunk
        return result

    def health(self, authorized: bool) -> dict[str, Any]:
        """Liveness; the index names only for a caller who passed the token check."""
        from tooldeck.rag.index import list_indexes

        out: dict[str, Any] = {"status": "ok", "token_required": self.token_required}
        if authorized:
            out["indexes"] = list_indexes(self.config.data_dir)
            out["default_index"] = self.index_name
        return out

    def close(self) -> None:
        """Stop the run pool and close the indexes."""
        self.pool.shutdown()
        self.indexes.close()


def _status(exc: ToolDeckError) -> int:
    if isinstance(exc, IndexNotFoundError):
        return 404
    if isinstance(exc, IndexBusyError):
        return 409
    if isinstance(exc, UsageError | EmptyIndexError):
        return 400
    if isinstance(exc, ContextOverflowError):
        return 413  # the question (with its prompt) does not fit the model's context
    return 500


def _install_error_handlers(app: FastAPI, config: Config) -> None:
    data_dir = config.data_dir

    @app.exception_handler(ToolDeckError)
    async def tooldeck_error(_: Request, exc: ToolDeckError) -> Response:
        status = _status(exc)
        message = str(exc)
        if status == 413:
            message += (f" (a question must fit model.n_ctx; max_question_chars is "
                        f"{config.max_question_chars:,})")
        return error_response(status, message, error=type(exc).__name__, data_dir=data_dir)

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> Response:
        return error_response(exc.status_code, str(exc.detail), data_dir=data_dir,
                              headers=dict(exc.headers or {}))

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> Response:
        parts = [
            ".".join(str(p) for p in err.get("loc", ())) + ": " + str(err.get("msg", "invalid"))
            for err in exc.errors()[:5]
        ]  # never the input: it may be huge, secret, or not encodable (a lone surrogate)
        return error_response(422, "; ".join(parts) or "invalid request",
                              error="ValidationError", data_dir=data_dir)

    @app.exception_handler(Exception)
    async def crashed(_: Request, exc: Exception) -> Response:
        log.error("request failed", exc_info=exc)
        return error_response(500, "internal error; the server log has the details")


def _add_api_routes(app: FastAPI, service: _Service) -> None:
    @app.post("/rest_api", summary="The REST operation that fits an instruction")
    def rest_api(body: Instruction) -> dict[str, Any]:
        return service.best(body, "rest")

    @app.post("/functional", summary="The function or method that fits an instruction")
    def functional(body: Instruction) -> dict[str, Any]:
        return service.best(body, "function")

    @app.post("/v1/ask", summary="Answer a question from an index, with sources")
    async def v1_ask(body: AskBody) -> dict[str, Any]:
        use_model = service.use_llm if body.no_llm is None else not body.no_llm
        call: Callable[[], dict[str, Any]] = partial(
            service.ask, body.question, body.index, body.top_k, use_model, body.kind)
        if use_model:
            return await service.pool.run(call)
        return await run_in_threadpool(call)

    @app.post("/v1/run", summary="Run the agent on a question", response_model=None)
    async def v1_run(body: RunBody) -> dict[str, Any] | Response:
        service.check_length(body.question)
        if body.stream:
            run = partial(service.run, body.question, body.session_id)
            return await stream_response(service.pool, run, service.config.data_dir)
        return await service.pool.run(partial(service.run, body.question, body.session_id))

    @app.get("/healthz", summary="Liveness (and the indexes, for an authorized caller)")
    async def healthz(request: Request) -> dict[str, Any]:
        return service.health(bool(request.scope.get("state", {}).get(AUTHORIZED)))


def _add_page_routes(app: FastAPI) -> None:
    files = resources.files("tooldeck.server").joinpath("static")
    cache: dict[str, bytes] = {}

    def static(name: str) -> Response:
        if name not in _STATIC_TYPES:
            raise HTTPException(404, "no such file")
        if name not in cache:
            cache[name] = files.joinpath(name).read_bytes()
        return Response(cache[name], media_type=_STATIC_TYPES[name])

    @app.get("/", include_in_schema=False)
    async def page() -> Response:
        return static("index.html")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> Response:
        return static("docs.html")

    @app.get("/static/{name}", include_in_schema=False)
    async def static_file(name: str) -> Response:
        return static(name)


def create_app(config: Config, index: str | None = None, use_llm: bool = True, *,
               bind_host: str | None = None,
               queue_timeout_s: float | None = None) -> FastAPI:
    """Build the app.

    Args:
        config: the configuration (``server`` holds the limits and who may call).
        index: the index for ``/rest_api`` and ``/functional`` (``rag.default_index``).
        use_llm: whether ``/v1/ask`` uses the model by default.
        bind_host: the address the server listens on (``server.host``); with an empty
            ``server.allowed_hosts`` it is accepted in ``Host`` besides the loopback names.
        queue_timeout_s: how long a model request waits for a free run worker (then 503);
            ``server.queue_timeout_s`` by default.
    """
    wait = config.server.queue_timeout_s if queue_timeout_s is None else queue_timeout_s
    service = _Service(config, index, use_llm, wait)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        service.close()

    app = FastAPI(title="tooldeck", version="0.1", docs_url=None, redoc_url=None,
                  lifespan=lifespan,
                  description="Agents and an API helper over local indexes, offline by default.")
    server = config.server
    policy = Policy.from_config(
        bind_host=bind_host if bind_host is not None else server.host,
        allowed_hosts=server.allowed_hosts, allowed_origins=server.allowed_origins,
        token=server.token.get_secret_value() if server.token else None,
        max_body_bytes=server.max_body_bytes, max_header_bytes=server.max_header_bytes,
    )
    app.add_middleware(GuardMiddleware, policy=policy)
    _install_error_handlers(app, config)
    _add_api_routes(app, service)
    _add_page_routes(app)
    return app
