"""OpenAPI 3.x / Swagger 2.0 documents to one LangChain ``Document`` per operation.

Each document holds the method and path, summary, description, parameters, the request body
schema and the responses, with local ``$ref``s resolved. A recursive schema (a tree node whose
children are nodes) is shown once and then named; a ``$ref`` chain that only points at itself
(``A -> B -> A`` with nothing in between) cannot mean anything, and the file is rejected.
"""

from __future__ import annotations

import json
from typing import Any

from langchain_core.documents import Document

from tooldeck.errors import LoaderError

__all__ = ["is_openapi", "openapi_documents"]

_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_MAX_DEPTH = 6


def is_openapi(data: Any) -> bool:
    """Whether parsed JSON/YAML looks like an OpenAPI or Swagger description."""
    return isinstance(data, dict) and ("openapi" in data or "swagger" in data) and isinstance(
        data.get("paths"), dict
    )


class _Resolver:
    def __init__(self, root: dict[str, Any]) -> None:
        self.root = root

    def lookup(self, ref: str) -> Any:
        if not ref.startswith("#/"):
            return {"description": f"(external reference {ref})"}
        node: Any = self.root
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, dict) or part not in node:
                raise LoaderError(f"$ref {ref!r} points at nothing")
            node = node[part]
        return node

    def deref(self, node: Any) -> tuple[Any, str | None]:
        """Follow a chain of pure ``$ref``s; returns the target and the last ref name."""
        seen: list[str] = []
        name = None
        while isinstance(node, dict) and isinstance(node.get("$ref"), str):
            ref = node["$ref"]
            if ref in seen:
                raise LoaderError(f"$ref loop: {' -> '.join([*seen, ref])}")
            seen.append(ref)
            name = ref.rsplit("/", 1)[-1]
            node = self.lookup(ref)
        return node, name


def _schema_lines(
    resolver: _Resolver, schema: Any, indent: int, stack: tuple[str, ...], depth: int = 0
) -> list[str]:
    schema, name = resolver.deref(schema)
    pad = "  " * indent
    if not isinstance(schema, dict):
        return []
    if name is not None and name in stack:
        return [f"{pad}(recursive: {name})"]
    if name is not None:
        stack = (*stack, name)
    if depth >= _MAX_DEPTH:
        return [f"{pad}(nested deeper than {_MAX_DEPTH} levels)"]
    lines: list[str] = []
    for combo in ("allOf", "oneOf", "anyOf"):
        for part in schema.get(combo, []) or []:
            lines += _schema_lines(resolver, part, indent, stack, depth + 1)
    required = set(schema.get("required", []) or [])
    props = schema.get("properties") or {}
    if isinstance(props, dict):
        for prop, sub in props.items():
            target, sub_name = resolver.deref(sub)
            target = target if isinstance(target, dict) else {}
            kind = _type_name(target, sub_name)
            req = ", required" if prop in required else ""
            desc = str(target.get("description", "")).strip().replace("\n", " ")
            lines.append(f"{pad}- {prop} ({kind}{req}){': ' + desc if desc else ''}")
            if sub_name is not None and sub_name in stack:
                continue
            nested = target.get("items") if target.get("type") == "array" else target
            if isinstance(nested, dict) and (nested.get("properties") or nested.get("$ref")):
                lines += _schema_lines(resolver, nested, indent + 1,
                                       (*stack, sub_name) if sub_name else stack, depth + 1)
    if schema.get("type") == "array" and not props:
        lines += _schema_lines(resolver, schema.get("items", {}), indent, stack, depth + 1)
    return lines


def _type_name(schema: dict[str, Any], ref_name: str | None) -> str:
    kind = str(schema.get("type", ref_name or "object"))
    if kind == "array":
        items = schema.get("items", {})
        inner = items.get("$ref", "").rsplit("/", 1)[-1] if isinstance(items, dict) else ""
        item_type = items.get("type", "any") if isinstance(items, dict) else "any"
        kind = f"array of {inner or item_type}"
    if "enum" in schema:
        kind += " one of " + ", ".join(map(str, schema["enum"][:10]))
    if "format" in schema:
        kind += f" ({schema['format']})"
    return kind


def _example(resolver: _Resolver, schema: Any, stack: tuple[str, ...] = (), depth: int = 0) -> Any:
    schema, name = resolver.deref(schema)
    if not isinstance(schema, dict) or depth > 4 or (name and name in stack):
        return None
    stack = (*stack, name) if name else stack
    for key in ("example", "default"):
        if key in schema:
            return schema[key]
    if "enum" in schema and schema["enum"]:
        return schema["enum"][0]
    for combo in ("allOf", "oneOf", "anyOf"):
        if schema.get(combo):
            merged: dict[str, Any] = {}
            for part in schema[combo]:
                value = _example(resolver, part, stack, depth + 1)
                if isinstance(value, dict):
                    merged.update(value)
                elif value is not None and not merged:
                    return value
            return merged
    kind = schema.get("type", "object" if "properties" in schema else "string")
    if kind == "object":
        props = schema.get("properties") or {}
        required = schema.get("required") or list(props)
        return {p: _example(resolver, props[p], stack, depth + 1) for p in props if p in required}
    if kind == "array":
        item = _example(resolver, schema.get("items", {}), stack, depth + 1)
        return [] if item is None else [item]
    return {"integer": 0, "number": 0.0, "boolean": True}.get(str(kind), "string")


def _parameters(resolver: _Resolver, op: dict[str, Any], shared: list[Any]) -> list[dict[str, Any]]:
    params: dict[tuple[str, str], dict[str, Any]] = {}
    for raw in [*shared, *(op.get("parameters") or [])]:
        param, _ = resolver.deref(raw)
        if isinstance(param, dict) and "name" in param:
            params[(str(param["name"]), str(param.get("in", "")))] = param
    return list(params.values())


def _operation(
    resolver: _Resolver, path: str, method: str, op: dict[str, Any], shared: list[Any],
    server: str, source: str,
) -> Document:
    upper = method.upper()
    ref = f"{upper} {path}"
    summary = str(op.get("summary", "")).strip()
    lines = [ref]
    if summary:
        lines.append(summary)
    if op.get("operationId"):
        lines.append(f"operationId: {op['operationId']}")
    if op.get("tags"):
        lines.append("tags: " + ", ".join(map(str, op["tags"])))
    if op.get("description"):
        lines.append(str(op["description"]).strip())
    params = _parameters(resolver, op, shared)
    body_schema: Any = None
    if params:
        lines.append("Parameters:")
    query: dict[str, Any] = {}
    for param in params:
        if param.get("in") == "body":  # Swagger 2.0
            body_schema = param.get("schema", {})
            continue
        schema, _ = resolver.deref(param.get("schema", param))
        schema = schema if isinstance(schema, dict) else {}
        req = ", required" if param.get("required") else ""
        desc = str(param.get("description", "")).strip().replace("\n", " ")
        lines.append(f"- {param['name']} (in {param.get('in', '?')}, {_type_name(schema, None)}"
                     f"{req}){': ' + desc if desc else ''}")
        if param.get("in") == "query" and param.get("required"):
            query[str(param["name"])] = _example(resolver, schema)
    content_type = "application/json"
    body, _ = resolver.deref(op.get("requestBody", {}))
    if isinstance(body, dict) and isinstance(body.get("content"), dict) and body["content"]:
        content_type = next(iter(body["content"]))
        body_schema = body["content"][content_type].get("schema", {})
    if body_schema is not None:
        lines.append(f"Request body ({content_type}):")
        lines += _schema_lines(resolver, body_schema, 1, ())
    responses = op.get("responses") or {}
    if isinstance(responses, dict) and responses:
        lines.append("Responses:")
        for code, raw in responses.items():
            resp, _ = resolver.deref(raw)
            resp = resp if isinstance(resp, dict) else {}
            lines.append(f"- {code}: {str(resp.get('description', '')).strip()}")
            content = resp.get("content") or {}
            if isinstance(content, dict) and content:
                lines += _schema_lines(resolver, next(iter(content.values())).get("schema", {}),
                                       2, ())
            elif isinstance(resp.get("schema"), dict):
                lines += _schema_lines(resolver, resp["schema"], 2, ())
    url = server.rstrip("/") + path
    if query:
        url += "?" + "&".join(f"{k}={v}" for k, v in query.items())
    example = f"curl -X {upper} '{url}'"
    if body_schema is not None:
        payload = json.dumps(_example(resolver, body_schema), ensure_ascii=False)
        example += f" -H 'Content-Type: {content_type}' -d '{payload}'"
    metadata = {
        "source": source, "kind": "rest", "ref": ref, "title": summary or ref,
        "method": upper, "path": path, "operation_id": str(op.get("operationId", "")),
        "example": example,
    }
    return Document(page_content="\n".join(lines), metadata=metadata)


def openapi_documents(data: dict[str, Any], source: str) -> list[Document]:
    """One document per operation of a parsed OpenAPI/Swagger description.

    Raises:
        LoaderError: a ``$ref`` loop, a ``$ref`` to nothing, or no operations at all.
    """
    resolver = _Resolver(data)
    servers = data.get("servers") or []
    if servers and isinstance(servers[0], dict):
        server = str(servers[0].get("url", ""))
    else:
        host = f"https://{data['host']}" if data.get("host") else ""
        server = host + str(data.get("basePath", ""))
    server = server or "http://localhost"
    docs: list[Document] = []
    for path, item in data["paths"].items():
        item, _ = resolver.deref(item)
        if not isinstance(item, dict):
            continue
        shared = item.get("parameters") or []
        for method in _METHODS:
            op = item.get(method)
            if isinstance(op, dict):
                docs.append(_operation(resolver, str(path), method, op, shared, server, source))
    if not docs:
        raise LoaderError("an OpenAPI description with no operations under 'paths'")
    return docs
