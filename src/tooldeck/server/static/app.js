"use strict";
// The web page of `tooldeck serve`. It talks to its own origin only. When the server has a
// token, the page asks for it once and keeps it in sessionStorage (gone when the tab closes).
const $ = (id) => document.getElementById(id);
const TOKEN_KEY = "tooldeck-token";

function authHeaders() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? {"Authorization": "Bearer " + token} : {};
}

function showError(message) {
  $("status").textContent = "error: " + message;
  $("status").className = "error";
}

async function loadIndexes() {
  const r = await fetch("/healthz", {headers: authHeaders()});
  const data = await r.json();
  $("token-form").hidden = !data.token_required || Array.isArray(data.indexes);
  if (!Array.isArray(data.indexes)) {
    if (data.token_required) showError("this server needs its token: enter it above");
    return;
  }
  $("index").replaceChildren();
  for (const name of data.indexes) {
    const o = document.createElement("option");
    o.value = o.textContent = name;
    if (name === data.default_index) o.selected = true;
    $("index").appendChild(o);
  }
}

$("token-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, $("token").value.trim());
  $("token").value = "";
  $("status").textContent = "";
  $("status").className = "";
  await loadIndexes();
});

$("ask-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  $("status").textContent = "asking...";
  $("status").className = "";
  $("answer").hidden = true;
  $("matches").hidden = true;
  try {
    const r = await fetch("/v1/ask", {
      method: "POST",
      headers: {"Content-Type": "application/json", ...authHeaders()},
      body: JSON.stringify({question: $("question").value, index: $("index").value || null,
                            no_llm: $("no-llm").checked}),
    });
    const data = await r.json();
    if (r.status === 401) $("token-form").hidden = false;
    if (!r.ok) throw new Error(data.message || r.statusText);
    $("answer").textContent = data.answer;
    $("answer").hidden = false;
    const body = $("matches").querySelector("tbody");
    body.replaceChildren();
    data.matches.forEach((m, i) => {
      const tr = document.createElement("tr");
      for (const v of [i + 1, m.kind, m.id, m.source, m.score.toFixed(4)]) {
        const td = document.createElement("td");
        td.textContent = v;   // text only: nothing from the index is parsed as HTML
        tr.appendChild(td);
      }
      body.appendChild(tr);
    });
    $("matches").hidden = data.matches.length === 0;
    $("status").textContent = "sources: " + data.sources.join(", ");
  } catch (err) {
    showError(err.message);
  }
});

loadIndexes().then(() => {
  const q = new URLSearchParams(location.search).get("q");
  if (q) { $("question").value = q; $("ask-form").requestSubmit(); }
});
