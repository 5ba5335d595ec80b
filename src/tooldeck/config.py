"""Configuration: pydantic models that hold every default, loaded from YAML, env vars and ``.env``.

Precedence, lowest first:

1. the defaults in these models;
2. the user file, ``$XDG_CONFIG_HOME/tooldeck/config.yaml`` (``~/.config/tooldeck/config.yaml``);
3. the project file in the working directory: ``./tooldeck.yaml``, else ``./.tooldeck.yaml``,
   else ``./config.yaml`` **only if it looks like tooldeck's** (every top-level key is one of
   tooldeck's); another program's ``config.yaml`` is ignored, with a debug log, never an error;
4. ``./.env``, read into the environment (never overriding a variable already set);
5. ``TOOLDECK_*`` environment variables;
6. explicit overrides (CLI flags).

A file named explicitly (``--config FILE`` or ``$TOOLDECK_CONFIG``) *replaces* the discovery of
both the user file and the project file, and takes their place in the order (env vars still win
over it): a named file is the whole file configuration, whatever the home directory or working
directory hold.

Env vars map onto keys with ``__`` as the nesting separator, values parsed as YAML scalars::

    TOOLDECK_AGENT__MAX_STEPS=4   ->  agent.max_steps: 4
    TOOLDECK_TOOLS=calculator,x   ->  tools: [calculator, x]

:func:`load_config_with_sources` also says where each setting came from (default, file, env
var, ``.env``, flag), so that the CLI can say when a file in the working directory steers the
model somewhere, and remembers every secret for :func:`tooldeck.redact.scrub`.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from pydantic import BaseModel, SecretStr, ValidationError

from tooldeck.config_schema import (
    AGENT_TYPES,
    MODEL_PROVIDERS,
    AgentConfig,
    Config,
    EmbeddingsConfig,
    IndexConfig,
    ModelConfig,
    RagConfig,
    ServerConfig,
    WebConfig,
)
from tooldeck.errors import ConfigError
from tooldeck.redact import (
    MASK,
    env_secrets,
    find_secrets,
    is_secret_key,
    mask_secrets,
    remember_secrets,
)

__all__ = [
    "AGENT_TYPES",
    "MODEL_PROVIDERS",
    "AgentConfig",
    "Config",
    "ConfigSources",
    "EmbeddingsConfig",
    "IndexConfig",
    "RagConfig",
    "ModelConfig",
    "ServerConfig",
    "WebConfig",
    "Source",
    "find_config_file",
    "looks_like_tooldeck_config",
    "user_config_file",
    "load_config",
    "load_config_with_sources",
    "masked_dump",
]

_ENV_PREFIX = "TOOLDECK_"
_LIST_KEYS = {"tools", "custom_tools", "disabled_plugins"}
# TOOLDECK_* variables that steer the program rather than hold config keys.
_NOT_CONFIG = {"TOOLDECK_CONFIG", "TOOLDECK_NO_ENTRY_POINTS", "TOOLDECK_HUB_URL"}
_MAX_SHOWN = 200
# Settings that choose where model requests (and the keys they carry) go: named when a file in
# the working directory sets them.
_STEERING = [
    f"{part}.{key}" for part in ("model", "embeddings") for key in ("provider", "base_url")
]
_STEERING += ["model.kwargs", "embeddings.kwargs"]
# Env vars the provider clients read themselves, named when ./.env sets them.
_STEERING_ENV = ["OPENAI_BASE_URL", "OPENAI_API_BASE", "OPENAI_PROXY", "OLLAMA_HOST"]
_STEERING_ENV += [f"{p}_PROXY" for p in ("HTTP", "HTTPS", "ALL", "http", "https", "all")]
# Variables this process set from ./.env, with their values (so a later change is not blamed).
_DOTENV_SET: dict[str, str] = {}
# Project files in the working directory, in the order they are looked for.
_PROJECT_FILES = ("tooldeck.yaml", ".tooldeck.yaml")
_SHARED_NAME = "config.yaml"  # read only when it looks like tooldeck's

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Source:
    """Where one setting came from.

    Attributes:
        kind: ``default``, ``file``, ``env``, ``.env`` or ``flag``.
        path: The file (``file``, ``.env``).
        var: The environment variable (``env``, ``.env``).
        working_dir: The file lies in the working directory and was not named by the user.
    """

    kind: Literal["default", "file", "env", ".env", "flag"]
    path: str | None = None
    var: str | None = None
    working_dir: bool = False

    def __str__(self) -> str:
        text = {"file": f"file {self.path}", "env": f"env {self.var}"}.get(self.kind, self.kind)
        if self.kind == ".env":
            text = f".env {self.path} {self.var}"
        return f"{text} (working directory)" if self.working_dir else text


_DEFAULT = Source("default")


@dataclass
class ConfigSources:
    """Where each setting of a loaded configuration came from.

    Attributes:
        settings: Dotted key paths a file, env var or flag set, and their sources (a
            ``kwargs`` dict is one setting); every other key has its default.
        steering_env: Provider env vars (``OPENAI_BASE_URL``, proxies) that ``./.env`` set,
            with their values, URL credentials masked.
        files: The config files read, lowest precedence first.
    """

    settings: dict[str, Source] = field(default_factory=dict)
    steering_env: dict[str, tuple[str, Source]] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)

    def record(self, paths: Iterable[str], source: Callable[[str], Source]) -> None:
        """Note that ``paths`` were set (by a later layer than those recorded so far)."""
        for path in paths:
            for old in [p for p in self.settings if p.startswith(f"{path}.")]:
                del self.settings[old]
            self.settings[path] = source(path)

    def of(self, key: str) -> Source:
        """The source of a dotted key, such as ``model.kwargs.default_headers.X``."""
        parts = key.split(".")
        for end in range(len(parts), 0, -1):
            found = self.settings.get(".".join(parts[:end]))
            if found is not None:
                return found
        return _DEFAULT

    def from_working_directory(self, config: Config) -> list[tuple[str, str, Source]]:
        """Settings that choose the model's provider or URL and come from the working directory.

        Only values that differ from the defaults count; secrets are masked.

        Args:
            config: The configuration these sources belong to.

        Returns:
            ``(setting, value, source)`` for each, then the provider env vars ``./.env`` set.
        """
        shown, default = masked_dump(config), masked_dump(Config())
        found: list[tuple[str, str, Source]] = []
        for key in _STEERING:
            source = self.of(key)
            value = _lookup(shown, key)
            if source.working_dir and value != _lookup(default, key):
                text = value if isinstance(value, str) else json.dumps(value)
                found.append((key, text, source))
        found.extend((var, value, source) for var, (value, source) in self.steering_env.items())
        return found


def _lookup(data: dict[str, Any], key: str) -> Any:
    node: Any = data
    for part in key.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def find_config_file(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """Return the file named explicitly, or the project file in the working directory.

    Args:
        explicit: A path given on the command line; else ``$TOOLDECK_CONFIG``.

    Returns:
        The named file; else ``./tooldeck.yaml``, ``./.tooldeck.yaml`` or a ``./config.yaml``
        that looks like tooldeck's (see :func:`looks_like_tooldeck_config`); else None.

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
    for candidate in _PROJECT_FILES:
        path = Path(candidate)
        if path.is_file():
            return path
    shared = Path(_SHARED_NAME)
    if shared.is_file():
        reason = _foreign_reason(shared)
        if reason is None:
            return shared
        _log.debug("config: ignoring ./%s (%s); tooldeck reads ./tooldeck.yaml", shared, reason)
    return None


def user_config_file(environ: dict[str, str] | None = None) -> Path:
    """The user's config file: ``$XDG_CONFIG_HOME/tooldeck/config.yaml``.

    Args:
        environ: The environment to read ``XDG_CONFIG_HOME`` from (``os.environ`` by default).

    Returns:
        The path (it may not exist); ``~/.config/tooldeck/config.yaml`` without the variable.
    """
    xdg = (os.environ if environ is None else environ).get("XDG_CONFIG_HOME")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".config"
    return base / "tooldeck" / "config.yaml"


def looks_like_tooldeck_config(data: object) -> bool:
    """Whether parsed YAML looks like a tooldeck config: a mapping, every top-level key ours.

    Args:
        data: The parsed file.

    Returns:
        True for a non-empty mapping whose top-level keys are all tooldeck keys.
    """
    return isinstance(data, dict) and bool(data) and set(data) <= set(Config.model_fields)


def _foreign_reason(path: Path) -> str | None:
    """Why ``path`` (a ``config.yaml`` nobody named) is not tooldeck's; None when it is."""
    try:
        data = yaml.safe_load(path.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return "not a readable YAML file"
    if looks_like_tooldeck_config(data):
        return None
    if not isinstance(data, dict) or not data:
        return "not a mapping of tooldeck keys"
    others = sorted(str(key) for key in data if key not in Config.model_fields)
    return f"top-level keys not tooldeck's: {', '.join(others)}"


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


def _env_overrides(environ: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The ``TOOLDECK_*`` keys of ``environ`` as nested data, and the variable of each key path."""
    out: dict[str, Any] = {}
    names: dict[str, str] = {}
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
        names[".".join(parts)] = key
    return out, names


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict) and key != "kwargs":
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _leaf_paths(data: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted paths of the values ``data`` sets (a ``kwargs`` dict is one value, as in merging)."""
    paths: list[str] = []
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value and key != "kwargs":
            paths.extend(_leaf_paths(value, f"{path}."))
        else:
            paths.append(path)
    return paths


def _describe(exc: ValidationError, source: str) -> str:
    lines = [f"invalid configuration ({source}):"]
    for err in exc.errors():
        path = ".".join(str(p) for p in err["loc"]) or "(top level)"
        if err["type"] == "extra_forbidden":
            allowed = _allowed_keys(err["loc"][:-1])
            lines.append(f"  {path}: unknown key; allowed keys here: {allowed}")
        else:
            lines.append(f"  {path}: {err['msg']}{_shown_input(err['loc'], err.get('input'))}")
    return "\n".join(lines)


def _shown_input(loc: tuple[int | str, ...], value: Any) -> str:
    """`` (got VALUE)`` for an error message; never the value of a secret."""
    if any(isinstance(p, str) and is_secret_key(p) for p in loc) or _is_secret_field(loc):
        return " (value not shown: secret)"
    text = repr(mask_secrets(value))
    if len(text) > _MAX_SHOWN:
        text = f"{text[:_MAX_SHOWN]}..."
    return f" (got {text})"


def _is_secret_field(loc: tuple[int | str, ...]) -> bool:
    model: type[BaseModel] | None = Config
    for part in loc:
        field = model.model_fields.get(str(part)) if model else None
        if field is None:
            return False
        annotation = field.annotation
        if annotation is SecretStr or SecretStr in get_args(annotation):
            return True
        is_model = isinstance(annotation, type) and issubclass(annotation, BaseModel)
        model = annotation if is_model else None  # type: ignore[assignment]
    return False


def _allowed_keys(loc: tuple[int | str, ...]) -> str:
    model: type[BaseModel] = Config
    for part in loc:
        field = model.model_fields.get(str(part))
        annotation = field.annotation if field else None
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model = annotation
    return ", ".join(model.model_fields)


def _secret_values(value: Any) -> Iterator[str]:
    """Every ``SecretStr`` inside a validated model, at any depth."""
    if isinstance(value, SecretStr):
        yield value.get_secret_value()
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _secret_values(getattr(value, name))
    elif isinstance(value, dict):
        for item in value.values():
            yield from _secret_values(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _secret_values(item)


def _read_dotenv() -> None:
    """Read ``./.env`` into the environment, never overriding a set variable; note what it set."""
    from dotenv import dotenv_values

    path = Path(".env")
    if not path.is_file():
        return
    for key, value in dotenv_values(path).items():
        if value is not None and key not in os.environ:
            os.environ[key] = value
            _DOTENV_SET[key] = value


def _env_source(var: str, environ: dict[str, str]) -> Source:
    if var in _DOTENV_SET and environ.get(var) == _DOTENV_SET[var]:
        return Source(".env", "./.env", var, working_dir=True)
    return Source("env", var=var)


def _file_source(explicit: str | os.PathLike[str] | None, file: Path) -> Source:
    """Where the config file came from: named (flag, env var) or found in the working directory."""
    if explicit:
        return Source("file", str(file))
    named = os.environ.get("TOOLDECK_CONFIG")
    if named:
        return Source("file", str(file), working_dir=_DOTENV_SET.get("TOOLDECK_CONFIG") == named)
    return Source("file", f"./{file}" if not file.is_absolute() else str(file), working_dir=True)


def _always(source: Source) -> Callable[[str], Source]:
    return lambda _: source


def _config_files(
    explicit: str | os.PathLike[str] | None, environ: dict[str, str]
) -> list[tuple[Path, Source]]:
    """The config files to read, lowest precedence first, each with its source.

    A named file (``--config``, ``$TOOLDECK_CONFIG``) replaces the user and project files.
    """
    named = explicit or os.environ.get("TOOLDECK_CONFIG")
    project = find_config_file(explicit)
    if project is not None and named:
        return [(project, _file_source(explicit, project))]
    files: list[tuple[Path, Source]] = []
    user = user_config_file(environ)
    if user.is_file():
        files.append((user, Source("file", str(user))))
    if project is not None:
        files.append((project, _file_source(explicit, project)))
    return files


def load_config_with_sources(
    path: str | os.PathLike[str] | None = None,
    overrides: dict[str, Any] | None = None,
    *,
    environ: dict[str, str] | None = None,
    read_dotenv: bool = True,
) -> tuple[Config, ConfigSources]:
    """Load the effective configuration, and where each of its settings came from.

    Every secret in it (``SecretStr`` fields, secret-looking keys at any depth, URL
    credentials) and in the environment (``OPENAI_API_KEY``...) is remembered for
    :func:`tooldeck.redact.scrub` before the configuration is validated.

    Args:
        path: A config file; when None, ``$TOOLDECK_CONFIG``, else the user file and the
            project file (see the module docstring). A named file replaces both.
        overrides: Nested keys that win over everything (CLI flags).
        environ: The environment to read (``os.environ`` by default).
        read_dotenv: Whether to load ``./.env`` into the environment first.

    Returns:
        The validated configuration and its sources.

    Raises:
        ConfigError: Unreadable file, invalid YAML, unknown key, wrong type or unknown name;
            the message names the key path and the allowed values, never a secret's value.
    """
    if read_dotenv and environ is None:
        _read_dotenv()
    env = dict(os.environ if environ is None else environ)
    sources = ConfigSources()
    data: dict[str, Any] = {}
    for file, source in _config_files(path, env):
        layer = _read_yaml(file)
        sources.record(_leaf_paths(layer), _always(source))
        sources.files.append(str(file))
        data = _merge(data, layer)
        _log.debug("config: read %s (%d settings)", source.path, len(_leaf_paths(layer)))
    env_data, env_names = _env_overrides(env)
    sources.record(_leaf_paths(env_data), lambda key: _env_source(env_names[key], env))
    sources.record(_leaf_paths(overrides or {}), lambda _: Source("flag"))
    for var in _STEERING_ENV:
        if _env_source(var, env).working_dir:
            sources.steering_env[var] = (mask_secrets(env[var]), _env_source(var, env))
    data = _merge(_merge(data, env_data), overrides or {})
    remember_secrets([*find_secrets(data), *env_secrets(env), *env_secrets(os.environ)])
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        where = " + ".join(sources.files) or "defaults"
        raise ConfigError(_describe(exc, f"{where} + TOOLDECK_* env + flags")) from None
    remember_secrets(_secret_values(config))
    return config, sources


def load_config(
    path: str | os.PathLike[str] | None = None,
    overrides: dict[str, Any] | None = None,
    *,
    environ: dict[str, str] | None = None,
    read_dotenv: bool = True,
) -> Config:
    """Load the effective configuration: :func:`load_config_with_sources` without the sources.

    Raises:
        ConfigError: The configuration is invalid; the message names the key and the fix.
    """
    config, _ = load_config_with_sources(path, overrides, environ=environ, read_dotenv=read_dotenv)
    return config


def _mask_secret_fields(model: BaseModel, data: dict[str, Any]) -> None:
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, SecretStr):
            data[name] = MASK
        elif isinstance(value, BaseModel):
            _mask_secret_fields(value, data[name])
        elif isinstance(value, dict):
            for key, item in value.items():
                if isinstance(item, BaseModel):
                    _mask_secret_fields(item, data[name][key])


def masked_dump(config: Config) -> dict[str, Any]:
    """Return the config as plain data with every secret replaced by ``'***'``.

    Masked: ``SecretStr`` fields, values of secret-looking keys at any depth (``api_key``,
    ``Authorization``, ``X-Api-Token``..., not ``max_tokens``), credentials inside URLs
    (``http://***@proxy``) and secret query parameters (``?api_key=***``).

    Args:
        config: The configuration to show.

    Returns:
        A JSON/YAML-ready dict.
    """
    data = config.model_dump(mode="json")
    _mask_secret_fields(config, data)
    masked: dict[str, Any] = mask_secrets(data)
    return masked
