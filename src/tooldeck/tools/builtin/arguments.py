"""The argument models of the built-in tools (pydantic only; no LangChain, no tool library).

Their descriptions, limits and patterns are written for the model. ``tools list --json`` and
the tool modules import this module; plain ``tools list`` does not.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, field_validator, model_validator

from tooldeck.tools.builtin.declarations import (
    LANG_PATTERN,
    MAX_RESULTS,
    MAX_TEXT_CHARS,
    MAX_URL_LENGTH,
    URL_PATTERN,
)

__all__ = [
    "CalculatorInput",
    "RetrieverInput",
    "SearchInput",
    "WebFetchInput",
    "SummarizeInput",
    "WikipediaInput",
    "YoutubeInput",
    "YoutubeTranscriptInput",
]


class CalculatorInput(BaseModel):
    """Input of the calculator tool."""

    expression: str = Field(
        description='the arithmetic to compute, with numbers and + - * / ** ( ), e.g. "17 * 23"',
        pattern=r"^[0-9(-][0-9 .,+*/()^%×÷xeE-]{0,299}$",
    )


class RetrieverInput(BaseModel):
    """Arguments of the retriever tool."""

    query: str = Field(min_length=1, max_length=2000, description="what to look for")


class SearchInput(BaseModel):
    """Arguments of the web search tools."""

    query: str = Field(
        min_length=1,
        max_length=400,
        description="what to search the web for: a few keywords or a short question",
    )
    max_results: int | None = Field(
        default=None,
        ge=1,
        le=MAX_RESULTS,
        description=f"how many results to list (1-{MAX_RESULTS}); omit for the default",
    )


class WebFetchInput(BaseModel):
    """Arguments of the web_fetch tool."""

    url: str = Field(
        min_length=1,
        max_length=MAX_URL_LENGTH,
        pattern=URL_PATTERN,
        description="the page's full http(s) URL, e.g. https://en.wikipedia.org/wiki/Ada_Lovelace",
    )


class SummarizeInput(BaseModel):
    """Arguments of the summarize tool: exactly one of ``text`` and ``url``."""

    text: str | None = Field(
        default=None,
        max_length=MAX_TEXT_CHARS,
        description="the text to summarize (null when giving a url)",
    )
    url: str | None = Field(
        default=None,
        max_length=2000,
        description="the http(s) address of a web page to summarize (null when giving text)",
    )

    @field_validator("text", "url", mode="before")
    @classmethod
    def _blank_is_absent(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @model_validator(mode="after")
    def _exactly_one(self) -> SummarizeInput:
        if self.text is None and self.url is None:
            msg = "nothing to summarize: give the text in 'text', or a web page address in 'url'"
            raise ValueError(msg)
        if self.text is not None and self.url is not None:
            msg = "give either 'text' or 'url', not both (set the other to null)"
            raise ValueError(msg)
        return self


class WikipediaInput(BaseModel):
    """Arguments of the wikipedia tool."""

    query: str = Field(
        min_length=1,
        max_length=300,
        description='the topic to look up, such as "Marie Curie" or "speed of light"',
    )
    lang: str | None = Field(
        default=None,
        max_length=16,
        pattern=LANG_PATTERN,
        description="language edition such as en, de or fr (default: the configured one)",
    )


class YoutubeInput(BaseModel):
    """Arguments of the youtube tool (transcripts off)."""

    query: str = Field(
        min_length=1,
        max_length=300,
        description='what to search for, such as "python tutorial"; "query, 3" asks for 3 videos',
    )
    max_results: int | None = Field(
        default=None, ge=1, le=MAX_RESULTS, description="how many videos to list (default 5)"
    )


class YoutubeTranscriptInput(BaseModel):
    """Arguments of the youtube tool when transcripts are on: a search, or a transcript."""

    query: str | None = Field(
        default=None,
        max_length=300,
        description="what to search for (null when asking for a transcript)",
    )
    max_results: int | None = Field(
        default=None, ge=1, le=MAX_RESULTS, description="how many videos to list (default 5)"
    )
    transcript_of: str | None = Field(
        default=None,
        max_length=200,
        description="a video id or URL whose transcript to read (null to search)",
    )

    @model_validator(mode="after")
    def _something_to_do(self) -> YoutubeTranscriptInput:
        if not (self.query or "").strip() and not (self.transcript_of or "").strip():
            msg = "give a search query, or a video id or URL in transcript_of"
            raise ValueError(msg)
        return self
