"use strict";
// Renders /openapi.json as plain HTML: no CDN, no framework, text nodes only.
function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

function resolve(spec, schema) {
  const ref = schema && schema["$ref"];
  if (!ref) return schema || {};
  return ref.split("/").slice(1).reduce((node, key) => (node || {})[key], spec) || {};
}

function typeOf(spec, schema) {
  const s = resolve(spec, schema);
  if (s.anyOf) return s.anyOf.map((x) => typeOf(spec, x)).join(" | ");
  if (s.type === "array") return typeOf(spec, s.items) + "[]";
  return s.type || s.title || "object";
}

function fields(spec, schema) {
  const s = resolve(spec, schema);
  const required = new Set(s.required || []);
  const table = el("table");
  const head = el("tr");
  for (const h of ["field", "type", "required", "description"]) head.appendChild(el("th", h));
  table.appendChild(head);
  for (const [name, prop] of Object.entries(s.properties || {})) {
    const tr = el("tr");
    tr.appendChild(el("td", name));
    tr.appendChild(el("td", typeOf(spec, prop)));
    tr.appendChild(el("td", required.has(name) ? "yes" : ""));
    tr.appendChild(el("td", resolve(spec, prop).description || ""));
    table.appendChild(tr);
  }
  return table;
}

async function main() {
  const ops = document.getElementById("ops");
  const spec = await (await fetch("/openapi.json")).json();
  ops.replaceChildren();
  for (const [path, methods] of Object.entries(spec.paths || {})) {
    for (const [method, op] of Object.entries(methods)) {
      const div = el("div", undefined, "op");
      const title = el("h3");
      title.appendChild(el("span", method.toUpperCase(), "method"));
      title.appendChild(el("code", path));
      div.appendChild(title);
      if (op.summary) div.appendChild(el("p", op.summary));
      const body = op.requestBody && op.requestBody.content &&
        op.requestBody.content["application/json"];
      if (body) div.appendChild(fields(spec, body.schema));
      ops.appendChild(div);
    }
  }
}

main().catch((err) => {
  document.getElementById("ops").textContent = "could not load /openapi.json: " + err.message;
});
