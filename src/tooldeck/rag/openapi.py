"""OpenAPI 3.x / Swagger 2.0 documents to one LangChain ``Document`` per operation.

Each document holds the method and path, summary, description, parameters, the request body
schema and the responses, with local ``$ref``s resolved. Only the part down to the description
is searched (``metadata["index_chars"]``, with the words of the path and operation id in
``metadata["words"]``): MiniLM vectors of the whole schema missed the operation (RestBench
Spotify top-1 42 % against 74 % for the head, ``bench/README.md``); the rest is what an
answer shows. A recursive schema (a tree node whose
children are nodes) is shown once and then named; a ``$ref`` chain that only points at itself
(``A -> B -> A`` with nothing in between) cannot mean anything, and the file is rejected.

Resolving is where a small file turns big: a schema whose properties each ``$ref`` the next
level, eight levels deep, is millions of lines. Every operation is therefore written into a
:class:`~tooldeck.rag.budget.Lines` that stops at ``rag.max_document_chars`` (visiting a schema
node costs too, so a fan-out that prints nothing stops as well) and is charged to the file's
:class:`~tooldeck.rag.budget.Budget`. Each ``$ref`` chain is followed once, and the lines of a
schema already written at the same place are copied rather than rendered again (both memoised
per file), so a chain of 100,000 links costs linear time and a fan-out costs what it writes.
"""

from __future__ import annotations

from typing import Any

from langchain_core.documents import Document

from tooldeck.errors import LoaderError
from tooldeck.rag.budget import Budget, Lines, bounded_text
from tooldeck.rag.identifiers import identifier_words

__all__ = ["is_openapi", "openapi_documents"]

_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_MAX_DEPTH = 6
_LABEL = 500  # the most characters of a name, type, format or enum value
_LOOP_SHOWN = 12  # refs of a loop named in the error
_EXAMPLE_CHARS = 50_000  # an example call is built from at most 2,500 schema nodes


def is_openapi(data: Any) -> bool:
    """Whether parsed JSON/YAML looks like an OpenAPI or Swagger description."""
    return isinstance(data, dict) and ("openapi" in data or "swagger" in data) and isinstance(
        data.get("paths"), dict
    )


def _short(value: Any, limit: int = _LABEL) -> str:
    return bounded_text(value, limit)


def _one_line(value: Any, limit: int) -> str:
    return bounded_text(value, limit).strip().replace("\n", " ")


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _strings(value: Any) -> set[str]:
    return {v for v in _list(value) if isinstance(v, str)}


class _Resolver:
    def __init__(self, root: dict[str, Any]) -> None:
        self.root = root
        self._resolved: dict[str, tuple[Any, str | None]] = {}
        # Lines already written per (schema, ref name, indent, stack, depth): a schema that
        # fans out to the same sub-schemas is rendered once per place, then copied.
        self.rendered: dict[tuple[int, str | None, int, tuple[str, ...], int], list[str]] = {}

    def lookup(self, ref: str) -> Any:
        if not ref.startswith("#/"):
            return {"description": f"(external reference {_short(ref)})"}
        node: Any = self.root
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, dict) or part not in node:
                raise LoaderError(f"$ref {_short(ref)!r} points at nothing")
            node = node[part]
        return node

    def deref(self, node: Any) -> tuple[Any, str | None]:
        """Follow a chain of pure ``$ref``s; returns the target and the last ref name."""
        chain: list[str] = []
        on_chain: set[str] = set()
        name = None
        while isinstance(node, dict) and isinstance(node.get("$ref"), str):
            ref = node["$ref"]
            known = self._resolved.get(ref)
            if known is not None:
                node, name = known
                break
            if ref in on_chain:
                loop = [*chain[chain.index(ref):], ref]
                shown = loop if len(loop) <= _LOOP_SHOWN else [*loop[:_LOOP_SHOWN], "..."]
                raise LoaderError(f"$ref loop: {' -> '.join(_short(r, 200) for r in shown)}")
            chain.append(ref)
            on_chain.add(ref)
            name = ref.rsplit("/", 1)[-1]
            node = self.lookup(ref)
        for ref in chain:
            self._resolved[ref] = (node, name)
        return node, name


def _schema_lines(
    resolver: _Resolver, out: Lines, schema: Any, indent: int, stack: tuple[str, ...],
    depth: int = 0,
) -> None:
    """Write ``schema``; the lines of a schema already written at this place are copied."""
    if not out.visit():
        return
    schema, name = resolver.deref(schema)
    if not isinstance(schema, dict):
        return
    key = (id(schema), name, indent, stack, depth)
    known = resolver.rendered.get(key)
    if known is not None:
        out.extend(known)
        return
    start = len(out.lines)
    _render_schema(resolver, out, schema, name, indent, stack, depth)
    if not out.full:
        resolver.rendered[key] = out.lines[start:]


def _render_schema(
    resolver: _Resolver, out: Lines, schema: dict[str, Any], name: str | None, indent: int,
    stack: tuple[str, ...], depth: int,
) -> None:
    pad = "  " * indent
    if name is not None and name in stack:
        out.add(f"{pad}(recursive: {_short(name)})")
        return
    if name is not None:
        stack = (*stack, name)
    if depth >= _MAX_DEPTH:
        out.add(f"{pad}(nested deeper than {_MAX_DEPTH} levels)")
        return
    for combo in ("allOf", "oneOf", "anyOf"):
        for part in _list(schema.get(combo)):
            _schema_lines(resolver, out, part, indent, stack, depth + 1)
            if out.full:
                return
    props = schema.get("properties") or {}
    if isinstance(props, dict):
        _property_lines(resolver, out, schema, props, indent, stack, depth)
    if schema.get("type") == "array" and not props:
        _schema_lines(resolver, out, schema.get("items", {}), indent, stack, depth + 1)


def _property_lines(
    resolver: _Resolver, out: Lines, schema: dict[str, Any], props: dict[str, Any], indent: int,
    stack: tuple[str, ...], depth: int,
) -> None:
    pad = "  " * indent
    required = _strings(schema.get("required"))
    for prop, sub in props.items():
        if out.full:
            return
        target, sub_name = resolver.deref(sub)
        target = _dict(target)
        kind = _type_name(target, sub_name)
        req = ", required" if prop in required else ""
        desc = _one_line(target.get("description", ""), out.room)
        out.add(f"{pad}- {_short(prop)} ({kind}{req}){': ' + desc if desc else ''}")
        if sub_name is not None and sub_name in stack:
            continue
        nested = target.get("items") if target.get("type") == "array" else target
        if isinstance(nested, dict) and (nested.get("properties") or nested.get("$ref")):
            _schema_lines(resolver, out, nested, indent + 1,
                          (*stack, sub_name) if sub_name else stack, depth + 1)


def _type_name(schema: dict[str, Any], ref_name: str | None) -> str:
    kind = _short(schema.get("type", ref_name or "object"))
    if kind == "array":
        items = _dict(schema.get("items"))
        ref = items.get("$ref")
        inner = ref.rsplit("/", 1)[-1] if isinstance(ref, str) else ""
        kind = f"array of {_short(inner or items.get('type', 'any'))}"
    if "enum" in schema:
        kind += " one of " + ", ".join(_short(v) for v in _list(schema["enum"])[:10])
    if "format" in schema:
        kind += f" ({_short(schema['format'])})"
    return kind


def _example(
    resolver: _Resolver, walk: Lines, schema: Any, stack: tuple[str, ...] = (), depth: int = 0,
) -> Any:
    if not walk.visit():
        return None
    schema, name = resolver.deref(schema)
    if not isinstance(schema, dict) or depth > 4 or (name and name in stack):
        return None
    stack = (*stack, name) if name else stack
    for key in ("example", "default"):
        if key in schema:
            return schema[key]
    if _list(schema.get("enum")):
        return schema["enum"][0]
    for combo in ("allOf", "oneOf", "anyOf"):
        if schema.get(combo):
            merged: dict[str, Any] = {}
            for part in _list(schema[combo]):
                value = _example(resolver, walk, part, stack, depth + 1)
                if isinstance(value, dict):
                    merged.update(value)
                elif value is not None and not merged:
                    return value
            return merged
    kind = schema.get("type", "object" if "properties" in schema else "string")
    if kind == "object":
        props = _dict(schema.get("properties"))
        required = _strings(schema.get("required")) or set(props)
        return {p: _example(resolver, walk, props[p], stack, depth + 1)
                for p in props if p in required}
    if kind == "array":
        item = _example(resolver, walk, schema.get("items", {}), stack, depth + 1)
        return [] if item is None else [item]
    return {"integer": 0, "number": 0.0, "boolean": True}.get(str(kind), "string")


def _parameters(resolver: _Resolver, op: dict[str, Any], shared: list[Any]) -> list[dict[str, Any]]:
    params: dict[tuple[str, str], dict[str, Any]] = {}
    for raw in [*shared, *_list(op.get("parameters"))]:
        param, _ = resolver.deref(raw)
        if isinstance(param, dict) and "name" in param:
            params[(_short(param["name"]), _short(param.get("in", "")))] = param
    return list(params.values())


def _parameter_lines(
    resolver: _Resolver, out: Lines, walk: Lines, params: list[dict[str, Any]],
) -> tuple[dict[str, Any], Any]:
    """Write the parameters; returns the required query values and a Swagger body schema."""
    body_schema: Any = None
    query: dict[str, Any] = {}
    if params:
        out.add("Parameters:")
    for param in params:
        if param.get("in") == "body":  # Swagger 2.0
            body_schema = param.get("schema", {})
            continue
        schema = _dict(resolver.deref(param.get("schema", param))[0])
        req = ", required" if param.get("required") else ""
        desc = _one_line(param.get("description", ""), out.room)
        out.add(f"- {_short(param['name'])} (in {_short(param.get('in', '?'))}, "
                f"{_type_name(schema, None)}{req}){': ' + desc if desc else ''}")
        if param.get("in") == "query" and param.get("required"):
            query[_short(param["name"])] = _example(resolver, walk, schema)
    return query, body_schema


def _body_and_responses(
    resolver: _Resolver, out: Lines, op: dict[str, Any], body_schema: Any,
) -> tuple[str, Any]:
    """Write the request body and responses; returns the content type and body schema."""
    content_type = "application/json"
    body = _dict(resolver.deref(op.get("requestBody", {}))[0])
    content = _dict(body.get("content"))
    if content:
        content_type = next(iter(content))
        body_schema = _dict(content[content_type]).get("schema", {})
    if body_schema is not None:
        out.add(f"Request body ({_short(content_type)}):")
        _schema_lines(resolver, out, body_schema, 1, ())
    responses = _dict(op.get("responses"))
    if responses:
        out.add("Responses:")
    for code, raw in responses.items():
        if out.full:
            break
        resp = _dict(resolver.deref(raw)[0])
        out.add(f"- {_short(code)}: {bounded_text(resp.get('description', ''), out.room).strip()}")
        media = _dict(resp.get("content"))
        if media:
            schema = _dict(next(iter(media.values()))).get("schema", {})
            _schema_lines(resolver, out, schema, 2, ())
        elif isinstance(resp.get("schema"), dict):
            _schema_lines(resolver, out, resp["schema"], 2, ())
    return content_type, body_schema


def _query_value(value: Any) -> str:
    return bounded_text(value, _LABEL) if isinstance(value, str | list | dict) else str(value)


def _operation(
    resolver: _Resolver, budget: Budget, path: str, method: str, op: dict[str, Any],
    shared: list[Any], server: str, source: str,
) -> Document:
    out, walk = budget.document(), Lines(min(budget.document_chars, _EXAMPLE_CHARS))
    upper = method.upper()
    ref = f"{upper} {_short(path)}"
    summary = bounded_text(op.get("summary", ""), _LABEL * 2).strip()
    out.add(ref)
    if summary:
        out.add(summary)
    if op.get("operationId"):
        out.add(f"operationId: {_short(op['operationId'])}")
    if op.get("tags"):
        tags = op["tags"] if isinstance(op["tags"], list) else [op["tags"]]
        out.add("tags: " + ", ".join(_short(t) for t in tags[:50]))
    if op.get("description"):
        out.add(bounded_text(op["description"], out.room).strip())
    head = out.size  # what is searched: the schema below is shown, not indexed
    query, body_schema = _parameter_lines(resolver, out, walk, _parameters(resolver, op, shared))
    content_type, body_schema = _body_and_responses(resolver, out, op, body_schema)
    url = server.rstrip("/") + _short(path)
    if query:
        url += "?" + "&".join(f"{k}={_query_value(v)}" for k, v in query.items())
    example = f"curl -X {upper} '{url}'"
    if body_schema is not None:
        payload = bounded_text(_example(resolver, walk, body_schema), budget.document_chars)
        example += f" -H 'Content-Type: {_short(content_type)}' -d '{payload}'"
    raw_tags = op.get("tags")
    tag_list: list[Any] = raw_tags if isinstance(raw_tags, list) else [raw_tags or ""]
    words = identifier_words(method, _short(path), _short(op.get("operationId", "")),
                             *(_short(t) for t in tag_list[:10]))
    metadata = {
        "source": source, "kind": "rest", "ref": ref, "title": summary or ref, "words": words,
        "method": upper, "path": _short(path), "operation_id": _short(op.get("operationId", "")),
        "example": example, "index_chars": head,
    }
    text = budget.finish(out, extra=len(example) + len(summary) + 2 * len(ref))
    return Document(page_content=text, metadata=metadata)


def _server(data: dict[str, Any]) -> str:
    servers = _list(data.get("servers"))
    if servers and isinstance(servers[0], dict):
        server = _short(servers[0].get("url", ""))
    else:
        host = f"https://{_short(data['host'])}" if data.get("host") else ""
        server = host + _short(data.get("basePath", ""))
    return server or "http://localhost"


def openapi_documents(
    data: dict[str, Any], source: str, budget: Budget | None = None,
) -> list[Document]:
    """One document per operation of a parsed OpenAPI/Swagger description.

    Args:
        data: the parsed description (see :func:`is_openapi`).
        source: the file, for the documents' metadata.
        budget: the characters the documents may take; the defaults of ``rag`` when ``None``.

    Raises:
        LoaderError: a ``$ref`` loop, a ``$ref`` to nothing, no operations at all, or
            documents over the file's budget.
    """
    budget = budget or Budget()
    resolver = _Resolver(data)
    server = _server(data)
    docs: list[Document] = []
    for path, item in data["paths"].items():
        item, _ = resolver.deref(item)
        if not isinstance(item, dict):
            continue
        shared = _list(item.get("parameters"))
        for method in _METHODS:
            op = item.get(method)
            if isinstance(op, dict):
                docs.append(_operation(resolver, budget, str(path), method, op, shared, server,
                                       source))
    if not docs:
        raise LoaderError("an OpenAPI description with no operations under 'paths'")
    return docs
