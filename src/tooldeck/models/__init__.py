"""The model layer: one factory for chat models (embedded GGUF, any GGUF, OpenAI, Ollama,
or any LangChain chat model class by import path).

Every secret a model is built with (key, URL credentials, secret-looking ``kwargs``) is
remembered for :func:`tooldeck.redact.scrub`, also when the model is built without
:func:`tooldeck.config.load_config`, so a provider's error that echoes it is scrubbed.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tooldeck.errors import ConfigError, MissingAPIKeyError, ModelNotFoundError
from tooldeck.redact import find_secrets, remember_secrets, url_secrets

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from tooldeck.config import ModelConfig

__all__ = ["describe_model", "get_chat_model", "resolve_gguf"]


def resolve_gguf(name: str | None, data_dir: Path) -> Path:
    """Turn ``model.name`` for the ``gguf`` provider into a file path.

    Args:
        name: A path to a ``.gguf`` file, or a catalogue name pulled earlier.
        data_dir: The configured data directory.

    Returns:
        The file path (existence is checked when the model loads).

    Raises:
        ConfigError: No name was given.
        ModelNotFoundError: A catalogue name that has not been pulled.
    """
    if not name:
        msg = "model.name is required for provider 'gguf': a .gguf path or a catalogue name"
        raise ConfigError(msg)
    path = Path(name).expanduser()
    if path.suffix == ".gguf" or path.exists() or os.sep in name:
        return path
    from tooldeck.models.catalogue import lookup, models_dir

    try:
        entry = lookup(name)
    except ModelNotFoundError as exc:
        raise ModelNotFoundError(f"model.name: {exc}") from None
    pulled = models_dir(data_dir) / entry.file
    if not pulled.is_file():
        msg = f"model {name!r} is not installed; run: tooldeck models pull {name}"
        raise ModelNotFoundError(msg)
    return pulled


def describe_model(config: ModelConfig) -> str:
    """Return a short label such as ``local:SmolLM2-135M-Instruct`` for output and logs."""
    if config.provider == "local":
        return "local:SmolLM2-135M-Instruct-Q4_1"
    return f"{config.provider}:{config.name}" if config.name else config.provider


def get_chat_model(config: ModelConfig, data_dir: Path) -> BaseChatModel:
    """Build the chat model that ``config`` names.

    Args:
        config: The ``model`` section of the configuration.
        data_dir: The configured data directory (for pulled models).

    Returns:
        A LangChain chat model.

    Raises:
        ConfigError: An extra package is missing, or a ``module:Class`` is not a chat model.
        MissingAPIKeyError: The provider needs a key that is not set.
        ModelNotFoundError: The model file is missing or damaged.
    """
    remember_secrets(find_secrets(config.kwargs))
    remember_secrets(url_secrets(config.base_url or ""))
    if config.provider in ("local", "gguf"):
        from tooldeck.models.local import ChatLlamaCpp, check_gguf, embedded_model_path

        if config.provider == "local":
            path = embedded_model_path()
        else:
            path = resolve_gguf(config.name, data_dir)
            check_gguf(path)
        return ChatLlamaCpp(
            model_path=str(path),
            n_ctx=config.n_ctx,
            n_threads=config.n_threads,
            temperature=config.temperature,
            seed=config.seed,
            max_tokens=config.max_tokens,
            model_kwargs=dict(config.kwargs),
        )
    if config.provider == "openai":
        return _openai(config)
    if config.provider == "ollama":
        module = _import("langchain_ollama", "ollama")
        kwargs: dict[str, Any] = {
            "model": config.name or "llama3.2",
            "temperature": config.temperature,
        }
        if config.base_url:
            kwargs["base_url"] = config.base_url
        return module.ChatOllama(**kwargs, **config.kwargs)  # type: ignore[no-any-return]
    return _by_path(config)


def _import(module: str, extra: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:
        msg = f"provider needs the {module} package; run: pip install 'tooldeck[{extra}]'"
        raise ConfigError(msg) from None


def _openai(config: ModelConfig) -> BaseChatModel:
    module = _import("langchain_openai", "openai")
    key = config.api_key.get_secret_value() if config.api_key else os.environ.get("OPENAI_API_KEY")
    remember_secrets([key])
    if not key and not config.base_url:
        msg = "provider 'openai' needs an API key: set OPENAI_API_KEY (or model.api_key)"
        raise MissingAPIKeyError(msg)
    kwargs: dict[str, Any] = {
        "model": config.name or "gpt-4o-mini",
        "temperature": config.temperature,
        "api_key": key or "not-needed",
        "timeout": config.timeout_s,
        "max_retries": 2,
    }
    if config.base_url:
        kwargs["base_url"] = config.base_url
    return module.ChatOpenAI(**kwargs, **config.kwargs)  # type: ignore[no-any-return]


def _by_path(config: ModelConfig) -> BaseChatModel:
    from langchain_core.language_models import BaseChatModel

    module_name, _, class_name = config.provider.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        msg = f"model.provider {config.provider!r} cannot be imported: {exc}"
        raise ConfigError(msg) from None
    if not (isinstance(cls, type) and issubclass(cls, BaseChatModel)):
        msg = f"model.provider {config.provider!r} is not a LangChain BaseChatModel subclass"
        raise ConfigError(msg)
    kwargs = dict(config.kwargs)
    if config.name:
        kwargs.setdefault("model", config.name)
    try:
        return cls(**kwargs)
    except Exception as exc:
        msg = f"model.provider {config.provider!r} rejected model.kwargs: {exc}"
        raise ConfigError(msg) from None
