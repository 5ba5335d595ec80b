"""The configuration's schema: pydantic models that hold every default.

Loading (file, env vars, ``.env``, flags) and showing it live in :mod:`tooldeck.config`, which
re-exports these models.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

__all__ = [
    "AGENT_TYPES",
    "MODEL_PROVIDERS",
    "AgentConfig",
    "Config",
    "EmbeddingsConfig",
    "MemoryConfig",
    "PromptsConfig",
    "IndexConfig",
    "ModelConfig",
    "RagConfig",
    "ServerConfig",
    "WebConfig",
]

AGENT_TYPES = ("react", "self-ask", "tool-calling")
MODEL_PROVIDERS = ("local", "gguf", "openai", "ollama")
_MODULE_CLASS = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ModelConfig(_Strict):
    """Which chat model runs the agent, and how it samples."""

    provider: str = Field(
        default="local",
        description="local | gguf | openai | ollama | 'package.module:ChatClass'",
    )
    name: str | None = Field(
        default=None,
        description="gguf: a file path or a catalogue name; openai/ollama: the model name",
    )
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    seed: int = 42
    max_tokens: int = Field(default=256, ge=1, le=32768)
    n_ctx: int = Field(default=4096, ge=256, le=131072)
    n_threads: int = Field(default=1, ge=1, le=256)
    base_url: str | None = None
    api_key: SecretStr | None = None
    timeout_s: float = Field(default=120.0, gt=0)
    kwargs: dict[str, Any] = Field(default_factory=dict)

    @field_validator("provider")
    @classmethod
    def _known_provider(cls, value: str) -> str:
        if value in MODEL_PROVIDERS or _MODULE_CLASS.match(value):
            return value
        allowed = ", ".join(MODEL_PROVIDERS)
        msg = f"unknown model provider {value!r}; allowed: {allowed}, or 'package.module:Class'"
        raise ValueError(msg)


class AgentConfig(_Strict):
    """The agent loop and its limits."""

    type: Literal["react", "self-ask", "tool-calling"] = "react"
    max_steps: int = Field(default=8, ge=1, le=200)
    max_seconds: float = Field(default=120.0, gt=0)
    max_repeats: int = Field(default=2, ge=1, le=20)
    tool_timeout_s: float = Field(default=30.0, gt=0)
    tool_top_k: int = Field(default=3, ge=1, le=100)
    tool_min_score: float | None = None
    grammar: Literal["auto", "on", "off"] = "auto"
    search_tool: str = "duckduckgo"
    max_observation_chars: int = Field(default=4000, ge=100)


class EmbeddingsConfig(_Strict):
    """Which text-embedding model the index, selectors and cache use."""

    provider: str = Field(
        default="local", description="local | openai | 'package.module:EmbeddingsClass'"
    )
    name: str | None = None
    base_url: str | None = None
    api_key: SecretStr | None = None
    batch_size: int | None = Field(default=None, ge=1, le=4096)
    kwargs: dict[str, Any] = Field(default_factory=dict)

    @field_validator("provider")
    @classmethod
    def _known_provider(cls, value: str) -> str:
        if value in ("local", "openai") or _MODULE_CLASS.match(value):
            return value
        msg = (
            f"unknown embeddings provider {value!r}; allowed: local, openai, "
            "or 'package.module:Class'"
        )
        raise ValueError(msg)


class IndexConfig(_Strict):
    """How one named index splits its documents (``rag.indexes.NAME``)."""

    splitter: Literal["fixed", "parent-child", "none"] = "fixed"
    chunk_size: int = Field(default=1000, ge=50, le=100_000)
    chunk_overlap: int = Field(default=150, ge=0, le=50_000)
    parent_size: int = Field(default=4000, ge=100, le=1_000_000)
    paths: list[str] = Field(default_factory=list)


class RagConfig(_Strict):
    """Retrieval: the indexes under ``data_dir/indexes`` and how they are searched."""

    default_index: str = "docs"
    top_k: int = Field(default=5, ge=1, le=100)
    rrf_k: int | None = Field(
        default=None, ge=1, le=10_000,
        description="fusion constant k; None: the value fitted across sets (rag/fusion.json)",
    )
    lexical_weight: float | None = Field(
        default=None, ge=0, le=100,
        description="weight of the BM25 ranking against the vector ranking's 1; None: fitted",
    )
    candidates: int = Field(default=50, ge=1, le=10_000)
    rerank: Literal["auto", "on", "off"] = "auto"
    rerank_k: int = Field(default=10, ge=2, le=50)
    rerank_timeout_s: float = Field(default=60.0, gt=0, le=600)
    max_file_mb: float = Field(default=50.0, gt=0)
    lock_timeout_s: float = Field(default=30.0, ge=0)
    follow_external_links: bool = Field(
        default=False,
        description="follow symbolic links whose target lies outside the named roots",
    )
    max_document_chars: int = Field(default=200_000, ge=1_000, le=100_000_000)
    max_expanded_chars: int = Field(default=20_000_000, ge=10_000, le=2_000_000_000)
    indexes: dict[str, IndexConfig] = Field(default_factory=dict)

    def index(self, name: str) -> IndexConfig:
        """The settings of index ``name`` (the defaults when it has none)."""
        return self.indexes.get(name) or IndexConfig()


class ServerConfig(_Strict):
    """``tooldeck serve``: who may talk to the server, and its limits."""

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Host header names accepted; empty: the loopback names (and the bound host)",
    )
    allowed_origins: list[str] = Field(
        default_factory=list,
        description="Origins allowed on state-changing requests; empty: the server's own",
    )
    token: SecretStr | None = None
    max_body_bytes: int = Field(default=1_048_576, ge=1_024, le=1_073_741_824)
    max_header_bytes: int = Field(default=16_384, ge=1_024, le=1_048_576)
    header_timeout_s: float = Field(default=10.0, gt=0)
    keep_alive_s: float = Field(default=5.0, gt=0)
    max_connections: int = Field(default=64, ge=1, le=100_000)
    max_concurrent_runs: int = Field(default=2, ge=1, le=1_000)
    queue_timeout_s: float = Field(default=10.0, gt=0)
    run_timeout_s: float = Field(default=300.0, gt=0)


class WebConfig(_Strict):
    """The network tools: search, web_fetch, summarize, wikipedia, youtube."""

    search_results: int = Field(default=5, ge=1, le=50)
    timeout_s: float = Field(default=15.0, gt=0, le=600)
    max_bytes: int = Field(default=2_097_152, ge=1_024, le=1_073_741_824)
    max_chars: int = Field(default=12_000, ge=200, le=10_000_000)
    max_links: int = Field(default=20, ge=0, le=1_000)
    user_agent: str = "tooldeck/0.1 (LangChain agent toolkit)"
    serper_api_key: SecretStr | None = None
    serpapi_api_key: SecretStr | None = None
    duckduckgo_region: str = "wt-wt"
    duckduckgo_min_interval_s: float = Field(default=1.0, ge=0, le=60)
    wikipedia_lang: str = Field(default="en", pattern=r"^[a-z]{2,3}(-[a-z]+)?$")
    youtube_transcripts: bool = False
    summarize_max_chars: int = Field(default=2_000_000, ge=1_000, le=100_000_000)


MemoryKind = Literal["window", "summary", "vector"]


def _window_only() -> list[MemoryKind]:
    return ["window"]


class MemoryConfig(_Strict):
    """Conversation memory: which kinds are combined and their budgets (issue 9, part 5).

    See :mod:`tooldeck.memory.conversation` for how the kinds combine.
    """

    kinds: list[MemoryKind] = Field(
        default_factory=_window_only,
        description="window, summary, vector, combinable; [] = no memory",
    )
    window_turns: int = Field(
        default=5, ge=0, le=1000, description="turns kept verbatim (window kind)"
    )
    summary_max_tokens: int = Field(
        default=512, ge=16, le=100_000,
        description="tokens of verbatim turns before the oldest are summarised; summary length",
    )
    vector_k: int = Field(
        default=3, ge=1, le=100, description="older turns recalled per question (vector kind)"
    )
    max_history_tokens: int | None = Field(
        default=None, ge=0,
        description="tokens of history in a prompt; None: derived from the model's context",
    )


class PromptsConfig(_Strict):
    """Prompt templates and few-shot example sets (issue 9, parts 2-4)."""

    prompts_dir: Path | None = None
    example_files: list[Path] = Field(default_factory=list)
    max_examples: int = Field(default=2, ge=0, le=50)


class Config(_Strict):
    """The whole tooldeck configuration."""

    data_dir: Path = Field(default_factory=lambda: _default_data_dir())
    tools: list[str] = Field(default_factory=lambda: ["calculator"])
    custom_tools: list[str] = Field(default_factory=list)
    disabled_plugins: list[str] = Field(default_factory=list)
    max_question_chars: int = Field(default=100_000, ge=1)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "WARNING"
    agent: AgentConfig = Field(default_factory=AgentConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    embeddings: EmbeddingsConfig = Field(default_factory=EmbeddingsConfig)
    rag: RagConfig = Field(default_factory=RagConfig)
    server: ServerConfig = Field(default_factory=ServerConfig)
    web: WebConfig = Field(default_factory=WebConfig)
    memory: MemoryConfig = Field(default_factory=MemoryConfig)
    prompts: PromptsConfig = Field(default_factory=PromptsConfig)


def _default_data_dir() -> Path:
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "share"
    return base / "tooldeck"
