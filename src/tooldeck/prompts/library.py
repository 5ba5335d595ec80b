"""Where templates come from: the built-ins, then the user's ``prompts.prompts_dir`` on top.

A :class:`PromptLibrary` finds a template by name: a file ``NAME.yaml`` (or ``.yml``) in the
user's folder replaces the built-in of the same name; otherwise the package's
``templates/NAME.yaml`` is used. Templates are parsed and checked once, when first asked for.
Example files (``prompts.example_files``) extend the examples of the template they name.

Only regular files directly inside the user's folder are read: a link is followed only when it
stays inside the folder, and FIFOs, sockets and devices are skipped with a warning (files are
read through :func:`tooldeck.rag.files.read_text`: ``O_NOFOLLOW``, checked again once open,
bounded in size, UTF-8 only).

The module-level functions use one default library: :func:`configure_prompts` sets it from a
configuration (``build_agent`` and the CLI call it), and :func:`load_template` and
:func:`chat_prompt` read from it.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import os
import re
import stat
import threading
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tooldeck.errors import ConfigError, LoaderError, PromptError
from tooldeck.prompts.spec import TemplateSpec, parse_template

if TYPE_CHECKING:
    from langchain_core.example_selectors import BaseExampleSelector

    from tooldeck.prompts.chat import TemplatePrompt
    from tooldeck.prompts.example_files import ExampleSet

__all__ = [
    "BUILTIN",
    "PromptLibrary",
    "chat_prompt",
    "configure_prompts",
    "default_library",
    "load_template",
]

log = logging.getLogger(__name__)

BUILTIN = "built-in"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}\Z")
_SUFFIXES = (".yaml", ".yml")
_MAX_FILE_BYTES = 1_000_000
_MAX_ENTRIES = 10_000


def _builtin_dir() -> Any:
    return resources.files("tooldeck.prompts").joinpath("templates")


def _builtin_names() -> list[str]:
    return sorted(entry.name[:-5] for entry in _builtin_dir().iterdir()
                  if entry.name.endswith(".yaml") and _NAME.match(entry.name[:-5]))


def _read_builtin(name: str) -> str:
    data: bytes = _builtin_dir().joinpath(f"{name}.yaml").read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        msg = f"prompt template {name!r} (built-in) is not UTF-8 (bad byte at offset {exc.start})"
        raise PromptError(msg) from None


def _user_entry(entry: os.DirEntry[str], root: Path) -> Path | None:
    """The regular file an entry of the user's folder stands for, or None (warned)."""
    path = Path(entry.path)
    try:
        if entry.is_symlink():
            target = path.resolve(strict=True)
            if not target.is_relative_to(root):
                log.warning("prompt file %s links outside %s; not read", path, root)
                return None
            path = target
        mode = path.stat().st_mode
    except (OSError, RuntimeError) as exc:
        log.warning("prompt file %s cannot be read (%s); skipped", path, exc)
        return None
    if not stat.S_ISREG(mode):
        log.warning("prompt file %s is not a regular file; skipped", path)
        return None
    return path


def _scan(folder: Path) -> dict[str, Path]:
    """The template files directly inside ``folder``, by name."""
    try:
        root = folder.resolve(strict=True)
        with os.scandir(root) as listing:
            entries = sorted(itertools.islice(listing, _MAX_ENTRIES), key=lambda e: e.name)
    except OSError as exc:
        msg = (f"prompts.prompts_dir {folder} cannot be read ({exc.strerror or exc}); set it "
               "to a folder of .yaml templates")
        raise ConfigError(msg) from None
    found: dict[str, Path] = {}
    for entry in entries:
        stem, suffix = os.path.splitext(entry.name)
        if suffix.lower() not in _SUFFIXES:
            continue
        if not _NAME.match(stem):
            log.warning("prompt file %s: the name must be letters, digits, - or _; skipped",
                        entry.path)
            continue
        path = _user_entry(entry, root)
        if path is None:
            continue
        if stem in found:
            log.warning("prompt files %s and %s have the same name; %s is used", found[stem],
                        path, found[stem])
            continue
        found[stem] = path
    return found


def _read_user(path: Path) -> str:
    from tooldeck.rag.files import read_text

    try:
        return read_text(path, _MAX_FILE_BYTES)
    except LoaderError as exc:
        msg = f"prompt template file {path}: {exc}"
        raise PromptError(msg) from None


class PromptLibrary:
    """The templates a run uses: built-ins, replaced or extended by the user's folder.

    Args:
        prompts_dir: The user's folder of templates (``prompts.prompts_dir``), or None.
        example_files: Example files that extend templates' examples.
        max_examples: Most examples shown whole in a prompt.
    """

    def __init__(
        self, prompts_dir: str | Path | None = None, example_files: Sequence[str | Path] = (),
        max_examples: int = 2,
    ) -> None:
        self.prompts_dir = Path(prompts_dir).expanduser() if prompts_dir else None
        self.example_files = [Path(p).expanduser() for p in example_files]
        self.max_examples = max_examples
        self._lock = threading.Lock()
        self._specs: dict[str, TemplateSpec] = {}
        self._mappings: dict[str, dict[str, Any]] = {}
        self._user: dict[str, Path] | None = None
        self._sets: list[ExampleSet] | None = None

    @classmethod
    def from_config(cls, config: Any) -> PromptLibrary:
        """A library from a ``Config`` or its ``prompts`` section (``PromptsConfig``)."""
        section = getattr(config, "prompts", config)
        return cls(section.prompts_dir, section.example_files, section.max_examples)

    def user_files(self) -> dict[str, Path]:
        """The user's template files by name (empty without ``prompts_dir``)."""
        if self._user is None:
            self._user = _scan(self.prompts_dir) if self.prompts_dir else {}
        return self._user

    def names(self) -> list[str]:
        """Every template name, built-in or the user's, sorted."""
        return sorted({*_builtin_names(), *self.user_files()})

    def get(self, name: str) -> TemplateSpec:
        """The checked template ``name`` (the user's file first).

        Raises:
            PromptError: No such template, or its file is malformed (named).
            ConfigError: An example file for it is malformed (named).
        """
        if not isinstance(name, str) or not _NAME.match(name):
            msg = f"{name!r} is not a template name (letters, digits, - or _)"
            raise PromptError(msg)
        with self._lock:
            spec = self._specs.get(name)
            if spec is None:
                spec = self._with_examples(self._parse(name))
                self._specs[name] = spec
            return spec

    def _parse(self, name: str) -> TemplateSpec:
        builtin = _builtin_names()
        user = self.user_files().get(name)
        if user is not None:
            spec = parse_template(name, _read_user(user), str(user))
            return dataclasses.replace(spec, replaces_builtin=name in builtin)
        if name in builtin:
            return parse_template(name, _read_builtin(name), BUILTIN)
        known = ", ".join(self.names())
        where = self.prompts_dir or "the folder named by prompts.prompts_dir"
        msg = f"no prompt template {name!r}; known: {known}. To add one, put {name}.yaml in {where}"
        raise PromptError(msg)

    def _example_sets(self) -> list[ExampleSet]:
        if self._sets is None:
            from tooldeck.prompts.example_files import read_example_set

            sets = [read_example_set(path) for path in self.example_files]
            known = self.names()
            for example_set in sets:
                if example_set.template not in known:
                    msg = (f"example file {example_set.path} extends the template "
                           f"{example_set.template!r}, which does not exist; known: "
                           f"{', '.join(known)} (name it in the file's 'template' key)")
                    raise ConfigError(msg)
            self._sets = sets
        return self._sets

    def _with_examples(self, spec: TemplateSpec) -> TemplateSpec:
        from tooldeck.prompts.example_files import check_examples

        sets = [s for s in self._example_sets() if s.template == spec.name]
        if not sets:
            return spec
        if spec.examples is None:
            msg = (f"example file {sets[0].path} extends the template {spec.name!r}, which has "
                   "no examples part")
            raise ConfigError(msg)
        extra = [e for s in sets for e in check_examples(s, spec.examples.keys)]
        return dataclasses.replace(spec, examples=spec.examples.with_items(extra))

    def templates(self) -> list[TemplateSpec]:
        """Every template, checked, sorted by name."""
        return [self.get(name) for name in self.names()]

    def load_template(self, name: str) -> dict[str, Any]:
        """The template as a mapping of texts: ``system`` and each of its ``texts``.

        Fill a text with :func:`tooldeck.prompts.render`. The mapping also holds ``name``,
        ``version``, ``description`` and ``variables``.
        """
        mapping = self._mappings.get(name)
        if mapping is None:
            mapping = self.get(name).as_mapping(self.max_examples)
            self._mappings[name] = mapping
        return mapping

    def selector(self, name: str, kind: str, **options: Any) -> BaseExampleSelector:
        """An example selector over template ``name``'s examples (example files included).

        The examples are compared on the keys their ``human`` text shares with the prompt's
        variables (``question`` in ``self_ask``), so the selector reads the question straight
        from the prompt's values.

        Args:
            name: The template's name.
            kind: ``ngram`` (LangChain's n-gram overlap, every example reordered), ``semantic``
                (k nearest by embeddings) or ``mmr`` (maximal marginal relevance).
            **options: Passed to the selector (``embeddings``, ``k``, ``fetch_k``,
                ``lambda_mult``, ``threshold``).

        Raises:
            PromptError: No examples, an unknown kind, or no key shared with the prompt.
        """
        from tooldeck.prompts import selectors
        from tooldeck.prompts.spec import slots

        spec = self.get(name)
        if spec.examples is None or not spec.examples.items:
            msg = f"prompt template {name!r} has no examples to select from"
            raise PromptError(msg)
        asks = set(slots(spec.texts[spec.input])) if spec.input else set()
        keys = [key for key in slots(spec.examples.human) if key in asks]
        if not keys:
            msg = (f"prompt template {name!r}: its examples' human text shares no variable "
                   f"with its user message, so there is nothing to compare them with")
            raise PromptError(msg)
        items = list(spec.examples.items)
        if kind == "ngram":
            return selectors.NGramOverlapExampleSelector(items, input_key=keys[0], **options)
        if kind == "semantic":
            return selectors.semantic_selector(items, input_keys=keys, **options)
        if kind == "mmr":
            return selectors.mmr_selector(items, input_keys=keys, **options)
        msg = f"example selector {kind!r} is unknown; use ngram, semantic or mmr"
        raise PromptError(msg)

    def chat_prompt(self, name: str, **options: Any) -> TemplatePrompt:
        """The template as a LangChain ``ChatPromptTemplate``.

        Args:
            name: The template's name.
            **options: ``selector`` (an example selector, or ``ngram``, ``semantic`` or
                ``mmr`` for :meth:`selector`), ``n_ctx``, ``reserve``, ``count_tokens`` and
                ``max_examples`` (this library's by default), as in
                :func:`tooldeck.prompts.chat.build_chat_prompt`.
        """
        from tooldeck.prompts.chat import build_chat_prompt

        options.setdefault("max_examples", self.max_examples)
        if isinstance(options.get("selector"), str):
            options["selector"] = self.selector(name, options["selector"])
        return build_chat_prompt(self.get(name), **options)


_default: PromptLibrary | None = None


def configure_prompts(config: Any = None) -> PromptLibrary:
    """Set the default library from a ``Config`` (or its ``prompts`` section).

    ``build_agent`` and the CLI call this, so that :func:`load_template` sees the user's
    ``prompts_dir`` and ``example_files``; ``None`` goes back to the built-ins alone. The
    same settings again keep the current library (and the templates it has read).

    Returns:
        The default library.
    """
    global _default  # noqa: PLW0603 (one default, replaced whole)
    library = PromptLibrary.from_config(config) if config is not None else PromptLibrary()
    if _default is None or _settings(_default) != _settings(library):
        _default = library
    return _default


def _settings(library: PromptLibrary) -> tuple[Any, ...]:
    """What a library was built from: two libraries with equal settings read the same."""
    return (library.prompts_dir, tuple(library.example_files), library.max_examples)


def default_library() -> PromptLibrary:
    """The library :func:`load_template` reads (built-ins alone until configured)."""
    global _default  # noqa: PLW0603
    if _default is None:
        _default = PromptLibrary()
    return _default


def load_template(name: str) -> dict[str, Any]:
    """The template ``name`` of the default library, as a mapping of texts.

    Args:
        name: The template's name, such as ``react``.

    Returns:
        ``system``, each text of the template by name, ``name``, ``version``,
        ``description`` and ``variables``.

    Raises:
        PromptError: Unknown template or malformed file (named).
    """
    return default_library().load_template(name)


def chat_prompt(name: str, **options: Any) -> TemplatePrompt:
    """The template ``name`` of the default library as a ``ChatPromptTemplate``.

    See :meth:`PromptLibrary.chat_prompt`.
    """
    return default_library().chat_prompt(name, **options)
