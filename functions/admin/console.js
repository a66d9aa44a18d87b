// The Koppel admin page (SPEC X6): reads and acts only through the JSON routes, with the function key the page
// was opened with (?code=) sent as x-functions-key. Values are only ever set as text (textContent), never as
// markup, so a record or message holding "<script>" shows as those characters.
"use strict";

(function () {
  const T = JSON.parse(document.getElementById("texts").textContent);
  const KEY = new URLSearchParams(window.location.search).get("code") || "";
  const BASE = window.location.pathname.replace(/\/console\/?$/, "/");
  const LANG = document.documentElement.lang || "en";
  const ACTIVE = new Set(["queued", "running"]);
  let timer = null;

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value !== null && value !== undefined) node.setAttribute(name, String(value));
    }
    for (const child of children) {
      node.append(child instanceof Node ? child : document.createTextNode(child === null || child === undefined ? "" : String(child)));
    }
    return node;
  }

  function notice(message, bad) {
    const box = document.getElementById("notice");
    box.textContent = message;
    box.className = bad ? "bad" : "";
  }

  async function api(method, path, body) {
    const headers = { "x-functions-key": KEY, "Accept-Language": LANG };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const resp = await fetch(BASE + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body),
                                            cache: "no-store", referrerPolicy: "no-referrer" });
    const data = resp.status === 204 ? null : await resp.json().catch(() => null);
    if (!resp.ok) {
      const detail = data && (data.detail || data.title);
      throw new Error(T.failed + " (" + resp.status + ")" + (detail ? ": " + detail : ""));
    }
    return data;
  }

  function table(container, heads, rows, rowAttrs) {
    container.replaceChildren();
    if (rows.length === 0) {
      container.append(el("p", { class: "muted" }, T.none));
      return;
    }
    const head = el("tr", {}, ...heads.map((h) => el("th", { scope: "col" }, h)));
    const body = rows.map((cells, i) => el("tr", rowAttrs ? rowAttrs(i) : {},
      ...cells.map((c) => (c instanceof HTMLTableCellElement ? c : el("td", {}, c)))));
    container.append(el("table", {}, el("thead", {}, head), el("tbody", {}, ...body)));
  }

  const when = (iso) => (iso ? String(iso).replace("T", " ").slice(0, 19) : T.never);
  const yesNo = (v) => (v === true ? el("span", { class: "yes" }, T.yes)
    : v === false ? el("span", { class: "no" }, T.no) : el("span", { class: "muted" }, T.unknown));

  function button(label, action, extra) {
    const b = el("button", { type: "button", "data-action": action, class: extra || null }, label);
    return b;
  }

  async function act(run, b) {
    b.disabled = true;
    try {
      notice(await run(), false);
    } catch (err) {
      notice(err.message, true);
    }
    await load();
  }

  function renderMappings(mappings, jobs) {
    const last = {};
    for (const j of jobs) if (!(j.mapping in last)) last[j.mapping] = j;  // jobs come newest first
    table(document.getElementById("mappings"),
      [T.name, T.direction, T.paused, T.schedule, T["last-run"], T.actions],
      mappings.map((m) => {
        const sched = m.schedule && m.schedule.intervalMin ? T["every-min"].replace("{n}", m.schedule.intervalMin) : "—";
        const j = last[m.name];
        const run = button(T["sync-now"], "sync-now");
        run.addEventListener("click", () => act(async () => {
          await api("POST", "mappings/" + encodeURIComponent(m.name) + "/sync", { mode: "incremental" });
          return T.queued + ": " + m.name;
        }, run));
        const paused = el("span", { class: m.paused ? "paused-yes" : "muted" }, m.paused ? T.yes : T.no);
        return [m.name, m.direction, paused, sched,
          j ? when(j.startedOn) + " · " + j.status : T.never, el("td", { class: "actions" }, run)];
      }),
      (i) => ({ "data-mapping": mappings[i].name }));
  }

  function renderJobs(jobs) {
    table(document.getElementById("jobs"),
      [T.mapping, T.type, T.direction, T.status, T.started, T.counters, T.progress, T.message],
      jobs.map((j) => {
        const counts = Object.entries(j.counters || {}).filter(([, n]) => n).map(([k, n]) => k + " " + n).join(" · ");
        const pct = Math.round((Number(j.progress) || 0) * 100);
        return [j.mapping, j.type, j.direction || "—", el("td", { class: "status-" + j.status }, j.status),
          when(j.startedOn), counts || "—",
          el("td", {}, el("progress", { max: 100, value: pct }), " " + pct + "%"), j.message || ""];
      }),
      (i) => ({ "data-job-id": jobs[i].id }));
  }

  function renderErrors(errors) {
    table(document.getElementById("errors"),
      [T.mapping, T["erp-id"], T["crm-id"], T.category, T.message, T["suggested-action"], T["erp-exists"],
        T["crm-exists"], T.actions],
      errors.map((e) => {
        const target = { mapping: e.mapping, erpIds: [e.erpId] };
        const cell = el("td", { class: "actions" });
        const actions = [
          [T.retry, "retry", "errors/retry", target],
          [T["sync-to-crm"], "sync-to-crm", "errors/synchronize", { ...target, direction: "toCrm" }],
          [T["sync-from-crm"], "sync-from-crm", "errors/synchronize", { ...target, direction: "fromCrm" }],
          [T.restore, "restore", "errors/restore", target],
          [T["delete-coupling"], "delete-coupling", "errors/delete-couplings", target, "danger"],
        ];
        for (const [label, name, path, body, cls] of actions) {
          const b = button(label, name, cls);
          b.addEventListener("click", () => act(async () => {
            const answer = await api("POST", path, body);
            return (answer.value || []).map((r) => (r.ok ? T.done : T.failed) + ": " + r.message).join(" ") || T.done;
          }, b));
          cell.append(b);
        }
        return [e.mapping, el("td", { class: "id" }, e.erpId), el("td", { class: "id" }, e.crmId),
          e.category || "—", el("td", { class: "message" }, e.message || ""), e.suggestedAction || "", yesNo(e.erpExists), yesNo(e.crmExists), cell];
      }),
      (i) => ({ "data-erp-id": errors[i].erpId, "data-category": errors[i].category }));
  }

  async function load() {
    clearTimeout(timer);
    try {
      const [mappings, jobs, errors] = await Promise.all(
        [api("GET", "mappings"), api("GET", "jobs?top=50"), api("GET", "errors?top=100")]);
      renderMappings(mappings.value, jobs.value);
      renderJobs(jobs.value);
      renderErrors(errors.value);
      document.body.dataset.loaded = String(Date.now());
      // Auto-refresh only while something runs, so an idle page costs nothing.
      if (jobs.value.some((j) => ACTIVE.has(j.status))) timer = setTimeout(load, 3000);
    } catch (err) {
      notice(err.message, true);
    }
  }

  document.getElementById("refresh").addEventListener("click", load);
  if (!KEY) notice(T["no-key"], true);
  load();
})();
