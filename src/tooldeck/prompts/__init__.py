"""Prompt templates: YAML package data with named parts, loaded, checked and filled safely.

- :func:`load_template` returns a template as a mapping of texts (``system`` and each named
  text); :func:`render` fills one text's ``{slots}`` in a single pass (values are never read
  again, so braces in data stay as they are; a slot with no value raises ``PromptError``).
- :func:`chat_prompt` returns the same template as a LangChain ``ChatPromptTemplate`` (with a
  ``FewShotChatMessagePromptTemplate`` for its examples, within a length budget when given the
  model's context size), usable in any LCEL chain; its name and version travel in traces.
- :func:`configure_prompts` points the module-level functions at a configuration's
  ``prompts.prompts_dir`` (the user's templates, replacing built-ins of the same name) and
  ``prompts.example_files``; :class:`PromptLibrary` does the same for one caller.

The file format is described in :mod:`tooldeck.prompts.spec`.
"""

from __future__ import annotations

from tooldeck.prompts.library import (
    BUILTIN,
    PromptLibrary,
    chat_prompt,
    configure_prompts,
    default_library,
    load_template,
)
from tooldeck.prompts.spec import TemplateSpec, TemplateText, escape, render, slots

__all__ = [
    "BUILTIN",
    "PromptLibrary",
    "TemplateSpec",
    "TemplateText",
    "chat_prompt",
    "configure_prompts",
    "default_library",
    "escape",
    "load_template",
    "render",
    "slots",
]
