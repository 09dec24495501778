// The operator dashboard: asks for the admin key, polls /admin/stats and /admin/policy, renders them.
// Every figure carries its raw value from /admin/stats in data-value (tests and scripts read those).
"use strict";

(function () {
  const KEY = "tierroute.adminKey";
  const HISTORY = 180; // polls kept for the charts (15 min at the default 5 s)
  const params = new URLSearchParams(location.search);
  const EVERY_S = Math.max(1, Number(params.get("every")) || 5);
  const BASE = new URL(".", location.href); // /admin/ from /admin/ui, behind any path prefix
  const C = window.TierrouteCharts;
  const $ = (id) => document.getElementById(id);

  let history = [];
  let timer = null;
  let polls = 0;

  // ---- formatting -------------------------------------------------------------------------------------
  const dash = "–";
  const int = (n) => (n == null ? dash : String(n));
  const usd = (n) => (n == null ? dash : "$" + (Math.abs(n) >= 1 ? n.toFixed(2) : n.toFixed(6)));
  const pct = (x) => (x == null ? dash : x.toFixed(1) + "%");
  const rate = (r) => (r == null ? dash : (100 * r).toFixed(1) + "%");
  const ms = (v) => (v == null ? dash : String(v));
  const num = (v, d) => (v == null ? dash : Number(v).toFixed(d));

  function figure(id, value, text) {
    const el = $(id);
    el.textContent = text;
    el.dataset.value = value == null ? "" : String(value);
  }

  function cell(tr, field, value, text, cls) {
    const td = document.createElement("td");
    td.dataset.field = field;
    td.dataset.value = value == null ? "" : String(value);
    td.textContent = text;
    if (cls) td.className = cls;
    tr.append(td);
    return td;
  }

  // ---- the key and the refusal ------------------------------------------------------------------------
  function key() {
    return sessionStorage.getItem(KEY) || "";
  }

  function headers() {
    const k = key();
    return k ? { Authorization: "Bearer " + k } : {};
  }

  function setStatus(state, text) {
    const s = $("status");
    s.dataset.state = state;
    s.dataset.polls = String(polls);
    s.textContent = text;
  }

  function clearFigures() {
    for (const el of document.querySelectorAll("#dashboard [data-value]")) {
      el.textContent = "";
      el.dataset.value = "";
    }
    for (const tb of document.querySelectorAll("#dashboard tbody")) tb.replaceChildren();
    for (const c of document.querySelectorAll("#dashboard .chart, #dashboard dd, #mix-legend")) c.replaceChildren();
    history = [];
  }

  function refuse(message) {
    sessionStorage.removeItem(KEY);
    if (timer) clearTimeout(timer);
    timer = null;
    clearFigures();
    $("dashboard").hidden = true;
    $("sign-out").hidden = true;
    $("login").hidden = false;
    const r = $("refusal");
    r.hidden = !message;
    r.textContent = message || "";
    setStatus("refused", "no access");
    $("admin-key").focus();
  }

  class Refused extends Error {}

  async function getJSON(path) {
    const r = await fetch(new URL(path, BASE), { headers: headers(), cache: "no-store", credentials: "omit" });
    let body = null;
    try {
      body = await r.json();
    } catch (e) {
      body = null;
    }
    if (r.status === 401 || r.status === 403) {
      const why = body && body.error && body.error.message ? body.error.message : "HTTP " + r.status;
      throw new Refused(`Refused by the proxy (${r.status}): ${why}`);
    }
    if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`);
    return body;
  }

  async function poll() {
    timer = null;
    try {
      const [stats, policy] = await Promise.all([getJSON("stats"), getJSON("policy")]);
      polls += 1;
      render(stats, policy);
      $("login").hidden = true;
      $("dashboard").hidden = false;
      $("sign-out").hidden = !key();
      setStatus("live", "live");
    } catch (e) {
      if (e instanceof Refused) return refuse(e.message);
      setStatus("stale", "unreachable: " + e.message + " (figures below are from the last good poll)");
    }
    timer = setTimeout(poll, EVERY_S * 1000);
  }

  // ---- rendering --------------------------------------------------------------------------------------
  function tierOrder(stats, policy) {
    const names = ((policy.policy && policy.policy.tiers) || []).map((t) => t.name);
    for (const t of Object.keys(stats.tiers)) if (!names.includes(t)) names.push(t);
    return names;
  }

  function render(stats, policy) {
    const tiers = tierOrder(stats, policy);
    const t = stats.totals, s = stats.savings;
    const strongest = (/\(([^)]+)\)$/.exec(s.baseline) || [])[1] || "";
    figure("total-requests", t.requests, int(t.requests));
    figure("total-cost", s.cost_usd, usd(s.cost_usd));
    figure("baseline-cost", s.baseline_cost_usd, usd(s.baseline_cost_usd));
    figure("strongest-tier", strongest, strongest);
    figure("savings-pct", s.saved_pct, pct(s.saved_pct));
    figure("saved-usd", s.saved_usd, usd(s.saved_usd) + " saved");
    figure("total-errors", t.errors, int(t.errors));
    const rejected = Object.values(stats.rejected_by_status || {}).reduce((a, b) => a + b, 0);
    figure("rejected", rejected, int(rejected));
    $("meta").textContent = `uptime ${Math.round(stats.uptime_s)} s · ${stats.workers} worker(s) · ` +
      `every ${EVERY_S} s · updated ${new Date().toLocaleTimeString()}`;

    history.push({ t: Date.now(), tiers: Object.fromEntries(tiers.map((n) => [n, (stats.tiers[n] || {}).requests || 0])),
                   cost: s.cost_usd, baseline: s.baseline_cost_usd });
    if (history.length > HISTORY) history.shift();
    renderCharts(tiers, strongest);
    renderTiers(stats, tiers);
    renderReplicas(stats);
    renderClassifier(stats, policy);
    renderLearning(stats, policy);
    renderPolicy(policy);
  }

  function renderCharts(tiers, strongest) {
    const steps = history.slice(1).map((p, i) => ({
      t: p.t, counts: Object.fromEntries(tiers.map((n) => [n, Math.max(0, p.tiers[n] - (history[i].tiers[n] || 0))])),
    }));
    C.stackedBars($("mix-chart"), steps, tiers);
    const legend = $("mix-legend");
    legend.replaceChildren(...tiers.map((n) => {
      const span = document.createElement("span");
      const swatch = document.createElement("i");
      swatch.className = "swatch swatch-" + (tiers.indexOf(n) % 8);
      span.append(swatch, document.createTextNode(n));
      return span;
    }));
    C.lines($("cost-chart"), history.map((p) => ({ t: p.t, values: { cost: p.cost, baseline: p.baseline } })),
            [{ name: "cost", color: "#4c9be8" }, { name: "baseline", color: "#e05050", dashed: true }],
            (v) => "$" + (v >= 1 ? v.toFixed(2) : v.toPrecision(2)));
    $("cost-chart").dataset.strongest = strongest;
  }

  function renderTiers(stats, tiers) {
    const total = stats.totals.requests;
    const rows = tiers.filter((n) => stats.tiers[n]).map((n) => {
      const g = stats.tiers[n];
      const tr = document.createElement("tr");
      tr.dataset.tier = n;
      const name = cell(tr, "tier", n, n);
      const sw = document.createElement("i");
      sw.className = "swatch swatch-" + (tiers.indexOf(n) % 8);
      name.prepend(sw);
      cell(tr, "requests", g.requests, int(g.requests));
      const share = total ? g.requests / total : null;
      cell(tr, "share", share, rate(share));
      cell(tr, "errors", g.errors, int(g.errors), g.errors ? "bad" : "");
      cell(tr, "cost_usd", g.cost_usd, usd(g.cost_usd));
      cell(tr, "cache_hit_rate", g.cache_hit_rate, rate(g.cache_hit_rate));
      for (const q of ["p50", "p95", "p99"]) cell(tr, "latency_" + q, g.latency_ms[q], ms(g.latency_ms[q]));
      for (const q of ["p50", "p95", "p99"]) cell(tr, "ttft_" + q, g.ttft_ms[q], ms(g.ttft_ms[q]));
      return tr;
    });
    $("tiers-table").tBodies[0].replaceChildren(...rows);
  }

  function renderReplicas(stats) {
    const rows = Object.entries(stats.replicas).sort(([a], [b]) => a.localeCompare(b)).map(([id, r]) => {
      const tr = document.createElement("tr");
      tr.dataset.replica = id;
      cell(tr, "id", id, id);
      cell(tr, "tier", r.tier, r.tier || dash);
      const health = r.removed ? "removed" : r.healthy ? "healthy" : "unhealthy";
      cell(tr, "healthy", r.healthy, health, r.healthy ? "good" : "bad");
      cell(tr, "in_flight", r.in_flight, int(r.in_flight));
      cell(tr, "requests", r.requests, int(r.requests));
      cell(tr, "cache_hit_rate", r.cache_hit_rate, rate(r.cache_hit_rate));
      const sg = r.sglang || {};
      cell(tr, "sglang_cache_hit_rate", sg.cache_hit_rate, rate(sg.cache_hit_rate));
      const spec = r.speculative ? sg.spec_accept_length : null;
      cell(tr, "spec_accept_length", spec, r.speculative ? num(spec, 2) : "not speculative");
      const br = r.breaker || {};
      cell(tr, "breaker", br.state, br.state || dash, br.state && br.state !== "closed" ? "bad" : "");
      cell(tr, "last_error", r.last_error, r.last_error || "", "err");
      return tr;
    });
    $("replicas-table").tBodies[0].replaceChildren(...rows);
  }

  function renderClassifier(stats, policy) {
    const h = stats.classifier.score_histogram, ar = stats.auto_routing;
    const autoTiers = Object.keys(ar.tiers);
    const el = $("score-histogram");
    C.histogram(el, h.counts, h.bin_edges, ar.cuts, autoTiers);
    el.dataset.counts = JSON.stringify(h.counts);
    el.dataset.cuts = JSON.stringify(ar.cuts);
    figure("decisions", stats.classifier.decisions, int(stats.classifier.decisions));
    figure("cuts-from", ar.cuts_from, `${ar.mode} mode, from ${ar.cuts_from}`);
    const rows = autoTiers.map((n) => {
      const tr = document.createElement("tr");
      tr.dataset.tier = n;
      const a = ar.tiers[n];
      cell(tr, "tier", n, n);
      cell(tr, "target_share", a.target_share, rate(a.target_share));
      cell(tr, "routed_share", a.routed_share, rate(a.routed_share));
      const d = stats.classifier.by_tier[n] || 0;
      cell(tr, "decisions", d, int(d));
      return tr;
    });
    $("routing-table").tBodies[0].replaceChildren(...rows);
    // Task routes (routing.rules): tried before the score; each with the requests it decided.
    const rules = (policy.policy && policy.policy.routing && policy.policy.routing.rules) || [];
    const reasons = stats.routing_reasons || {};
    figure("routing-rules", rules.length, rules.length ? rules.map((r) => `${r.name}: ${JSON.stringify(r.when)} → `
      + `${r.tier} (${int(reasons["rule:" + r.name] || 0)})`).join(" · ") : "none: the score decides");
    figure("routing-reasons", JSON.stringify(reasons), pairs(reasons));
  }

  function pairs(obj) {
    const entries = Object.entries(obj || {});
    return entries.length ? entries.map(([k, v]) => `${k} ${typeof v === "object" ? JSON.stringify(v) : v}`).join(" · ")
      : dash;
  }

  function renderLearning(stats, policy) {
    const model = stats.model || {}, L = stats.learning || {};
    const cls = policy.classifier || {};
    const version = model.version || cls.version || null;
    figure("model-version", version, version || `${cls.name || "classifier"} (shipped, no registry version)`);
    figure("learning-enabled", L.enabled, L.enabled ? "on" : "off (no policy.learning)");
    const stored = (L.labels && L.labels.stored_here) || {};
    figure("labels", JSON.stringify(stored), pairs(stored));
    const store = (L.labels && L.labels.store) || {};
    figure("label-store", JSON.stringify(store), pairs(store));
    const q = (L.quality && L.quality.overall) || {};
    figure("quality", q.parity, L.summary || (q.parity == null ? "no shadow verdicts yet" : rate(q.parity)));
    const errs = [];
    if (model.last_error) errs.push(model.last_error);
    for (const [v, why] of Object.entries(model.refused || {})) errs.push(`refused ${v}: ${why}`);
    figure("model-errors", errs.length, errs.length ? errs.join("; ") : "none");
    $("model-errors").className = errs.length ? "bad" : "";
  }

  function renderPolicy(p) {
    figure("policy-path", p.path, p.path);
    figure("policy-digest", p.digest, (p.digest || "").slice(0, 16));
    figure("policy-reloads", p.reloads, int(p.reloads));
    const at = p.last_error_at ? ` (at ${new Date(p.last_error_at * 1000).toLocaleString()})` : "";
    figure("policy-error", p.last_error, p.last_error ? p.last_error + at + "; the previous policy keeps serving"
      : "none");
    $("policy-error").className = p.last_error ? "bad" : "";
    figure("policy-warnings", (p.warnings || []).length, (p.warnings || []).join("; ") || "none");
  }

  // ---- start ------------------------------------------------------------------------------------------
  $("login-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const k = $("admin-key").value.trim();
    $("admin-key").value = "";
    if (!k) return refuse("Enter the admin key (TIERROUTE_ADMIN_KEY).");
    sessionStorage.setItem(KEY, k);
    $("refusal").hidden = true;
    setStatus("connecting", "connecting…");
    if (timer) clearTimeout(timer);
    poll();
  });
  $("sign-out").addEventListener("click", () => refuse(""));
  poll(); // with the key kept in this tab, or none (a keyless local proxy answers without one)
})();
