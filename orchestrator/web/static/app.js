// shotfarm web page: the sequence list, and one sequence's shots, chunks, cuts and cost, live.
// Plain browser JavaScript, no build step. Everything shown is fetched from the REST API with the
// token typed in (kept in this browser's localStorage); live updates are the API's server-sent
// events, read with fetch() so the token travels in the Authorization header, never in a URL.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { token: localStorage.getItem("shotfarm.token") || "", stream: null, refresh: null, images: new Map() };

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k === "style") node.style.cssText = v;  // CSSOM: allowed by the page's CSP
    else if (k.startsWith("data-")) node.setAttribute(k, v);
    else node[k] = v;
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

function say(text) {
  $("message").textContent = text;
  $("message").hidden = !text;
}

async function api(path, options = {}) {
  const headers = { Authorization: `Bearer ${state.token}`, ...(options.headers || {}) };
  const response = await fetch(path, { ...options, headers });
  if (!response.ok) {
    let text = `${response.status} ${response.statusText}`;
    try { text = (await response.json()).error || text; } catch (_) { /* not JSON */ }
    const error = new Error(text);
    error.status = response.status;
    throw error;
  }
  return response;
}

// A tiny CPU render costs fractions of a cent: show its first significant digits, not $0.0000.
const money = (usd) => {
  if (usd === 0) return "$0";
  const decimals = usd >= 1 ? 2 : Math.min(12, Math.max(4, 1 - Math.floor(Math.log10(usd))));
  return `$${usd.toFixed(decimals)}`;
};
const seconds = (s) => (s === null || s === undefined ? "--" : s < 10 ? `${s.toFixed(1)} s` : s < 90 ? `${Math.round(s)} s` : `${Math.round(s / 60)} min`);
const seqUrl = (sid) => `/v1/sequences/${encodeURIComponent(sid).replace("%3A", ":")}`;

// Pictures need the token too: fetched as blobs, shown through object URLs, cached per URL+version.
function thumbnail(url, version, alt) {
  const img = el("img", { class: "thumb", alt, "data-loaded": "false" });
  if (!url) return img;
  const key = `${url}#${version}`;
  const known = state.images.get(key);
  const show = (src) => { img.src = src; img.setAttribute("data-loaded", "true"); };
  if (known) show(known);
  else api(`${url}?width=320`).then((r) => r.blob()).then((b) => {
    const src = URL.createObjectURL(b);
    state.images.set(key, src);
    show(src);
  }).catch(() => img.setAttribute("data-loaded", "error"));
  return img;
}

// -- server-sent events over fetch ------------------------------------------------------

async function follow(path, onEvent) {
  stopFollowing();
  const controller = new AbortController();
  state.stream = controller;
  $("live").textContent = "live";
  $("live").classList.add("on");
  try {
    const response = await api(path, { signal: controller.signal, headers: { Accept: "text/event-stream" } });
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let type = "message", data = "";
        for (const line of block.split("\n")) {
          if (line.startsWith("event: ")) type = line.slice(7);
          else if (line.startsWith("data: ")) data += line.slice(6);
        }
        if (data) onEvent(type, JSON.parse(data));
      }
    }
  } catch (error) {
    if (error.name !== "AbortError") say(`live updates stopped: ${error.message}`);
  } finally {
    if (state.stream === controller) {
      state.stream = null;
      $("live").textContent = "offline";
      $("live").classList.remove("on");
    }
  }
}

function stopFollowing() {
  if (state.stream) state.stream.abort();
  state.stream = null;
}

function soon(fn) {
  clearTimeout(state.refresh);
  state.refresh = setTimeout(fn, 250);
}

// -- the list ---------------------------------------------------------------------------

async function showList() {
  $("sequence-view").hidden = true;
  $("list-view").hidden = false;
  const load = async () => {
    const rows = await (await api("/v1/sequences")).json();
    $("sequence-rows").replaceChildren(...rows.map((s) => el("tr", { "data-testid": "sequence-row" },
      el("td", {}, el("a", { href: `#/s/${s.sequence_id}` }, s.sequence_id)),
      el("td", {}, el("span", { class: `badge ${s.status}` }, s.status)),
      el("td", {}, `${s.frames_rendered}/${s.frames_total}`),
      el("td", {}, `${s.chunks_rendered}/${s.chunks_total}`),
      el("td", {}, money(s.cost_usd)))));
    $("empty").hidden = rows.length > 0;
  };
  await load();
  follow("/v1/events", () => soon(load));
}

// -- one sequence -----------------------------------------------------------------------

function renderDetail(d) {
  $("seq-title").textContent = d.sequence_id;
  $("seq-status").textContent = d.status;
  $("seq-status").className = `badge ${d.status}`;
  $("seq-frames").textContent = `${d.frames_rendered}/${d.frames_total}`;
  $("seq-chunks").textContent = `${d.chunks_rendered}/${d.chunks_total}` + (d.chunks_running ? ` (${d.chunks_running} running)` : "");
  $("seq-cost").textContent = money(d.cost_usd);
  $("seq-node").textContent = seconds(d.node_seconds);
  $("seq-eta").textContent = seconds(d.eta_seconds);
  $("seq-reason").textContent = d.reason || "";
  $("seq-reason").hidden = !d.reason;
  $("cancel").hidden = ["completed", "failed", "cancelled"].includes(d.status);
}

function renderShots(shots) {
  $("shots").replaceChildren(...shots.map((s) => {
    const done = s.chunks_total && s.chunks_rendered === s.chunks_total;
    const share = s.chunks_total ? (100 * s.chunks_rendered) / s.chunks_total : 0;
    return el("article", { class: "shot", "data-testid": "shot-card", "data-shot": s.name, "data-status": s.status },
      thumbnail(s.thumbnail, s.version, `${s.name} middle frame`),
      el("div", { class: "name" }, s.name, el("span", { class: `badge ${s.status}` }, s.status)),
      el("div", { class: `bar${done ? " done" : ""}` }, el("span", { style: `width:${share}%` })),
      el("div", { class: "meta chunks", "data-testid": "chunks" }, `${s.chunks_rendered}/${s.chunks_total} chunks`),
      el("div", { class: "meta" }, `frames ${s.frames.first}-${s.frames.last} · v${s.version} · ${money(s.cost_usd)}`),
      s.notes.length ? el("ul", { class: "notes" }, ...s.notes.map((n) => el("li", {}, n))) : null);
  }));
}

function renderCuts(cuts, versions) {
  $("cuts").replaceChildren(...cuts.map((c) => el("article", { class: "cut", "data-testid": "cut", "data-cut": c.name, "data-status": c.status },
    el("div", { class: "pair" },
      el("figure", {}, thumbnail(c.left_thumbnail, versions[c.left], `${c.left} frame ${c.left_frame}`), el("figcaption", {}, `${c.left} ${c.left_frame}`)),
      el("figure", {}, thumbnail(c.right_thumbnail, versions[c.right], `${c.right} frame ${c.right_frame}`), el("figcaption", {}, `${c.right} ${c.right_frame}`))),
    el("div", {},
      el("h3", {}, `${c.left} › ${c.right}`, el("span", { class: `badge ${c.status}`, "data-testid": "verdict" }, c.status)),
      el("p", { class: "explanation", "data-testid": "explanation" }, c.explanation),
      c.fixes.length ? el("p", { class: "fixes" }, `fixes: ${c.fixes.join(", ")}`) : null))));
}

async function showSequence(sid) {
  $("list-view").hidden = true;
  $("sequence-view").hidden = false;
  const base = seqUrl(sid);
  const load = async () => {
    const [detail, shots, cuts] = await Promise.all(["", "/shots", "/cuts"].map((p) => api(base + p).then((r) => r.json())));
    const versions = Object.fromEntries(shots.map((s) => [s.name, s.version]));
    renderDetail(detail);
    renderShots(shots);
    renderCuts(cuts, versions);
    return detail;
  };
  $("cancel").onclick = async () => {
    try { await api(`${base}/cancel`, { method: "POST" }); soon(load); } catch (e) { say(e.message); }
  };
  const detail = await load();
  if (!["completed", "failed", "cancelled"].includes(detail.status)) {
    follow(`${base}/events`, (type, data) => {
      if (type === "progress") renderDetail(data);
      soon(load);
    }).then(() => soon(load));
  }
}

async function route() {
  say("");
  stopFollowing();
  if (!state.token) {
    $("list-view").hidden = $("sequence-view").hidden = true;
    say("Type an API token to see your sequences.");
    return;
  }
  const match = location.hash.match(/^#\/s\/(.+)$/);
  try {
    if (match) await showSequence(decodeURIComponent(match[1]));
    else await showList();
  } catch (error) {
    say(error.status === 401 ? "That token was not accepted." : error.message);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("token").value = state.token;
  $("auth").addEventListener("submit", (event) => {
    event.preventDefault();
    state.token = $("token").value.trim();
    localStorage.setItem("shotfarm.token", state.token);
    route();
  });
  $("forget").addEventListener("click", () => {
    state.token = "";
    $("token").value = "";
    localStorage.removeItem("shotfarm.token");
    route();
  });
  window.addEventListener("hashchange", route);
  route();
});
