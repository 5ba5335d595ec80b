"""YAML whose aliases cannot blow up: the expanded size is counted before anything is built.

``yaml.safe_load`` builds an alias as a shared reference, so ``[*a, *a, *a, ...]`` nine levels
deep (the "billion laughs", under 1 kB) loads in microseconds, and whatever walks the result
afterwards (rendering, JSON) meets a billion leaves. :func:`load_yaml` first measures the
document as if every alias were copied (each node counted once, memoised, so this takes time
linear in the file) and refuses documents over the limit, and structures that contain
themselves.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from tooldeck.errors import LoaderError

__all__ = ["expanded_size", "load_yaml"]


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def expanded_size(root: Node, limit: int) -> int:
    """Characters plus nodes of the document under ``root`` with every alias expanded.

    Raises:
        LoaderError: the size is over ``limit``, or an alias refers to a node containing it.
    """
    sizes: dict[int, int] = {}
    active: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            size = 1 + sum(sizes[id(child)] for child in _children(node))
            active.discard(key)
        elif key in sizes:
            continue
        elif key in active:
            msg = "a YAML alias refers to a node that contains it (a structure without end)"
            raise LoaderError(msg)
        elif isinstance(node, ScalarNode):
            size = 1 + len(node.value)
        else:
            active.add(key)
            stack.append((node, True))
            stack.extend((child, False) for child in _children(node) if id(child) not in sizes)
            continue
        if size > limit:
            msg = (f"YAML aliases expand it to over {limit:,} characters "
                   "(rag.max_expanded_chars plus the file's size)")
            raise LoaderError(msg)
        sizes[key] = size
    return sizes.get(id(root), 0)


class _BoundedLoader(yaml.SafeLoader):
    """``SafeLoader`` that measures the composed document before constructing it."""

    limit = 0

    def construct_document(self, node: Node) -> Any:
        expanded_size(node, self.limit)
        return super().construct_document(node)


def load_yaml(text: str, limit: int) -> Any:
    """Parse one YAML document like ``yaml.safe_load``, with aliases bounded.

    Args:
        text: the YAML text.
        limit: the most characters (plus one per node) the document may expand to.

    Raises:
        LoaderError: aliases expand it past ``limit``, or it contains itself.
        yaml.YAMLError: it is not valid YAML.
    """
    loader = _BoundedLoader(text)
    loader.limit = limit
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()
