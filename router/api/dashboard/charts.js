// Inline SVG charts for the dashboard: stacked bars, lines and a histogram with cut points. No libraries.
"use strict";

(function () {
  const NS = "http://www.w3.org/2000/svg";
  const W = 760, H = 180, PAD = { l: 56, r: 12, t: 10, b: 24 };
  const PALETTE = ["#4c9be8", "#f0a030", "#c05cd0", "#3cb878", "#e05050", "#8a8f99", "#20b2aa", "#b8860b"];

  function svgEl(name, attrs, text) {
    const e = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function frame(container, label) {
    const svg = svgEl("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": label, class: "plot" });
    container.replaceChildren(svg);
    return svg;
  }

  function yAxis(svg, max, fmt) {
    const ih = H - PAD.t - PAD.b;
    for (let i = 0; i <= 4; i++) {
      const v = (max * i) / 4;
      const y = PAD.t + ih - (ih * i) / 4;
      svg.append(svgEl("line", { x1: PAD.l, x2: W - PAD.r, y1: y, y2: y, class: "grid" }));
      svg.append(svgEl("text", { x: PAD.l - 6, y: y + 4, "text-anchor": "end", class: "tick" }, fmt(v)));
    }
  }

  // A count axis in whole steps: the top rounded up to a multiple of 4.
  function countMax(values) {
    return Math.max(4, Math.ceil(Math.max(0, ...values) / 4) * 4);
  }

  function empty(svg, why) {
    svg.append(svgEl("text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "tick" }, why));
  }

  function colorOf(tiers, tier) {
    const i = tiers.indexOf(tier);
    return PALETTE[(i < 0 ? tiers.length : i) % PALETTE.length];
  }

  function timeLabel(t) {
    return new Date(t).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  }

  // steps: [{t, counts: {tier: n}}] (requests per interval); one bar per step, stacked by tier.
  function stackedBars(container, steps, tiers) {
    const svg = frame(container, "requests per tier over time");
    if (steps.length === 0) return empty(svg, "collecting: the first bars appear after two polls");
    const totals = steps.map((s) => tiers.reduce((a, t) => a + (s.counts[t] || 0), 0));
    const max = countMax(totals);
    yAxis(svg, max, String);
    const iw = W - PAD.l - PAD.r, ih = H - PAD.t - PAD.b;
    const bw = iw / Math.max(steps.length, 30);
    steps.forEach((s, i) => {
      let y = PAD.t + ih;
      for (const tier of tiers) {
        const n = s.counts[tier] || 0;
        if (!n) continue;
        const h = (ih * n) / max;
        y -= h;
        const r = svgEl("rect", { x: PAD.l + i * bw + 1, y, width: Math.max(1, bw - 2), height: h,
                                  fill: colorOf(tiers, tier), "data-tier": tier, "data-count": n });
        r.append(svgEl("title", {}, `${timeLabel(s.t)} ${tier}: ${n}`));
        svg.append(r);
      }
    });
    svg.append(svgEl("text", { x: PAD.l, y: H - 6, class: "tick" }, timeLabel(steps[0].t)));
    svg.append(svgEl("text", { x: W - PAD.r, y: H - 6, "text-anchor": "end", class: "tick" },
                     timeLabel(steps[steps.length - 1].t)));
  }

  // points: [{t, values: {name: number}}]; lines: [{name, color, dashed}].
  function lines(container, points, spec, fmt) {
    const svg = frame(container, "cost over time");
    if (points.length < 2) return empty(svg, "collecting: the line appears after two polls");
    const all = points.flatMap((p) => spec.map((s) => p.values[s.name] || 0));
    const max = Math.max(1e-9, ...all);
    yAxis(svg, max, fmt);
    const iw = W - PAD.l - PAD.r, ih = H - PAD.t - PAD.b;
    const t0 = points[0].t, span = Math.max(1, points[points.length - 1].t - t0);
    for (const s of spec) {
      const d = points.map((p, i) => {
        const x = PAD.l + (iw * (p.t - t0)) / span;
        const y = PAD.t + ih - (ih * (p.values[s.name] || 0)) / max;
        return `${i ? "L" : "M"}${x.toFixed(1)},${y.toFixed(1)}`;
      }).join(" ");
      svg.append(svgEl("path", { d, fill: "none", stroke: s.color, "stroke-width": 2,
                                 "stroke-dasharray": s.dashed ? "6 4" : "none", "data-line": s.name }));
    }
    svg.append(svgEl("text", { x: PAD.l, y: H - 6, class: "tick" }, timeLabel(t0)));
    svg.append(svgEl("text", { x: W - PAD.r, y: H - 6, "text-anchor": "end", class: "tick" },
                     timeLabel(points[points.length - 1].t)));
  }

  // counts per bin over edges (0..1); cuts: score thresholds, tiers: the auto rules' tiers in order.
  function histogram(container, counts, edges, cuts, tiers) {
    const svg = frame(container, "classifier score histogram");
    const max = countMax(counts);
    yAxis(svg, max, String);
    const iw = W - PAD.l - PAD.r, ih = H - PAD.t - PAD.b;
    const x = (score) => PAD.l + iw * score;
    counts.forEach((n, i) => {
      const h = (ih * n) / max;
      const lo = edges[i], hi = edges[i + 1];
      const tier = tiers[cuts.filter((c) => c <= lo).length] || "";
      const r = svgEl("rect", { x: x(lo) + 1, y: PAD.t + ih - h, width: Math.max(1, x(hi) - x(lo) - 2), height: h,
                                fill: colorOf(tiers, tier), "data-bin": i, "data-count": n });
      r.append(svgEl("title", {}, `score ${lo}–${hi}: ${n}`));
      svg.append(r);
    });
    cuts.forEach((c, i) => {
      svg.append(svgEl("line", { x1: x(c), x2: x(c), y1: PAD.t, y2: PAD.t + ih, class: "cut", "data-cut": c }));
      svg.append(svgEl("text", { x: x(c) + 4, y: PAD.t + 12 + 14 * (i % 2), class: "cutlabel" },
                       `${c.toFixed(3)} → ${tiers[i + 1] || ""}`));
    });
    for (const v of [0, 0.25, 0.5, 0.75, 1]) {
      svg.append(svgEl("text", { x: x(v), y: H - 6, "text-anchor": "middle", class: "tick" }, String(v)));
    }
  }

  window.TierrouteCharts = { stackedBars, lines, histogram, colorOf };
})();
