"""Python source to one ``Document`` per public function, class and method.

Each document holds the qualified name, the signature, the docstring and the
code (cut at ``max_code_chars``); ``metadata["words"]`` holds the words of the name, which the
splitter adds to the indexed text. The file is parsed with :mod:`ast`, never imported or run.
A function or method that builds request paths (``client.post("/session", ...)``,
``f"/session/{sid}"``) lists them in ``metadata["paths_called"]`` (``METHOD /path`` per line, ``*``
when the method is not seen), so the index can link it to the operations it calls.

Code is cut from the source through a table of lines built once: ``ast.get_source_segment``
splits the whole file again, character by character, for every symbol, which made a 32 kB file
of 1,000 functions take 13 s.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from langchain_core.documents import Document

from tooldeck.errors import LoaderError
from tooldeck.rag.identifiers import identifier_words

__all__ = ["python_documents"]

_MAX_CODE = 4000
_MAX_HEADER = 1500
# Lines as the parser counts them (\r\n, \r or \n; not \f or \x1c), ends kept.
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")


class _Source:
    """The lines of a file, to cut the code of a node in time proportional to its size."""

    def __init__(self, text: str) -> None:
        self.lines: list[str] = _LINE.findall(text)

    def segment(self, node: ast.stmt, limit: int) -> str:
        """The source of ``node`` (like ``ast.get_source_segment``), at most ``limit`` chars."""
        if node.end_lineno is None or node.end_col_offset is None:
            return ""
        first, last = node.lineno - 1, node.end_lineno - 1
        start = self.lines[first].encode()
        if first == last:
            return start[node.col_offset : node.end_col_offset].decode()[:limit]
        parts = [start[node.col_offset :].decode()]
        size = len(parts[0])
        for index in range(first + 1, last):
            if size > limit:
                break
            parts.append(self.lines[index])
            size += len(self.lines[index])
        if size <= limit:
            parts.append(self.lines[last].encode()[: node.end_col_offset].decode())
        return "".join(parts)[:limit]


def _signature(node: ast.FunctionDef | ast.AsyncFunctionDef, skip_self: bool) -> str:
    args = node.args
    if skip_self and args.args and args.args[0].arg in ("self", "cls"):
        args = ast.arguments(
            posonlyargs=args.posonlyargs, args=args.args[1:], vararg=args.vararg,
            kwonlyargs=args.kwonlyargs, kw_defaults=args.kw_defaults, kwarg=args.kwarg,
            defaults=args.defaults[-len(args.args[1:]):] if args.args[1:] and args.defaults else [],
        )
    text = f"({ast.unparse(args)})"
    if node.returns is not None:
        text += f" -> {ast.unparse(node.returns)}"
    return text


def _example(name: str, node: ast.FunctionDef | ast.AsyncFunctionDef, skip_self: bool) -> str:
    args = [a.arg for a in node.args.posonlyargs + node.args.args]
    if skip_self and args and args[0] in ("self", "cls"):
        args = args[1:]
    n_required = len(args) - len(node.args.defaults)
    parts = [f"{a}=..." for a in args[:n_required]]
    parts += [f"{a.arg}=..." for a, d in zip(node.args.kwonlyargs, node.args.kw_defaults,
                                              strict=False) if d is None]
    prefix = "await " if isinstance(node, ast.AsyncFunctionDef) else ""
    return f"{prefix}{name}({', '.join(parts)})"


_HTTP_VERBS = frozenset({"get", "post", "put", "patch", "delete", "head", "options"})
_MAX_CALLS = 20


def _path_of(node: ast.expr) -> str | None:
    """A literal that looks like a URL path: ``"/session"``, ``f"/session/{sid}"`` (as ``{}``)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        text = node.value
    elif isinstance(node, ast.JoinedStr):
        text = "".join(v.value if isinstance(v, ast.Constant) and isinstance(v.value, str)
                       else "{}" for v in node.values)
    else:
        return None
    if "://" in text:  # a full URL: its path
        text = "/" + text.split("://", 1)[1].partition("/")[2]
    text = text.split("?", 1)[0]
    if not text.startswith("/") or len(text) > 300 or any(c.isspace() for c in text):
        return None
    return text


def _calls(node: ast.AST) -> str:
    """The requests a function's body makes: ``METHOD /path`` per line (``*`` when unknown).

    A path literal that is the first argument of ``x.get(...)`` / ``x.post(...)`` and alike
    takes that method; ``x.request("PUT", "/path")`` takes its first argument.
    """
    found: dict[str, None] = {}
    methods: dict[int, str] = {}
    for sub in ast.walk(node):
        if not isinstance(sub, ast.Call) or not sub.args:
            continue
        name = sub.func.attr if isinstance(sub.func, ast.Attribute) else getattr(
            sub.func, "id", "")
        first = sub.args[0]
        if name.lower() in _HTTP_VERBS:
            methods[id(first)] = name.upper()
        elif (name.lower() == "request" and len(sub.args) > 1 and isinstance(first, ast.Constant)
              and isinstance(first.value, str)):
            methods[id(sub.args[1])] = first.value.upper()
    inner = {id(v) for sub in ast.walk(node) if isinstance(sub, ast.JoinedStr)
             for v in sub.values}  # the pieces of an f-string are not paths of their own
    for sub in ast.walk(node):
        if (isinstance(sub, ast.Constant | ast.JoinedStr) and id(sub) not in inner
                and len(found) < _MAX_CALLS):
            path = _path_of(sub)
            if path is not None:
                found[f"{methods.get(id(sub), '*')} {path}"] = None
    return "\n".join(found)


def _doc(
    source: str, module: str, qualname: str, kind_word: str, signature: str, docstring: str,
    code: str, example: str, line: int, node: ast.AST | None = None,
) -> Document:
    if len(code) > _MAX_CODE:
        code = code[:_MAX_CODE] + "\n# ... (cut)"
    text = f"{kind_word} {qualname}{signature}\nmodule: {module}\n"
    if docstring:
        text += docstring.strip() + "\n"
    text += "\n" + code
    metadata = {
        "source": source, "kind": "function", "ref": qualname, "title": f"{qualname}{signature}",
        "module": module, "signature": signature, "example": example, "line": line,
        "words": identifier_words(qualname),
    }
    if docstring.strip():
        metadata["summary"] = docstring.strip().split("\n\n", 1)[0].replace("\n", " ")[:300]
    calls = _calls(node) if node is not None and kind_word in ("def", "method") else ""
    if calls:
        metadata["paths_called"] = calls
    return Document(page_content=text, metadata=metadata)


def python_documents(text: str, source: str) -> list[Document]:
    """Documents for the public functions, classes and methods of one Python file.

    Raises:
        LoaderError: the file is not valid Python.
    """
    try:
        tree = ast.parse(text, filename=source)
    except (SyntaxError, ValueError) as exc:
        raise LoaderError(f"not valid Python ({exc})") from exc
    module = Path(source).stem
    lines = _Source(text)
    docs: list[Document] = []
    for node in tree.body:
        public = not getattr(node, "name", "_").startswith("_")
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and public:
            sig = _signature(node, skip_self=False)
            docs.append(_doc(source, module, node.name, "def", sig, ast.get_docstring(node) or "",
                             lines.segment(node, _MAX_CODE + 1),
                             _example(node.name, node, False), node.lineno, node))
        elif isinstance(node, ast.ClassDef) and public:
            init = next((n for n in node.body if isinstance(n, ast.FunctionDef)
                         and n.name == "__init__"), None)
            sig = _signature(init, skip_self=True) if init else "()"
            example = _example(node.name, init, True) if init else f"{node.name}()"
            bases = ", ".join(ast.unparse(b) for b in node.bases)
            header = lines.segment(node, _MAX_HEADER)
            word = f"class({bases})" if bases else "class"
            docs.append(_doc(source, module, node.name, word,
                             sig, ast.get_docstring(node) or "", header, example,
                             node.lineno))
            for item in node.body:
                if (isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef)
                        and not item.name.startswith("_")):
                    qual = f"{node.name}.{item.name}"
                    is_static = any(ast.unparse(d) == "staticmethod" for d in item.decorator_list)
                    docs.append(_doc(
                        source, module, qual, "method", _signature(item, not is_static),
                        ast.get_docstring(item) or "", lines.segment(item, _MAX_CODE + 1),
                        _example(qual if is_static or _is_classmethod(item)
                                 else f"{node.name[0].lower()}{node.name[1:]}.{item.name}",
                                 item, not is_static), item.lineno, item,
                    ))
    return docs


def _is_classmethod(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    return any(ast.unparse(d) == "classmethod" for d in node.decorator_list)
