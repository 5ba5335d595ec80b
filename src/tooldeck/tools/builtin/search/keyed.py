"""``serper`` and ``serpapi``: Google results through an API that needs a key.

Serper (``POST``, key in ``X-API-KEY``) and SerpAPI (``GET``, key in the ``api_key``
parameter) go through :mod:`tooldeck.tools.net` like every network tool: SSRF guard, retries
on 429 and 5xx, ``web.timeout_s`` and ``web.max_bytes``. SerpAPI's own client (the ``serpapi``
extra) is not used: it reads bodies without a cap, never retries, and waits 60000 s by default.

The key comes from the env var, else from the config; a missing or refused key, and every
other failure, is an observation that names what to do, and no observation contains the key.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from langchain_core.tools import ToolException

from tooldeck.tools.builtin.declarations import SERPAPI, SERPER, KeyedSearch
from tooldeck.tools.builtin.search.base import WebSearchTool, search_example
from tooldeck.tools.builtin.search.results import (
    DETAIL_CHARS,
    Hit,
    answer_lines,
    hits_from,
    one_line,
    render_results,
)
from tooldeck.tools.builtin.web_common import Service, network_advice, web_request

if TYPE_CHECKING:
    from tooldeck.tools.net import Response

__all__ = ["KeyedSearchTool", "SerpAPITool", "SerperTool"]

_NO_RESULTS_SERPAPI = "hasn't returned any results"
_KEYLESS = "search with duckduckgo"


class KeyedSearchTool(WebSearchTool):
    """A Google search API reached through ``tools.net`` with a key (env var or config).

    Attributes:
        keyed: The tool's declaration: its name, the service's name in observations, the env
            var that holds the key (it wins over the config), the ``web`` setting that may hold
            it, and where to get one.
        endpoint: The API's URL (tests point it at a loopback server).
        policy: The HTTP client's :class:`~tooldeck.tools.net.NetPolicy`; ``None`` for the
            production one.
    """

    keyed: ClassVar[KeyedSearch]

    endpoint: str = ""
    policy: Any = None

    def _search(self, query: str, limit: int) -> str:
        from tooldeck.tools.net import NetworkError

        key = self._key()
        try:
            data = self._request(key, query, limit).json()
        except NetworkError as exc:
            keyed = self.keyed
            service = Service(
                keyed.provider, key_env=keyed.env_var, key_setting=keyed.config_key,
                instead=_KEYLESS,
            )
            raise ToolException(network_advice(exc, service, self.web)) from None
        hits, answers = self._parse(data, limit)
        return render_results(query, hits, answers).replace(key, "***")

    def _key(self) -> str:
        from tooldeck.redact import remember_secrets

        keyed = self.keyed
        configured = getattr(self.web, keyed.config_key)
        key = os.environ.get(keyed.env_var, "").strip()
        if not key and configured is not None:
            key = configured.get_secret_value().strip()
        if not key:
            msg = (
                f"{self.name} needs an API key and none is set: set {keyed.env_var} (a key from "
                f"{keyed.signup}) or web.{keyed.config_key} in the config, or search with "
                "duckduckgo, which needs no key"
            )
            raise ToolException(msg)
        remember_secrets([key])
        return key

    def _request(self, key: str, query: str, limit: int) -> Response:
        raise NotImplementedError

    def _parse(self, data: Any, limit: int) -> tuple[list[Hit], list[str]]:
        raise NotImplementedError

    def _checked(self, data: Any, results_key: str) -> Mapping[str, Any]:
        """``data`` when it is an object whose results (if any) are a list."""
        if not isinstance(data, Mapping) or not isinstance(data.get(results_key, []), list):
            msg = (
                f"{self.keyed.provider} answered with JSON of an unexpected shape; try again "
                f"later or {_KEYLESS}"
            )
            raise ToolException(msg)
        return data


class SerperTool(KeyedSearchTool):
    """Google results through Serper (``google.serper.dev``), key in ``SERPER_API_KEY``."""

    keyed: ClassVar[KeyedSearch] = SERPER
    example: ClassVar[dict[str, Any]] = search_example(
        "Who wrote the novel Dune?",
        "Dune novel author",
        "Answer: Frank Herbert (https://en.wikipedia.org/wiki/Dune_(novel))\n1. Dune (novel) - "
        "Wikipedia\n   https://en.wikipedia.org/wiki/Dune_(novel)\n   Dune is a 1965 science "
        "fiction novel by American author Frank Herbert.",
        "Dune was written by Frank Herbert (published in 1965).",
    )

    name: str = SERPER.name
    description: str = SERPER.description
    endpoint: str = "https://google.serper.dev/search"

    def _request(self, key: str, query: str, limit: int) -> Response:
        return web_request(
            self.endpoint,
            self.web,
            policy=self.policy,
            method="POST",
            headers={"X-API-KEY": key},
            json={"q": query, "num": limit},
        )

    def _parse(self, data: Any, limit: int) -> tuple[list[Hit], list[str]]:
        data = self._checked(data, "organic")
        hits = hits_from(data.get("organic", []), "link", "snippet", limit)
        return hits, answer_lines(data.get("answerBox"), data.get("knowledgeGraph"))


class SerpAPITool(KeyedSearchTool):
    """Google results through SerpAPI (``serpapi.com``), key in ``SERPAPI_API_KEY``."""

    keyed: ClassVar[KeyedSearch] = SERPAPI
    example: ClassVar[dict[str, Any]] = search_example(
        "How tall is the Eiffel Tower?",
        "Eiffel Tower height",
        "Answer: 330 m (https://en.wikipedia.org/wiki/Eiffel_Tower)\n1. Eiffel Tower - "
        "Wikipedia\n   https://en.wikipedia.org/wiki/Eiffel_Tower\n   The tower is 330 metres "
        "tall, about the same height as an 81-storey building.",
        "The Eiffel Tower is 330 metres tall.",
    )

    name: str = SERPAPI.name
    description: str = SERPAPI.description
    endpoint: str = "https://serpapi.com/search"

    def _request(self, key: str, query: str, limit: int) -> Response:
        params: dict[str, str | int | float] = {"engine": "google", "q": query, "num": limit}
        params.update(output="json", api_key=key)
        return web_request(self.endpoint, self.web, policy=self.policy, params=params)

    def _parse(self, data: Any, limit: int) -> tuple[list[Hit], list[str]]:
        data = self._checked(data, "organic_results")
        error = data.get("error")
        if isinstance(error, str) and _NO_RESULTS_SERPAPI not in error:
            detail = one_line(error, DETAIL_CHARS)
            msg = f"SerpAPI could not search: {detail}; try another query or {_KEYLESS}"
            raise ToolException(msg)
        hits = hits_from(data.get("organic_results", []), "link", "snippet", limit)
        return hits, answer_lines(data.get("answer_box"), data.get("knowledge_graph"))
