// The console's own script: the live channel, actions as API calls, and the charts.
// No inline script anywhere (the Content-Security-Policy forbids it); every change is a call to
// the documented API with the session's CSRF token.
"use strict";

(function () {
  const csrf = () => document.querySelector('meta[name="csrf-token"]')?.content || "";
  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));
  const handlers = {};  // event kind -> [fn]
  const on = (kind, fn) => (handlers[kind] = handlers[kind] || []).push(fn);
  window.nubes = { on };

  // ---- the live channel: one EventSource per page, resumed across pages --------------------
  function connect() {
    // the page shows everything up to the event it was rendered at: listen from there (a
    // reconnect resumes by itself, the browser sending Last-Event-ID)
    const seq = document.querySelector('meta[name="event-seq"]')?.content || "";
    const source = new EventSource("/api/events" + (seq ? "?after=" + encodeURIComponent(seq) : ""));
    const live = $("#live");
    source.onopen = () => live && live.classList.add("on");
    source.onerror = () => live && live.classList.remove("on");
    const deliver = (kind) => (e) => {
      let data = {};
      try { data = JSON.parse(e.data); } catch (_) { return; }
      (handlers[kind] || []).forEach((fn) => fn(data));
    };
    ["hello", "instances", "cloud", "job", "reload"].forEach((k) =>
      source.addEventListener(k, deliver(k)));
    // the session ended (signed out here or elsewhere, or expired): to the login form
    source.addEventListener("signed_out", () => {
      source.close();
      location.href = "/console/login?next=" + encodeURIComponent(location.pathname + location.search);
    });
    return source;
  }

  // ---- instances: rows and the instance page follow the inventory ----------------------------
  function badge(state) {
    const span = document.createElement("span");
    span.className = "badge s-" + state;
    span.textContent = state;
    return span;
  }
  // what each state allows (Deltacloud's instance states' actions, as the API answers them)
  const allowed = { running: ["reboot", "stop", "destroy"], stopped: ["start", "destroy"],
    error: ["destroy"], unknown: ["destroy"] };
  function showRow(el, row) {
    el.dataset.state = row.state;
    $$("button[data-act]", el).forEach((b) => (b.disabled = !(allowed[row.state] || []).includes(b.dataset.act)));
    const cell = $('[data-field="state"]', el);
    if (cell) cell.replaceChildren(badge(row.state));
    const addr = $('[data-field="addresses"]', el);
    if (addr) addr.textContent = (row.addresses || []).join(", ");
  }
  function find(provider, id) {
    return $$("[data-provider][data-id]").filter(
      (el) => el.dataset.provider === provider && el.dataset.id === id);
  }
  // an instance the table does not show yet (made since the page was rendered): the server
  // answers the table again for the page's own query, unless rows are picked for an action
  let fetching = null;
  const noted = new Set();
  function showNew(provider) {
    if (!$("#instances") || !window.htmx) return;
    const only = new URLSearchParams(location.search).get("provider");
    if (only && only !== provider) return;  // the page shows another cloud's instances
    clearTimeout(fetching);
    const fetchTable = () => {
      if ($$("tr[data-id] .pick").some((c) => c.checked)) {
        if (!noted.has(provider)) note(`New instances on ${provider}: reload the page to see them.`);
        noted.add(provider);
      } else if ($(".htmx-request")) {
        fetching = setTimeout(fetchTable, 200);  // the user's own query goes first
      } else {
        htmx.ajax("GET", location.pathname + location.search, { source: "#table", target: "#table" });
      }
    };
    fetching = setTimeout(fetchTable, 200);
  }
  on("instances", (data) => {
    if (data.reload && $("#instances")) note(`Many instances changed on ${data.provider}: reload the page to see them.`);
    (data.changed || []).forEach((row) => find(row.provider, row.id).forEach((el) => showRow(el, row)));
    if ((data.added || []).some((id) => !find(data.provider, id).length)) showNew(data.provider);
    (data.gone || []).forEach((id) => find(data.provider, id).forEach((el) => {
      el.dataset.state = "gone";
      const cell = $('[data-field="state"]', el);
      if (cell) cell.replaceChildren(badge("gone"));
    }));
  });
  on("cloud", () => {
    const cards = $("#cards");
    if (cards && window.htmx) htmx.ajax("GET", "/console", { target: "#cards", select: "#cards", swap: "outerHTML" });
  });
  on("reload", () => { if ($("#cards") || $("#instances")) location.reload(); });

  // ---- confirmations name every object ---------------------------------------------------
  function confirmAll(title, names) {
    const dialog = $("#confirm");
    if (!dialog || !dialog.showModal) return Promise.resolve(window.confirm(title + "\n" + names.join("\n")));
    $("#confirm-title").textContent = title;
    $("#confirm-list").replaceChildren(...names.map((n) => {
      const li = document.createElement("li");
      li.textContent = n;
      return li;
    }));
    dialog.showModal();
    return new Promise((resolve) => {
      dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    });
  }

  async function api(method, path, body) {
    const headers = { "Accept": "application/json", "X-CSRF-Token": csrf() };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(path, {
      method, headers, credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let doc = null;
    try { doc = await response.json(); } catch (_) { doc = null; }
    if (!response.ok) {
      const message = (doc && doc.error && doc.error.message) || (doc && doc.diagnostics && doc.diagnostics.map((d) => d.summary).join("; ")) || response.statusText;
      throw new Error(message);
    }
    return doc;
  }
  window.nubes.api = api;

  function instancePath(provider, id, act) {
    const base = "/api;provider=" + encodeURIComponent(provider) + "/instances/" + encodeURIComponent(id);
    return act === "destroy" ? ["DELETE", base] : ["POST", base + "/" + act];
  }
  function note(text, bad) {
    let box = $("#notes");
    if (!box) {
      box = document.createElement("div");
      box.id = "notes";
      box.setAttribute("role", "status");
      $("main").prepend(box);
    }
    const p = document.createElement("p");
    p.className = bad ? "error" : "ok";
    p.textContent = text;
    box.append(p);
  }
  async function act(act, targets) {
    const names = targets.map((t) => `${t.dataset.name} (${t.dataset.provider}/${t.dataset.id})`);
    if (!(await confirmAll(`${act[0].toUpperCase() + act.slice(1)} ${targets.length} instance${targets.length === 1 ? "" : "s"}?`, names))) return;
    for (const t of targets) {
      const [method, path] = instancePath(t.dataset.provider, t.dataset.id, act);
      try {
        await api(method, path);
        note(`${act}: ${t.dataset.name} asked`);
      } catch (e) {
        note(`${act} ${t.dataset.name}: ${e.message}`, true);
      }
    }
  }

  document.addEventListener("click", (e) => {
    const button = e.target.closest("button[data-act]");
    if (button) {
      act(button.dataset.act, [button.closest("[data-provider][data-id]")]);
      return;
    }
    const bulk = e.target.closest("button[data-bulk]");
    if (bulk) {
      const picked = $$("tr[data-id]").filter((tr) => $(".pick", tr)?.checked);
      if (!picked.length) return;
      if (bulk.dataset.bulk === "migrate") {
        const q = picked.map((tr) => "i=" + encodeURIComponent(tr.dataset.provider + "/" + tr.dataset.id)).join("&");
        location.href = "/console/migrate?" + q;
        return;
      }
      act(bulk.dataset.bulk, picked);
    }
  });
  function countPicked() {
    const n = $$("tr[data-id] .pick").filter((c) => c.checked).length;
    const label = $("#selected-count");
    if (label) label.textContent = n + " selected";
    $$("button[data-bulk]").forEach((b) => (b.disabled = n === 0));
  }
  document.addEventListener("change", (e) => {
    if (e.target.id === "select-all") {
      $$("tr[data-id] .pick").forEach((c) => (c.checked = e.target.checked));
    }
    if (e.target.classList.contains("pick") || e.target.id === "select-all") countPicked();
  });
  document.addEventListener("htmx:afterSwap", countPicked);


  // ---- stacks: plan, apply exactly the reviewed plan, discard; a job's live progress ------
  const stackApi = (stack) => "/api/stacks/" + encodeURIComponent(stack);
  document.addEventListener("click", async (e) => {
    const planButton = e.target.closest("button[data-plan]");
    const applyButton = e.target.closest("button[data-apply-plan]");
    const discardButton = e.target.closest("button[data-discard-plan]");
    const button = planButton || applyButton || discardButton;
    if (!button) return;
    const stack = button.closest("[data-stack]").dataset.stack;
    button.disabled = true;
    try {
      if (planButton) {
        const doc = await api("POST", stackApi(stack) + "/plans");
        location.href = "/console/stacks/" + encodeURIComponent(stack) + "?plan=" + encodeURIComponent(doc.plan.id);
      } else if (applyButton) {
        const id = applyButton.dataset.applyPlan;
        const doc = await api("POST", stackApi(stack) + "/plans/" + encodeURIComponent(id) + "/apply");
        location.href = "/console/stacks/" + encodeURIComponent(stack) + "?job=" + encodeURIComponent(doc.job.id);
      } else {
        await api("DELETE", stackApi(stack) + "/plans/" + encodeURIComponent(discardButton.dataset.discardPlan));
        location.href = "/console/stacks/" + encodeURIComponent(stack);
      }
    } catch (err) {
      note(err.message, true);
      button.disabled = false;
    }
  });
  // cancel a running job: it starts nothing more; what is in flight finishes and is saved
  document.addEventListener("click", async (e) => {
    const button = e.target.closest("button[data-cancel-job]");
    if (!button) return;
    button.disabled = true;
    try {
      await api("POST", "/api/jobs/" + encodeURIComponent(button.dataset.cancelJob) + "/cancel");
      note("Cancelling: the job starts nothing more; what is in flight finishes.");
    } catch (err) {
      note(err.message, true);
    }
  });
  const stepKinds = { apply_start: "start", apply_complete: "done", apply_errored: "failed", apply_skipped: "skipped" };
  on("job", (data) => {
    const section = $("#job");
    if (!section || section.dataset.job !== data.job) return;
    const e = data.event;
    const log = $("#log");
    if (log) log.append(`${e.time} ${e.type} ${e.address || e.summary || ""} ${e.message || ""}\n`);
    if (stepKinds[e.type]) {
      const li = document.createElement("li");
      li.className = e.type === "apply_complete" ? "done" : e.type === "apply_errored" ? "failed" : "";
      li.textContent = `${stepKinds[e.type]}: ${e.action} ${e.address}` + (e.message ? ": " + e.message : "");
      $("#steps").append(li);
    }
    if (e.type === "job_end") {
      $("#job-state").textContent = e.state;
      $("#job-summary").textContent = e.summary;
      section.dataset.state = e.state;
      $("#job-cancel")?.remove();
    } else {
      $("#job-state").textContent = "running";
    }
  });


  // ---- migration: plan for review, apply exactly the reviewed one, or discard --------------
  document.addEventListener("click", async (e) => {
    const plan = e.target.closest("button[data-plan-migration]");
    const apply = e.target.closest("button[data-apply-migration]");
    const discard = e.target.closest("button[data-discard-migration]");
    const button = plan || apply || discard;
    if (!button) return;
    button.disabled = true;
    try {
      if (plan) {
        const form = $("#migrate-form");
        const doc = await api("POST", "/api/migrations", {
          instances: $$("[data-pick]", form).map((li) => li.dataset.pick),
          target: form.elements.target.value,
          allow_data_loss: form.elements.allow_data_loss.checked,
        });
        location.href = "/console/migrate?m=" + encodeURIComponent(doc.migration.id);
      } else if (apply) {
        const doc = await api("POST", "/api/migrations/" + encodeURIComponent(apply.dataset.applyMigration) + "/apply");
        location.href = "/console/migrate?job=" + encodeURIComponent(doc.job.id);
      } else {
        await api("DELETE", "/api/migrations/" + encodeURIComponent(discard.dataset.discardMigration));
        location.href = "/console/instances";
      }
    } catch (err) {
      note(err.message, true);
      button.disabled = false;
    }
  });

  // ---- charts ----------------------------------------------------------------------------
  const palette = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4b5563"];
  function chart(el, times, columns, height) {
    if (!window.uPlot || !el) return;
    const names = Object.keys(columns);
    const opts = {
      width: Math.max(300, el.clientWidth || 600), height: height || 220,
      series: [{}].concat(names.map((n, i) => ({ label: n, stroke: palette[i % palette.length], width: 2 }))),
      axes: [{}, {}],
    };
    el.replaceChildren();
    return new uPlot(opts, [times].concat(names.map((n) => columns[n])), el);
  }
  function overviewChart() {
    const el = $("#chart");
    const data = $("#series-data");
    if (!el || !data) return;
    const doc = JSON.parse(data.textContent);
    if (!doc.t.length) { el.textContent = "No samples yet: counts are recorded as clouds are refreshed."; return; }
    chart(el, doc.t, doc.series);
  }
  async function metricsChart() {
    const el = $("#metrics");
    if (!el) return;
    try {
      const doc = await api("GET", "/api;provider=" + encodeURIComponent(el.dataset.provider) + "/metrics/" + encodeURIComponent(el.dataset.id));
      const m = doc.metric || doc.metrics || doc;
      const props = (m.properties || []).filter((p) => p.values && p.values.length);
      if (!props.length) { el.textContent = "No samples reported."; return; }
      props.slice(0, 4).forEach((p) => {
        const box = document.createElement("div");
        box.className = "metric";
        const h = document.createElement("h3");
        h.textContent = `${p.name} (${p.unit})`;
        box.append(h);
        el.append(box);
        const plot = document.createElement("div");
        box.append(plot);
        chart(plot, p.values.map((v) => Number(v.timestamp)), { average: p.values.map((v) => v.average), maximum: p.values.map((v) => v.maximum) }, 160);
      });
    } catch (e) {
      el.textContent = "Metrics could not be read: " + e.message;
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    connect();
    overviewChart();
    metricsChart();
    countPicked();
  });
})();
