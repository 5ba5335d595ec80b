"""The APIBench AST scorer (Gorilla, Patil et al. 2023), re-implemented from its description.

The rules, as ``../shared/data/gorilla_apibench/SOURCE.md`` states them:

1. The candidate call is the text after the first ``api_call`` and before ``api_provider``,
   from two characters after the first ``:`` to the last ``)``; with no ``api_call`` at all the
   whole output is the candidate (HuggingFace, TensorFlow Hub) or the answer is an error (Torch).
2. It is parsed with an error-tolerant Python parser (tree-sitter).
3. The API database is searched in file order: a database API matches when some call node of
   the candidate uses the same function expression (else, a quirk kept on purpose, the last
   node looked at) and contains every key argument value of the API as a substring.
4. No match: hallucination. A match in the gold API's domain: correct. Otherwise: error.

Error recovery on prose differs between tree-sitter grammar and runtime versions, and most model
outputs are prose, so the parser matters: Gorilla's scorer uses the python grammar vendored
from CodeXGLUE's CodeBLEU, built on the tree-sitter runtime of May 2023 (py-tree-sitter
0.20.1). The ``codebleu`` 0.1.x wheels on PyPI ship that grammar prebuilt (``my-languages.so``);
with it and ``tree-sitter==0.20.1`` this reproduces all 16 TensorFlow Hub and HuggingFace rows
of ``derived/official_scorer_on_released_gorilla_responses.tsv`` exactly (a test checks).
Newer grammars differ on up to 6 of the 8 TF rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from tooldeck.errors import InputError

__all__ = ["ApiDatabase", "Hub", "Verdict", "extract_call", "hub_of"]

Hub = Literal["huggingface", "tensorflowhub", "torchhub"]
Verdict = Literal["correct", "hallucination", "error"]
_SEPARATORS = {b"(", b")", b","}


def hub_of(records: list[dict[str, Any]], file_name: str = "") -> Hub:
    """Which hub's rules apply: from the records' ``framework`` (or the file name)."""
    text = " ".join(str(r.get("framework", "")) for r in records[:20]).lower() + file_name.lower()
    if "hugging" in text:
        return "huggingface"
    if "tensorflow" in text:
        return "tensorflowhub"
    if "pytorch" in text or "torch" in text:
        return "torchhub"
    return "huggingface"


@lru_cache(maxsize=1)
def _parser() -> Any:
    """The parser the official numbers were made with (see the module docstring).

    Raises:
        InputError: the grammar file is missing (``codebleu`` not installed).
    """
    import importlib.util

    hint = ("the APIBench scorer needs the eval extra (tree-sitter 0.20.1 and the python grammar "
            "of codebleu 0.1.7); install it with `pip install 'tooldeck[eval]'` (needs a C "
            "compiler; ./install.sh does this)")
    try:
        from tree_sitter import Language, Parser
    except ImportError:
        raise InputError(hint) from None
    spec = importlib.util.find_spec("codebleu")  # not imported: only its grammar file is used
    origin = spec.origin if spec is not None else None
    library = Path(origin).parent / "parser" / "my-languages.so" if origin else Path()
    if not library.is_file():
        raise InputError(hint)
    parser = Parser()
    parser.set_language(Language(str(library), "python"))
    return parser


def _parse(code: str) -> Any:
    return _parser().parse(code.encode("utf-8")).root_node


def extract_call(text: str, hub: Hub) -> str | None:
    """The candidate call of a model output (rule 1); ``None`` means an error (Torch only)."""
    parts = text.split("api_call")
    if len(parts) == 1:
        return None if hub == "torchhub" else parts[0]
    body = parts[1].split("api_provider")[0]
    start = body.index(":") if ":" in body else 0
    end = body.rindex(")") if ")" in body else -2
    return body[start + 2 : end + 1]


def _subtrees(root: Any) -> list[tuple[Any, bytes | None]]:
    """Nodes in the scorer's visiting order, each with the text of its first child."""
    out: list[tuple[Any, bytes | None]] = []
    stack = [root]
    while stack:
        node = stack.pop()
        out.append((node, node.children[0].text if node.child_count > 0 else None))
        stack.extend(child for child in node.children if child.child_count > 0)
    return out


def _key_args(call_node: Any, hub: Hub) -> list[bytes]:
    args_node = call_node.children[1] if call_node.child_count > 1 else None
    if args_node is None:
        return []
    values: list[bytes] = []
    for child in args_node.children:
        text = child.text or b""
        if hub == "torchhub":
            if child.type == "keyword_argument" and child.children[0].text in (b"repo_or_dir",
                                                                              b"model"):
                values.append(child.children[2].text or b"")
            continue
        if hub == "tensorflowhub" and (b"model=" in text or b"model =" in text):
            values.append(child.children[2].text or b"")
        elif hub == "huggingface" and b"=" in text and child.type == "keyword_argument":
            values.append(child.children[2].text or b"")
        elif text not in _SEPARATORS:
            values.append(text)
    return values


@dataclass(frozen=True)
class _Entry:
    function: bytes
    args: tuple[str, ...]


class ApiDatabase:
    """A hub's API records, parsed once, matched against candidate calls (rules 2-4).

    Args:
        records: the hub's API records (``api_call`` and ``domain`` are used), in file order.
        hub: whose argument rules apply.
    """

    def __init__(self, records: list[dict[str, Any]], hub: Hub) -> None:
        self.records = records
        self.hub = hub
        self.entries: list[_Entry | None] = [
            self._entry(str(r.get("api_call", ""))) for r in records
        ]

    def _entry(self, api_call: str) -> _Entry | None:
        tree = _parse(api_call)
        if tree.child_count == 0 or tree.children[0].child_count == 0:
            return None
        expr = tree.children[0].children[0]
        if expr.child_count == 0:
            return None
        args = _key_args(expr, self.hub)
        if not args:
            return None
        return _Entry(expr.children[0].text or b"", tuple(
            a.decode("utf-8", "replace").lstrip("'").rstrip("'") for a in args))

    @staticmethod
    def _passes(entry: _Entry, nodes: list[tuple[Any, bytes | None]]) -> bool:
        chosen = nodes[-1][0]
        for node, first in nodes:
            if first == entry.function:
                chosen = node
                break
        text = (chosen.text or b"").decode("utf-8", "replace")
        return all(arg in text for arg in entry.args)

    def match(self, candidate: str) -> int:
        """Index of the first database API the candidate call matches, or -1."""
        nodes = _subtrees(_parse(candidate))
        for position, entry in enumerate(self.entries):
            if entry is not None and self._passes(entry, nodes):
                return position
        return -1

    def matches_api(self, candidate: str, api_call: str) -> bool:
        """Whether the candidate calls this API (same function, all key arguments): strict."""
        entry = self._entry(api_call)
        return entry is not None and self._passes(entry, _subtrees(_parse(candidate)))

    def judge(self, output: str, gold_domain: str) -> tuple[Verdict, int]:
        """Classify one model output against the gold domain; returns the verdict and match."""
        candidate = extract_call(output, self.hub)
        if candidate is None:
            return "error", -1
        position = self.match(candidate)
        if position == -1:
            return "hallucination", -1
        if self.records[position].get("domain") == gold_domain:
            return "correct", position
        return "error", position
