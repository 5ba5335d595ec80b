"""Configuration: pydantic models that hold every default, loaded from YAML, env vars and ``.env``.

Precedence, lowest first: the defaults in these models, the config file, ``TOOLDECK_*``
environment variables (``.env`` in the working directory is read into the environment first,
never overriding what is already set), then explicit overrides (CLI flags).

Env vars map onto keys with ``__`` as the nesting separator, values parsed as YAML scalars::

    TOOLDECK_AGENT__MAX_STEPS=4   ->  agent.max_steps: 4
    TOOLDECK_TOOLS=calculator,x   ->  tools: [calculator, x]
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from tooldeck.errors import ConfigError

__all__ = [
    "AGENT_TYPES",
    "MODEL_PROVIDERS",
    "AgentConfig",
    "Config",
    "EmbeddingsConfig",
    "IndexConfig",
    "RagConfig",
    "ModelConfig",
    "ServerConfig",
    "find_config_file",
    "load_config",
    "masked_dump",
]

AGENT_TYPES = ("react", "self-ask", "tool-calling")
MODEL_PROVIDERS = ("local", "gguf", "openai", "ollama")
_MODULE_CLASS = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
_ENV_PREFIX = "TOOLDECK_"
_LIST_KEYS = {"tools", "custom_tools", "disabled_plugins"}
# TOOLDECK_* variables that steer the program rather than hold config keys.
_NOT_CONFIG = {"TOOLDECK_CONFIG", "TOOLDECK_NO_ENTRY_POINTS", "TOOLDECK_HUB_URL"}


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
    search_tool: str = "search"
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
    rrf_k: int = Field(default=60, ge=1, le=10_000)
    candidates: int = Field(default=50, ge=1, le=10_000)
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
    run_timeout_s: float = Field(default=300.0, gt=0)


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


def _default_data_dir() -> Path:
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "share"
    return base / "tooldeck"


def find_config_file(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """Return the config file to read: explicit path, ``$TOOLDECK_CONFIG``, or one in the cwd.

    Args:
        explicit: A path given on the command line.

    Returns:
        The path, or None when no file is named and none is found.

    Raises:
        ConfigError: An explicitly named file does not exist.
    """
    named = explicit or os.environ.get("TOOLDECK_CONFIG")
    if named:
        path = Path(named)
        if not path.is_file():
            msg = f"config file {path} not found; pass an existing file to --config"
            raise ConfigError(msg)
        return path
    for candidate in ("tooldeck.yaml", "config.yaml"):
        path = Path(candidate)
        if path.is_file():
            return path
    return None


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        msg = f"config file {path} is not UTF-8 text (byte {exc.start}); save it as UTF-8"
        raise ConfigError(msg) from None
    except OSError as exc:
        msg = f"cannot read config file {path}: {exc.strerror}"
        raise ConfigError(msg) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        msg = f"config file {path} is not valid YAML{line}: {getattr(exc, 'problem', exc)}"
        raise ConfigError(msg) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        msg = f"config file {path} must hold a mapping of keys, not {type(data).__name__}"
        raise ConfigError(msg)
    return data


def _env_overrides(environ: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, raw in environ.items():
        if not key.startswith(_ENV_PREFIX) or key in _NOT_CONFIG:
            continue
        parts = key[len(_ENV_PREFIX) :].lower().split("__")
        value: Any
        if parts[-1] in _LIST_KEYS and len(parts) == 1:
            value = [item.strip() for item in raw.split(",") if item.strip()]
        else:
            try:
                value = yaml.safe_load(raw) if raw.strip() else raw
            except yaml.YAMLError:
                value = raw
            if isinstance(value, (dict, list)) and parts[-1] != "kwargs":
                value = raw
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return out


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict) and key != "kwargs":
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _describe(exc: ValidationError, source: str) -> str:
    lines = [f"invalid configuration ({source}):"]
    for err in exc.errors():
        path = ".".join(str(p) for p in err["loc"]) or "(top level)"
        if err["type"] == "extra_forbidden":
            allowed = _allowed_keys(err["loc"][:-1])
            lines.append(f"  {path}: unknown key; allowed keys here: {allowed}")
        else:
            lines.append(f"  {path}: {err['msg']} (got {err.get('input')!r})")
    return "\n".join(lines)


def _allowed_keys(loc: tuple[int | str, ...]) -> str:
    model: type[BaseModel] = Config
    for part in loc:
        field = model.model_fields.get(str(part))
        annotation = field.annotation if field else None
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model = annotation
    return ", ".join(model.model_fields)


def load_config(
    path: str | os.PathLike[str] | None = None,
    overrides: dict[str, Any] | None = None,
    *,
    environ: dict[str, str] | None = None,
    read_dotenv: bool = True,
) -> Config:
    """Load the effective configuration.

    Args:
        path: A config file; when None, ``$TOOLDECK_CONFIG`` or ``./tooldeck.yaml`` /
            ``./config.yaml`` if present.
        overrides: Nested keys that win over everything (CLI flags).
        environ: The environment to read (``os.environ`` by default).
        read_dotenv: Whether to load ``./.env`` into the environment first.

    Returns:
        The validated configuration.

    Raises:
        ConfigError: Unreadable file, invalid YAML, unknown key, wrong type or unknown name;
            the message names the key path and the allowed values.
    """
    if read_dotenv and environ is None:
        from dotenv import load_dotenv

        load_dotenv(Path.cwd() / ".env", override=False)
    env = dict(os.environ if environ is None else environ)
    file = find_config_file(path)
    data: dict[str, Any] = _read_yaml(file) if file else {}
    source = str(file) if file else "defaults"
    data = _merge(data, _env_overrides(env))
    data = _merge(data, overrides or {})
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, f"{source} + TOOLDECK_* env + flags")) from None


def masked_dump(config: Config) -> dict[str, Any]:
    """Return the config as plain data with every secret replaced by ``'***'``.

    Args:
        config: The configuration to show.

    Returns:
        A JSON/YAML-ready dict.
    """
    data = config.model_dump(mode="json")
    for section in ("model", "embeddings"):
        if getattr(config, section).api_key is not None:
            data[section]["api_key"] = "***"
        for key in list(data[section]["kwargs"]):
            if re.search(r"key|token|secret|password", key, re.IGNORECASE):
                data[section]["kwargs"][key] = "***"
    return data
