// aistack console: chat, documents, operations and access over the gateway's public API.
// Keys live in sessionStorage and travel only in the Authorization header. Everything the model or a
// document says is inserted with textContent, never as HTML.
"use strict";

const $ = (selector) => document.querySelector(selector);
const el = (tag, props = {}, ...children) => {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
};
const store = {
  get key() { return sessionStorage.getItem("aistack.key") || ""; },
  set key(value) { value ? sessionStorage.setItem("aistack.key", value) : sessionStorage.removeItem("aistack.key"); },
  get admin() { return sessionStorage.getItem("aistack.admin") || ""; },
  set admin(value) { value ? sessionStorage.setItem("aistack.admin", value) : sessionStorage.removeItem("aistack.admin"); },
};

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function api(path, { method = "GET", body, admin = false, signal, raw = false } = {}) {
  const headers = {};
  const key = admin ? store.admin : store.key;
  if (key) headers.Authorization = `Bearer ${key}`;
  if (admin) headers["X-Aistack-Actor"] = "console";  // the audit log says where a change came from
  if (body !== undefined && !(body instanceof FormData)) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method, headers, signal,
    body: body === undefined || body instanceof FormData ? body : JSON.stringify(body),
  });
  if (!response.ok) throw new ApiError(response.status, await errorMessage(response));
  return raw ? response : response.json();
}

async function errorMessage(response) {
  try {
    const data = await response.json();
    return data.error?.message || response.statusText;
  } catch { return `${response.status} ${response.statusText}`; }
}

// ---- views and sign-in ----------------------------------------------------------------------

function show(view) {
  document.querySelectorAll(".view").forEach((section) => { section.hidden = section.id !== `view-${view}`; });
  document.querySelectorAll("nav button").forEach((button) => {
    if (button.dataset.view === view) button.setAttribute("aria-current", "page");
    else button.removeAttribute("aria-current");
  });
  $("#login").hidden = true;
  if (view === "documents") loadCollections();
  if (view === "operations") startOperations(); else stopOperations();
  if (view === "access") loadAccess();
}

function needLogin(message = "") {
  document.querySelectorAll(".view").forEach((section) => { section.hidden = true; });
  $("#login").hidden = false;
  $("#login-error").textContent = message;
  $("#login-key").focus();
}

async function start() {
  try {
    await loadModels();
  } catch (error) {
    if (error.status === 401) return needLogin(store.key ? "That key was not accepted." : "");
    $("#chat-error").textContent = `The gateway did not answer: ${error.message}`;
  }
  $("#logout").hidden = !store.key;
  show("chat");
  loadCollectionPicker();
  renderConversations();
  $("#prompt").focus();
}

$("#login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  store.key = $("#login-key").value.trim();
  $("#login-key").value = "";
  try {
    await api("/v1/models");
  } catch (error) {
    const reason = error.status === 401 ? "That key was not accepted. Check it and try again." : error.message;
    store.key = "";
    return needLogin(reason);
  }
  start();
});
$("#logout").addEventListener("click", () => { store.key = ""; store.admin = ""; location.reload(); });
document.querySelectorAll("nav button").forEach((button) => button.addEventListener("click", () => show(button.dataset.view)));

// ---- chat -----------------------------------------------------------------------------------

let conversations = JSON.parse(localStorage.getItem("aistack.conversations") || "[]");
let current = null;
let generation = null;

const save = () => localStorage.setItem("aistack.conversations", JSON.stringify(conversations));

async function loadModels() {
  const models = await api("/v1/models");
  const picker = $("#model");
  picker.replaceChildren(...models.data.map((m) => el("option", { value: m.id, textContent: m.id })));
}

async function loadCollectionPicker() {
  try {
    const collections = await api("/v1/collections");
    $("#collection").replaceChildren(...collections.data.map((c) => el("option", { value: c.name, textContent: c.name })));
  } catch { /* RAG may be unavailable: chat still works */ }
}
$("#rag").addEventListener("change", () => { $("#collection").disabled = !$("#rag").checked; });

function renderConversations() {
  const list = $("#conversations");
  list.replaceChildren(...conversations.map((conversation) => {
    const open = el("button", { type: "button", textContent: conversation.title || "New chat" });
    open.addEventListener("click", () => openConversation(conversation.id));
    const remove = el("button", { type: "button", className: "quiet", textContent: "✕",
                                  ariaLabel: `Delete ${conversation.title || "chat"}` });
    remove.addEventListener("click", () => deleteConversation(conversation.id));
    return el("li", { className: conversation.id === current?.id ? "current" : "" }, open, remove);
  }));
}

function newConversation() {
  current = { id: crypto.randomUUID(), title: "", messages: [] };
  renderMessages();
  renderConversations();
  $("#prompt").focus();
}

function openConversation(id) {
  current = conversations.find((c) => c.id === id) || null;
  renderMessages();
  renderConversations();
}

function deleteConversation(id) {
  conversations = conversations.filter((c) => c.id !== id);
  save();
  if (current?.id === id) newConversation(); else renderConversations();
}

function messageItem(message) {
  const item = el("li", { className: message.role },
    el("span", { className: "who", textContent: message.role === "user" ? "You" : (message.model || "assistant") }),
    el("span", { className: "text", textContent: message.content }));
  if (message.sources?.length) item.append(chips(message.sources));
  if (message.note) item.append(el("span", { className: "hint", textContent: ` ${message.note}` }));
  return item;
}

function chips(sources) {
  return el("div", { className: "chips" }, ...sources.map((source) => {
    const label = source.page ? `${source.filename}, p. ${source.page}` : source.filename;
    const chip = el("button", { type: "button", textContent: label, title: "Show the cited passage" });
    chip.addEventListener("click", () => openCitation(source));
    return chip;
  }));
}

function openCitation(source) {
  $("#citation-title").textContent = source.filename || source.source || "source";
  const where = [source.page ? `page ${source.page}` : "", [].concat(source.headings || []).join(" › "),
                 `chunk ${source.chunk_index}`, `score ${source.score}`].filter(Boolean);
  $("#citation-where").textContent = where.join(" · ");
  $("#citation-text").textContent = source.text || "";
  $("#citation").showModal();
}

function renderMessages() {
  $("#messages").replaceChildren(...(current?.messages || []).map(messageItem));
}

async function send(text) {
  if (!current) newConversation();
  const model = $("#model").value;
  current.messages.push({ role: "user", content: text });
  if (!current.title) current.title = text.slice(0, 60);
  if (!conversations.includes(current)) conversations.unshift(current);
  const reply = { role: "assistant", content: "", model };
  current.messages.push(reply);
  renderMessages();
  renderConversations();
  const item = $("#messages").lastElementChild;
  const body = {
    model, stream: true,
    messages: current.messages.slice(0, -1).map(({ role, content }) => ({ role, content })),
  };
  if ($("#rag").checked) body.rag = { collection: $("#collection").value };
  generation = new AbortController();
  busy(true);
  try {
    const response = await api("/v1/chat/completions", { method: "POST", body, signal: generation.signal, raw: true });
    for await (const chunk of events(response)) {
      if (chunk.sources) { reply.sources = chunk.sources; item.append(chips(chunk.sources)); }
      if (chunk.error) throw new ApiError(500, chunk.error.message);
      const delta = chunk.choices?.[0]?.delta?.content;
      if (delta) { reply.content += delta; item.querySelector(".text").textContent = reply.content; }
    }
  } catch (error) {
    if (error.name === "AbortError") reply.note = "(stopped)";
    else if (error.status === 401) { needLogin("Your key is no longer accepted."); }
    else { reply.note = `(failed: ${error.message})`; $("#chat-error").textContent = error.message; }
    renderMessages();
  } finally {
    generation = null;
    busy(false);
    save();
    item.scrollIntoView({ block: "end" });
  }
}

async function* events(response) {
  // Server-sent events: "data: {...}" lines, blank-line separated, ending with "data: [DONE]".
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      for (const line of block.split("\n")) {
        if (!line.startsWith("data:")) continue;
        const data = line.slice(5).trim();
        if (data === "[DONE]") return;
        yield JSON.parse(data);
      }
    }
  }
}

function busy(running) {
  $("#send").hidden = running;
  $("#stop").hidden = !running;
  $("#prompt").disabled = running;
  if (!running) $("#prompt").focus();
}

$("#ask").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = $("#prompt").value.trim();
  if (!text || generation) return;
  $("#prompt").value = "";
  $("#chat-error").textContent = "";
  send(text);
});
$("#prompt").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); $("#ask").requestSubmit(); }
});
$("#stop").addEventListener("click", () => generation?.abort());
$("#new-chat").addEventListener("click", newConversation);

// ---- documents ------------------------------------------------------------------------------

let selected = null;

async function loadCollections() {
  $("#documents-error").textContent = "";
  try {
    const collections = await api("/v1/collections");
    const rows = await Promise.all(collections.data.map(async (c) => {
      const documents = await api(`/v1/collections/${encodeURIComponent(c.name)}/documents`);
      return { ...c, documents: documents.data.length };
    }));
    $("#collections tbody").replaceChildren(...rows.map((c) => {
      const row = el("tr", { className: c.name === selected ? "selected" : "" },
        el("td", {}, Object.assign(el("button", { type: "button", className: "quiet", textContent: c.name }),
                                   { onclick: () => selectCollection(c.name) })),
        el("td", { textContent: c.documents }), el("td", { textContent: c.count ?? c.points ?? "" }));
      return row;
    }));
    const keep = rows.find((c) => c.name === selected) || rows[0];
    if (keep) await selectCollection(keep.name);
    $("#collection").replaceChildren(...rows.map((c) => el("option", { value: c.name, textContent: c.name })));
  } catch (error) { $("#documents-error").textContent = error.message; }
}

async function selectCollection(name) {
  selected = name;
  $("#documents-title").textContent = `Documents in ${name}`;
  document.querySelectorAll("#collections tr").forEach((row) => {
    row.classList.toggle("selected", row.querySelector("button")?.textContent === name);
  });
  const documents = await api(`/v1/collections/${encodeURIComponent(name)}/documents`);
  $("#documents tbody").replaceChildren(...documents.data.map((d) => {
    const remove = el("button", { type: "button", textContent: "Delete", ariaLabel: `Delete ${d.filename}` });
    remove.addEventListener("click", async () => {
      if (!(await confirmAction(`Delete ${d.filename} from ${name}?`))) return;
      await api(`/v1/collections/${encodeURIComponent(name)}/documents?source=${encodeURIComponent(d.source)}`,
                { method: "DELETE" });
      loadCollections();
    });
    return el("tr", {}, el("td", { textContent: d.filename }), el("td", { textContent: d.chunks }),
              el("td", { textContent: (d.ingested_at || "").replace("T", " ").slice(0, 19) }), el("td", {}, remove));
  }));
}

$("#new-collection").addEventListener("submit", async (event) => {
  event.preventDefault();
  const name = $("#new-collection-name").value.trim();
  try {
    await api("/v1/collections", { method: "POST", body: { name } });
    $("#new-collection-name").value = "";
    selected = name;
    loadCollections();
  } catch (error) { $("#documents-error").textContent = error.message; }
});

function upload(files) {
  if (!selected) { $("#documents-error").textContent = "Create or pick a collection first."; return; }
  const form = new FormData();
  for (const file of files) form.append("files", file, file.name);
  const request = new XMLHttpRequest();  // fetch cannot report upload progress
  const progress = $("#upload-progress");
  progress.hidden = false;
  progress.value = 0;
  request.upload.onprogress = (event) => { if (event.lengthComputable) progress.value = 100 * event.loaded / event.total; };
  request.onload = () => {
    progress.hidden = true;
    let data = {};
    try { data = JSON.parse(request.responseText); } catch { /* shown below */ }
    if (request.status !== 200) {
      $("#documents-error").textContent = data.error?.message || `upload failed (${request.status})`;
      return;
    }
    $("#upload-results").replaceChildren(...data.results.map((r) => el("li", { className: r.status },
      `${r.filename}: ${r.status}${r.status === "failed" ? ` (${r.reason})` : `, ${r.chunks} chunks`}`)));
    loadCollections();
  };
  request.onerror = () => { progress.hidden = true; $("#documents-error").textContent = "upload failed: no answer"; };
  request.open("POST", `/v1/collections/${encodeURIComponent(selected)}/documents`);
  if (store.key) request.setRequestHeader("Authorization", `Bearer ${store.key}`);
  request.send(form);
}

const drop = $("#drop");
drop.addEventListener("click", () => $("#files").click());
drop.addEventListener("keydown", (event) => { if (event.key === "Enter" || event.key === " ") { event.preventDefault(); $("#files").click(); } });
$("#files").addEventListener("change", () => { upload($("#files").files); $("#files").value = ""; });
drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (event) => { event.preventDefault(); drop.classList.remove("over"); upload(event.dataTransfer.files); });

// ---- operations -----------------------------------------------------------------------------

let ticker = null;
let previous = null;

function confirmAction(text) {
  $("#confirm-text").textContent = text;
  const dialog = $("#confirm");
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true }));
}

$("#admin-form").addEventListener("submit", (event) => {
  event.preventDefault();
  store.admin = $("#admin-key").value.trim();
  $("#admin-key").value = "";
  startOperations();
});

function startOperations() {
  stopOperations();
  refreshOperations();
  ticker = setInterval(refreshOperations, 5000);
}

function stopOperations() { if (ticker) clearInterval(ticker); ticker = null; }

async function refreshOperations() {
  $("#ops-error").textContent = "";
  try { renderFigures(parseMetrics(await (await api("/metrics", { raw: true })).text())); }
  catch (error) { $("#ops-error").textContent = `metrics: ${error.message}`; }
  if (!store.admin) return;
  try {
    const slots = await api("/v1/admin/slots", { admin: true });
    $("#admin-form").hidden = true;
    $("#rollback").hidden = false;
    $("#slots tbody").replaceChildren(...slots.data.map((slot) => {
      const deploy = el("button", { type: "button", textContent: "Switch to", ariaLabel: `Switch to ${slot.name}` });
      deploy.addEventListener("click", () => adminAction(`Switch all traffic to ${slot.name}?`,
        `/v1/admin/slots/${encodeURIComponent(slot.name)}/deploy`, {}));
      return el("tr", {}, el("td", { textContent: slot.name }), el("td", { textContent: slot.state }),
        el("td", { textContent: slot.weight }), el("td", { textContent: slot.version || "" }),
        el("td", { textContent: slot.model || "" }), el("td", {}, slot.state === "active" && slot.weight > 0 ? "" : deploy));
    }));
  } catch (error) {
    if (error.status === 401 || error.status === 403) { store.admin = ""; $("#admin-form").hidden = false; }
    $("#ops-error").textContent = error.message;
  }
}

async function adminAction(question, path, body) {
  if (!(await confirmAction(question))) return;
  try {
    const result = await api(path, { method: "POST", body, admin: true });
    $("#ops-error").textContent = result.ok === false ? `${result.action} failed: ${result.error}` : "";
  } catch (error) { $("#ops-error").textContent = error.message; }
  refreshOperations();
}
$("#rollback").addEventListener("click", () => adminAction("Roll back to the previous slot?", "/v1/admin/rollback", undefined));

// ---- access: teams, keys (a new key is shown once), usage (the admin key) -------------------

const SCOPES = ["chat", "embeddings", "rag:read", "rag:write", "agents:run", "agents:approve", "snapshots", "deploy", "admin"];
const USER_SCOPES = ["chat", "embeddings", "rag:read", "rag:write", "agents:run", "snapshots"];
$("#new-key-scopes").append(...SCOPES.map((scope) => el("label", { className: "toggle" },
  el("input", { type: "checkbox", value: scope, checked: USER_SCOPES.includes(scope) }), ` ${scope}`)));

$("#access-form").addEventListener("submit", (event) => {
  event.preventDefault();
  store.admin = $("#access-key").value.trim();
  $("#access-key").value = "";
  loadAccess();
});

async function loadAccess() {
  $("#access-error").textContent = "";
  if (!store.admin) { $("#access-body").hidden = true; $("#access-form").hidden = false; return; }
  try {
    const [teams, keys, usage] = await Promise.all([api("/v1/admin/teams", { admin: true }),
      api("/v1/admin/keys", { admin: true }), api("/v1/usage?since=7d&by=team", { admin: true })]);
    $("#access-form").hidden = true;
    $("#access-body").hidden = false;
    const dash = (value) => (value === null || value === undefined ? "–" : String(value));
    $("#teams tbody").replaceChildren(...teams.data.map((t) => el("tr", {}, el("td", { textContent: t.name }),
      el("td", { textContent: (t.models || []).join(", ") || "any" }), el("td", { textContent: dash(t.requests_per_minute) }),
      el("td", { textContent: dash(t.tokens_per_minute) }),
      el("td", { textContent: t.token_budget ? `${t.token_budget} / ${t.budget_period}` : "–" }))));
    $("#new-key-team").replaceChildren(...teams.data.map((t) => el("option", { value: t.name, textContent: t.name })));
    $("#keys tbody").replaceChildren(...keys.data.map((k) => {
      const revoke = el("button", { type: "button", textContent: "Revoke", ariaLabel: `Revoke ${k.key}` });
      revoke.addEventListener("click", async () => {
        if (!(await confirmAction(`Revoke ${k.key}? Every gateway refuses it within a second.`))) return;
        try { await api(`/v1/admin/keys/${encodeURIComponent(k.id)}/revoke`, { method: "POST", admin: true }); }
        catch (error) { $("#access-error").textContent = error.message; }
        loadAccess();
      });
      return el("tr", {}, el("td", { textContent: k.key }), el("td", { textContent: k.name || "" }),
        el("td", { textContent: k.team }), el("td", { textContent: k.scopes.join(", ") }),
        el("td", { textContent: k.revoked_at ? "revoked" : "active" }), el("td", {}, k.revoked_at ? "" : revoke));
    }));
    $("#usage tbody").replaceChildren(...usage.data.map((u) => el("tr", {}, el("td", { textContent: u.team }),
      el("td", { textContent: u.requests }), el("td", { textContent: u.errors }), el("td", { textContent: u.total_tokens }),
      el("td", { textContent: `${u.mean_latency_ms} ms` }))));
  } catch (error) {
    if (error.status === 401 || error.status === 403) { store.admin = ""; $("#access-form").hidden = false; $("#access-body").hidden = true; }
    $("#access-error").textContent = error.message;
  }
}

$("#new-team").addEventListener("submit", async (event) => {
  event.preventDefault();
  try { await api("/v1/admin/teams", { method: "POST", admin: true, body: { name: $("#new-team-name").value.trim() } }); }
  catch (error) { $("#access-error").textContent = error.message; return; }
  $("#new-team-name").value = "";
  loadAccess();
});

$("#new-key").addEventListener("submit", async (event) => {
  event.preventDefault();
  const scopes = [...document.querySelectorAll("#new-key-scopes input:checked")].map((box) => box.value);
  try {
    const made = await api("/v1/admin/keys", { method: "POST", admin: true,
      body: { team: $("#new-key-team").value, name: $("#new-key-name").value.trim() || null, scopes } });
    const secret = $("#new-key-secret");
    secret.replaceChildren("Copy it now: it is stored only as a hash and never shown again. ",
      el("code", { textContent: made.secret }));
    secret.hidden = false;
  } catch (error) { $("#access-error").textContent = error.message; return; }
  $("#new-key-name").value = "";
  loadAccess();
});

function parseMetrics(text) {
  // Prometheus text format: name{labels} value. Sums over labels are enough for these figures.
  const sums = {};
  const buckets = {};
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const match = line.match(/^([a-zA-Z_:]+)(\{[^}]*\})?\s+(\S+)/);
    if (!match) continue;
    const [, name, labels = "", value] = match;
    sums[name] = (sums[name] || 0) + Number(value);
    if (name === "llm_inference_duration_seconds_bucket") {
      const le = labels.match(/le="([^"]+)"/)[1];
      buckets[le] = (buckets[le] || 0) + Number(value);
    }
  }
  return { at: Date.now(), sums, buckets };
}

function p95(buckets) {
  const bounds = Object.keys(buckets).map((le) => [le === "+Inf" ? Infinity : Number(le), buckets[le]]).sort((a, b) => a[0] - b[0]);
  const total = bounds.at(-1)?.[1] || 0;
  if (!total) return null;
  return bounds.find(([, count]) => count >= 0.95 * total)[0];
}

function renderFigures(now) {
  const s = now.sums;
  const seconds = previous ? (now.at - previous.at) / 1000 : 0;
  const rate = (name) => (previous && seconds > 0 ? ((s[name] || 0) - (previous.sums[name] || 0)) / seconds : null);
  const delta = previous ? Object.fromEntries(Object.entries(now.buckets).map(([le, v]) => [le, v - (previous.buckets[le] || 0)])) : now.buckets;
  const latency = p95(delta) ?? p95(now.buckets);
  const figures = [
    ["tokens/s", rate("llm_tokens_generated_total")?.toFixed(1) ?? "…"],
    ["p95 latency", latency === null ? "–" : latency === Infinity ? "> top bucket" : `≤ ${latency} s`],
    ["queue", s.llm_queue_depth ?? 0],
    ["active", s.llm_active_requests ?? 0],
    ["errors", s.llm_inference_errors_total ?? 0],
    ["requests", s.llm_requests_total ?? 0],
  ];
  $("#figures").replaceChildren(...figures.map(([name, value]) => el("div", {}, el("dt", { textContent: name }), el("dd", { textContent: value }))));
  previous = now;
}

start();
