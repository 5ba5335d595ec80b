"""``summarize``: summarise a long text, or a web page, with the configured chat model.

The work is :class:`tooldeck.chains.summarize.SummarizeChain` (map-reduce over chunks sized to
the model's context window); this module chooses the input, fetches a page when given a URL
(through the guarded client, then :mod:`tooldeck.tools.extract` for the main text), and words
every failure for the model. Bounds: ``web.summarize_max_chars`` characters of text, the
chain's planned number of calls, and a time limit (``agent.tool_timeout_s`` unless set), so a
run the agent has given up on stops calling the model. Progress reaches the caller's callbacks
as ``summarize_progress`` custom events.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from langchain_core.tools import BaseTool, ToolException
from pydantic import BaseModel

from tooldeck.plugins import Register
from tooldeck.tools.builtin.arguments import SummarizeInput
from tooldeck.tools.builtin.declarations import MAX_TEXT_CHARS, SUMMARIZE_DESCRIPTION
from tooldeck.tools.builtin.web_common import (
    HTML_TYPES,
    WEB_PAGE,
    bound_s,
    network_advice,
    run_bounded,
    web_request,
    web_settings,
)

if TYPE_CHECKING:
    from langchain_core.callbacks import (
        AsyncCallbackManagerForToolRun,
        CallbackManagerForToolRun,
    )
    from langchain_core.language_models import BaseChatModel

    from tooldeck.chains.summarize import SummarizeChain
    from tooldeck.config import Config
    from tooldeck.tools.net import Response

__all__ = [
    "MAX_TEXT_CHARS",
    "SummarizeInput",
    "SummarizeTool",
    "register_into",
    "summarize_tool",
]

_BARE_URL = re.compile(r"https?://\S+", re.IGNORECASE)
_PAGE_TYPES = (*HTML_TYPES, "text/plain", "text/markdown")


class SummarizeTool(BaseTool):
    """Summarise a text or a web page by map-reduce with the chat model."""

    name: str = "summarize"
    description: str = SUMMARIZE_DESCRIPTION
    args_schema: type[BaseModel] = SummarizeInput
    config: Any = None
    chat_model: Any = None  # the configured model when None
    policy: Any = None
    max_seconds: float | None = None  # agent.tool_timeout_s when None

    def _run(
        self,
        text: str | None = None,
        url: str | None = None,
        run_manager: CallbackManagerForToolRun | None = None,
        **_: Any,
    ) -> str:
        text, url = _route(text, url)
        title, body = self._page(url) if url else ("", text or "")
        callbacks = run_manager.get_child() if run_manager else None
        try:
            summary = self._chain().invoke(body, config={"callbacks": callbacks})
        except Exception as exc:
            raise _failure(exc) from None
        return _observation(url, title, body, summary)

    async def _arun(
        self,
        text: str | None = None,
        url: str | None = None,
        run_manager: AsyncCallbackManagerForToolRun | None = None,
        **_: Any,
    ) -> str:
        text, url = _route(text, url)
        title, body = ("", text or "")
        if url:
            bound = bound_s(web_settings(self.config), 1, slack_s=30)  # fetch, then extraction
            title, body = await run_bounded(lambda: self._page(url), bound, self.name)
        callbacks = run_manager.get_child() if run_manager else None
        try:
            summary = await self._chain().ainvoke(body, config={"callbacks": callbacks})
        except Exception as exc:
            raise _failure(exc) from None
        return _observation(url, title, body, summary)

    def _chain(self) -> SummarizeChain:
        from tooldeck.chains.summarize import SummarizeChain

        config = self.config
        seconds = self.max_seconds
        if seconds is None and config is not None:
            seconds = config.agent.tool_timeout_s
        return SummarizeChain(
            self._model(),
            context_tokens=config.model.n_ctx if config is not None else None,
            max_chars=web_settings(config).summarize_max_chars,
            max_seconds=seconds,
        )

    def _model(self) -> BaseChatModel:
        if self.chat_model is None:
            from tooldeck.config import Config
            from tooldeck.models import get_chat_model

            config = self.config if self.config is not None else Config()
            self.chat_model = get_chat_model(config.model, config.data_dir)
        model: BaseChatModel = self.chat_model
        return model

    def _page(self, url: str) -> tuple[str, str]:
        """Fetch a page; return its title and main text."""
        from tooldeck.errors import ContentTypeError, NetworkError

        web = web_settings(self.config)
        try:
            response = web_request(
                url,
                web,
                policy=self.policy,
                headers={"Accept": ", ".join(_PAGE_TYPES)},
                allowed_types=_PAGE_TYPES,
            )
        except ContentTypeError as exc:
            msg = (
                f"summarize reads HTML and plain-text pages only ({exc}); "
                "fetch the text another way and pass it as text"
            )
            raise ToolException(msg) from None
        except NetworkError as exc:
            raise ToolException(network_advice(exc, WEB_PAGE, web)) from None
        title, body = _readable(response)
        if not body.strip():
            msg = f"{url} has no readable text to summarize; try another page"
            raise ToolException(msg)
        return title, body


def _route(text: str | None, url: str | None) -> tuple[str | None, str | None]:
    """A ``text`` that is only a URL is read as ``url`` (small models mix them up)."""
    if url is None and text is not None and _BARE_URL.fullmatch(text.strip()):
        return None, text.strip()
    if url is not None:
        url = url.strip()
        if not _BARE_URL.fullmatch(url):
            msg = f"{url[:100]!r} is not an http(s) address; pass a URL such as https://..."
            raise ToolException(msg)
    return text, url


def _readable(response: Response) -> tuple[str, str]:
    """A page's title and main text (plain text passes through)."""
    from tooldeck.tools.extract import decode_body, read_html

    content_type = response.headers.get("content-type")
    if response.content_type in HTML_TYPES:
        page = read_html(response.content, content_type, response.url, max_links=0)
        return page.title, page.text
    return "", decode_body(response.content, content_type)


def _failure(exc: Exception) -> Exception:
    """The chain's errors, worded for the model (anything else passes unchanged)."""
    from tooldeck.errors import ConfigError, InputError, ModelError, ToolTimeoutError

    if isinstance(exc, InputError | ConfigError):
        return ToolException(str(exc))
    if isinstance(exc, ToolTimeoutError):
        return ToolException(f"{exc}; summarize a shorter text or raise agent.tool_timeout_s")
    if isinstance(exc, ModelError):
        return ToolException(f"the model failed while summarizing ({exc}); try a shorter text")
    return exc


def _observation(url: str | None, title: str, body: str, summary: str) -> str:
    words = len(body.split())
    if url:
        named = f"; {title[:120]!r}" if title else ""
        return f"Summary of {url} ({words:,} words{named}):\n{summary}"
    return f"Summary of the text ({words:,} words):\n{summary}"


SUMMARIZE_EXAMPLES = [
    {
        "question": "Summarize https://example.com/rivers",
        "input": {"text": None, "url": "https://example.com/rivers"},
        "observation": (
            "Summary of https://example.com/rivers (2,310 words; 'Rivers of Europe'):\n"
            "The article describes the longest rivers of Europe, led by the Volga."
        ),
        "answer": "The page describes Europe's longest rivers; the Volga is the longest.",
    },
    {
        "question": "Summarize this text: Our team shipped the new app in March. Sign-ups "
        "doubled in April, but support tickets tripled, so we are hiring two support staff.",
        "input": {
            "text": "Our team shipped the new app in March. Sign-ups doubled in April, but "
            "support tickets tripled, so we are hiring two support staff.",
            "url": None,
        },
        "observation": (
            "Summary of the text (25 words):\nThe new app doubled sign-ups but tripled "
            "support tickets, so two support staff are being hired."
        ),
        "answer": "The app doubled sign-ups but tripled support tickets; two support staff "
        "will be hired.",
    },
    {
        "question": "What are the main points of https://example.org/blog/remote-work ?",
        "input": {"text": None, "url": "https://example.org/blog/remote-work"},
        "observation": (
            "Summary of https://example.org/blog/remote-work (1,840 words; 'Remote work, "
            "two years on'):\nRemote staff report more focus but less contact; the author "
            "suggests two office days a week."
        ),
        "answer": "Remote work brings more focus but less contact; the author suggests two "
        "office days a week.",
    },
    {
        "question": "Give me a short version of the long report at https://example.net/report",
        "input": {"text": None, "url": "https://example.net/report"},
        "observation": (
            "Summary of https://example.net/report (9,120 words; 'Annual report'):\n"
            "Revenue grew 8%, costs fell, and the company plans to open two new offices."
        ),
        "answer": "Revenue grew 8%, costs fell, and two new offices are planned.",
    },
]


def summarize_tool(config: Config | None) -> SummarizeTool:
    """The ``summarize`` tool with its worked examples (its model is built on first use)."""
    tool = SummarizeTool(config=config)
    tool.metadata = {"examples": SUMMARIZE_EXAMPLES}
    return tool


def register_into(register: Register, config: Config | None) -> None:
    """Register the ``summarize`` tool (its model is built on first use)."""
    register(summarize_tool(config))
