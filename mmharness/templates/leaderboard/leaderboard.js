/* mmharness leaderboard page: draws the table, legend, plots and problems from the embedded JSON.
 * No network access (the page's Content-Security-Policy forbids it). When it has finished,
 * <html data-status> is "ready"; any JavaScript error sets it to "error" and lists the message in
 * #lb-errors, so that a headless browser test can tell a working page from a broken one. */
(function () {
  "use strict";
  var errors = [];

  function setStatus(s) {
    document.documentElement.setAttribute("data-status", s);
    var el = document.getElementById("lb-status");
    if (el) { el.textContent = s; }
  }

  function reportError(msg) {
    errors.push(String(msg));
    var pre = document.getElementById("lb-errors");
    if (pre) { pre.hidden = false; pre.textContent = "JavaScript error(s):\n" + errors.join("\n"); }
    setStatus("error");
  }

  window.addEventListener("error", function (e) {
    reportError((e.message || "error") + (e.filename ? " at " + e.filename + ":" + e.lineno : ""));
  });
  window.addEventListener("unhandledrejection", function (e) { reportError("unhandled rejection: " + e.reason); });

  var SVGNS = "http://www.w3.org/2000/svg";
  var PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
                 "#9c755f", "#bab0ac", "#1f77b4", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#17becf"];

  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    setAttrs(e, attrs);
    (children || []).forEach(function (c) { e.appendChild(typeof c === "string" ? document.createTextNode(c) : c); });
    return e;
  }

  function svg(tag, attrs, text) {
    var e = document.createElementNS(SVGNS, tag);
    setAttrs(e, attrs);
    if (text !== undefined) { e.textContent = text; }
    return e;
  }

  function setAttrs(e, attrs) {
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") { e.textContent = attrs[k]; } else { e.setAttribute(k, attrs[k]); }
    });
  }

  function fmt(x, digits) {
    if (x === null || x === undefined) { return "—"; }
    return Number(x).toFixed(digits === undefined ? 4 : digits);
  }

  function fmtRank(r) {
    if (r === null || r === undefined) { return "—"; }
    return Number.isInteger(r) ? String(r) : Number(r).toFixed(1);
  }

  // ------------------------------------------------------------------ data
  var DATA = null;
  var COLORS = {};

  function modelLabel(m) { return m.label; }

  // the official metric shown beside the ranking one (null when the column ranks on it)
  function officialOf(t) {
    var td = DATA.tasks[t];
    return td.official_metric !== td.metric ? td.official_metric : null;
  }

  function officialValue(cell, official) {
    var mv = official && cell.metrics ? cell.metrics[official] : null;
    return mv ? mv.value : null;
  }

  // families whose average is shown beside the overall one: those averaging more than one task
  function shownFamilies() {
    return Object.keys(DATA.families).filter(function (f) { return DATA.families[f].averaged.length > 1; });
  }

  // ------------------------------------------------------------------ table
  var sortState = { key: null, dir: 1 };

  function cellDisplay(cell, mode, official) {
    if (cell.status === "missing") { return { text: "—", num: null, title: "no result for this task (not imputed)" }; }
    if (cell.status === "missing_metric") { return { text: "— (no metric)", num: null, title: "the results file lacks the ranking metric" }; }
    var num = mode === "rank" ? cell.rank : (mode === "normalized" ? cell.normalized : cell.value);
    var text = mode === "rank" ? fmtRank(num) : fmt(num, mode === "normalized" ? 3 : 4);
    if (cell.value === null) { text = "— (undefined)"; }
    var p = cell.provenance || {};
    var lines = [
      "value: " + fmt(cell.value) + (cell.ci ? "  CI [" + fmt(cell.ci[0]) + ", " + fmt(cell.ci[1]) + "]" : ""),
      "normalised: " + fmt(cell.normalized, 3) + "   rank: " + fmtRank(cell.rank)];
    if (official) { lines.push("official " + official + ": " + fmt(officialValue(cell, official))); }
    if (cell.degenerate) { lines.push("DEGENERATE (" + cell.degenerate.rule + ", not ranked): " + cell.degenerate.reason); }
    lines = lines.concat([
      "results file: " + p.results_file,
      "created: " + p.created + "   run: " + (p.run_id || "").slice(0, 8),
      "mmharness " + p.harness_version + (p.harness_commit ? " @" + p.harness_commit.slice(0, 10) + (p.harness_dirty ? " (dirty)" : "") : ""),
      "task version " + p.task_version + ", data " + p.data_kind + " (" + p.data_source + ", fingerprint " + p.data_fingerprint + ")",
      "n scored " + p.n_scored + " of " + p.n_samples + (p.n_skipped ? " (" + p.n_skipped + " skipped)" : "") +
        ", seed " + p.seed + ", " + p.precision + (p.limit ? ", limit " + p.limit : "")
    ]);
    if (cell.superseded && cell.superseded.length) { lines.push("superseded: " + cell.superseded.map(function (s) { return s.results_file; }).join(", ")); }
    return { text: text, num: num, title: lines.join("\n"), rank: cell.rank, official: officialValue(cell, official),
             degenerate: cell.degenerate || null };
  }

  function averageDisplay(m, which) {
    var v, n, total;
    if (which === "score") { v = m.average_score; n = m.average_score_n; total = DATA.score_task_set.length; }
    else { v = m.average_rank; n = m.average_rank_n; total = DATA.task_set.length; }
    var text = which === "score" ? fmt(v, 3) : (v === null ? "—" : Number(v).toFixed(2));
    var incomplete = v !== null && n < total;
    return { text: text, num: v, incomplete: incomplete, note: incomplete ? "* " + n + "/" + total : "" };
  }

  function columns() {
    var cols = [
      { key: "position", title: "#", sub: "", cls: "", get: function (m) { return m.overall_rank; }, dir: 1 },
      { key: "model", title: "model", sub: "", cls: "model", get: function (m) { return modelLabel(m).toLowerCase(); }, dir: 1 },
      { key: "avg_score", title: "avg score", sub: "normalised, ↑", cls: "", get: function (m) { return m.average_score; }, dir: -1 }
    ];
    shownFamilies().forEach(function (f) {
      cols.push({ key: "family:" + f, family: f, title: f + " avg", sub: "normalised, ↑", cls: "",
                  get: function (m) { return m.family_averages[f].score; }, dir: -1 });
    });
    cols.push({ key: "avg_rank", title: "avg rank", sub: "↓", cls: "", get: function (m) { return m.average_rank; }, dir: 1 });
    var mode = document.getElementById("lb-show").value;
    DATA.columns.forEach(function (t) {
      var td = DATA.tasks[t];
      var hib = td.metric_metadata.higher_is_better;
      var dir = mode === "rank" ? 1 : (mode === "normalized" ? -1 : (hib ? -1 : 1));
      var off = officialOf(t);
      var beside = off ? " · official " + off + " " + (td.official_metric_metadata.higher_is_better ? "↑" : "↓") : "";
      cols.push({ key: "task:" + t, task: t, title: t, cls: "",
                  sub: td.metric + " " + (hib ? "↑" : "↓") + beside + (td.in_task_set ? "" : " (not averaged)"),
                  get: function (m) { return cellDisplay(m.cells[t], mode, off).num; }, dir: dir });
    });
    return cols;
  }

  function compareRows(col, dir) {
    return function (a, b) {
      var x = col.get(a), y = col.get(b);
      if (x === null || x === undefined) { return (y === null || y === undefined) ? 0 : 1; }
      if (y === null || y === undefined) { return -1; }
      if (x < y) { return -dir; }
      if (x > y) { return dir; }
      return 0;
    };
  }

  // "#sort=KEY" or "#sort=KEY:asc|desc" in the URL pre-sorts the table (KEY: position, model,
  // avg_score, avg_rank or task:NAME); handy for links, and lets a headless test check sorting.
  function applyHashSort() {
    var m = /(?:^#|&)sort=([^&]+?)(?::(asc|desc))?(?:&|$)/.exec(decodeURIComponent(window.location.hash || ""));
    if (!m) { return; }
    var col = columns().filter(function (c) { return c.key === m[1]; })[0];
    if (!col) { reportError("unknown sort key in URL: " + m[1]); return; }
    var dir = m[2] === "asc" ? 1 : (m[2] === "desc" ? -1 : col.dir);
    sortState = { key: col.key, dir: dir };
  }

  function renderTable() {
    var table = document.getElementById("lb-table");
    var thead = table.tHead, tbody = table.tBodies[0];
    thead.innerHTML = ""; tbody.innerHTML = "";
    var cols = columns();
    var mode = document.getElementById("lb-show").value;
    var hr = el("tr");
    cols.forEach(function (c) {
      var th = el("th", { "class": c.cls, "data-key": c.key, title: "sort by " + c.title }, [c.title]);
      if (c.sub) { th.appendChild(el("span", { "class": "sub" }, [c.sub])); }
      if (sortState.key === c.key) { th.className += sortState.dir === 1 ? " sorted-asc" : " sorted-desc"; }
      th.addEventListener("click", function () {
        sortState = { key: c.key, dir: sortState.key === c.key ? -sortState.dir : c.dir };
        renderTable();
      });
      hr.appendChild(th);
    });
    thead.appendChild(hr);
    var rows = DATA.models.slice();
    if (sortState.key) {
      var col = cols.filter(function (c) { return c.key === sortState.key; })[0];
      if (col) { rows.sort(compareRows(col, sortState.dir)); }
    }
    rows.forEach(function (m) {
      var tr = el("tr", { "class": m.ranked ? "ranked" : "unranked", "data-model": m.id });
      tr.appendChild(el("td", { "class": "position" }, [m.overall_rank !== null ? String(m.overall_rank) : (m.ranked ? "incomplete" : "unranked")]));
      var name = el("td", { "class": "model model-name", title: m.id + (m.excluded_reason ? "\nunranked: " + m.excluded_reason : "") },
                    [el("span", { "class": "swatch", style: "background:" + COLORS[m.id] }), modelLabel(m)]);
      m.flags.forEach(function (f) { name.appendChild(el("span", { "class": "badge" }, [f])); });
      tr.appendChild(name);
      var averageCell = function (a) {
        var td = el("td", { "class": a.incomplete ? "incomplete" : "" }, [a.text]);
        if (a.note) { td.appendChild(el("span", { "class": "rank", title: "average over n of the N tasks" }, [a.note])); }
        return td;
      };
      tr.appendChild(averageCell(averageDisplay(m, "score")));
      shownFamilies().forEach(function (f) {
        var a = m.family_averages[f];
        var incomplete = a.score !== null && a.n < a.total;
        tr.appendChild(averageCell({ text: fmt(a.score, 3), incomplete: incomplete, note: incomplete ? "* " + a.n + "/" + a.total : "" }));
      });
      tr.appendChild(averageCell(averageDisplay(m, "rank")));
      DATA.columns.forEach(function (t) {
        var cell = m.cells[t];
        var off = officialOf(t);
        var d = cellDisplay(cell, mode, off);
        var cls = cell.status === "ok" ? "" : "missing";
        if (d.degenerate) { cls += " degenerate"; }
        var td = el("td", { "class": cls, title: d.title }, [d.text]);
        if (d.degenerate) {
          td.appendChild(el("span", { "class": "badge degenerate", title: d.degenerate.reason }, ["⚠ " + d.degenerate.rule]));
        } else if (mode !== "rank" && cell.rank !== null && cell.rank !== undefined) {
          td.appendChild(el("span", { "class": "rank" }, ["(" + fmtRank(cell.rank) + ")"]));
        }
        if (off && cell.metrics) {
          td.appendChild(el("span", { "class": "official", title: "official " + off }, ["· " + fmt(d.official)]));
        }
        tr.appendChild(td);
      });
      tbody.appendChild(tr);
    });
  }

  // ------------------------------------------------------------------ legend, problems, rules, sources
  function renderTexts() {
    var nRanked = DATA.models.filter(function (m) { return m.ranked; }).length;
    document.getElementById("lb-summary").textContent =
      DATA.models.length + " model entries (" + nRanked + " ranked) × " + DATA.columns.length + " tasks; averages over " +
      DATA.task_set.length + " task(s): " + DATA.task_set.join(", ") + ". Built " + DATA.created + " by mmharness " + DATA.harness.version + ".";
    document.getElementById("lb-notes").textContent =
      "Cells: the task's ranking metric (rank among ranked models in parentheses) · the paper's official metric, " +
      "where the column ranks on another one. ⚠ rule = degenerate responses (see below): the value is kept but not ranked. " +
      "— = no result (never imputed). * n/N = average over n of the N tasks (missing cells; for the average rank also " +
      "the unranked degenerate cells); rows missing a task get no overall rank ('incomplete'). " +
      "Rows flagged 'sample' or 'limit=N' are shown but not ranked ('unranked'). '<family> avg' = mean normalised score " +
      "over a benchmark family.";
    var ul = document.getElementById("lb-tasks");
    DATA.columns.forEach(function (t) {
      var td = DATA.tasks[t], meta = td.metric_metadata, ref = td.normalization;
      var norm = ref.method === "chance" ? "0 = chance (" + ref.zero + "), 1 = best (" + ref.best + ")" :
        ref.method === "range" ? "no chance level: 0 = worst of range (" + ref.zero + "), 1 = best (" + ref.best + ")" :
        "not normalisable: left out of the average score";
      var why = { override: "chosen with --metric", leaderboard_metric: "the task's leaderboard metric",
                  primary_metric: "the primary metric" }[td.metric_source];
      var off = officialOf(t);
      var li = el("li", {}, [el("b", {}, [t]), ": ranked on " + td.metric + " (" + why + "; " + (meta.higher_is_better ? "higher" : "lower") +
        " is better; " + norm + ")" + (off ? "; official metric " + off + " (" +
        (td.official_metric_metadata.higher_is_better ? "higher" : "lower") + " is better) shown beside it" : "") +
        "; family " + td.family + "; task version " + td.versions.join(", ") + "; " + td.n_models + " model(s)" +
        (td.n_degenerate ? "; " + td.n_degenerate + " flagged degenerate" : "") +
        (td.registered ? "" : "; NOT registered in this mmharness version") + (td.in_task_set ? "" : "; not averaged")]);
      if (td.description) { li.appendChild(el("div", { "class": "notes" }, [td.description])); }
      ul.appendChild(li);
    });
    var du = document.getElementById("lb-degenerate");
    DATA.models.forEach(function (m) {
      m.degenerate_tasks.forEach(function (t) {
        var d = m.cells[t].degenerate;
        du.appendChild(el("li", { "class": "problem warning" }, [m.label + ", " + t + ": ⚠ " + d.rule + ": " + d.reason]));
      });
    });
    if (!du.children.length) { du.appendChild(el("li", {}, ["none"])); }
    var pu = document.getElementById("lb-problems");
    DATA.models.filter(function (m) { return m.excluded_reason; }).forEach(function (m) {
      pu.appendChild(el("li", { "class": "problem" }, ["unranked: " + m.label + ": " + m.excluded_reason]));
    });
    DATA.problems.forEach(function (p) {
      pu.appendChild(el("li", { "class": "problem " + p.severity }, [p.severity + " (" + p.kind + "): " + p.message]));
    });
    if (!pu.children.length) { pu.appendChild(el("li", {}, ["none"])); }
    var dl = document.getElementById("lb-rules");
    Object.keys(DATA.rules).forEach(function (k) { dl.appendChild(el("dt", {}, [k])); dl.appendChild(el("dd", {}, [DATA.rules[k]])); });
    var su = document.getElementById("lb-sources");
    DATA.sources.forEach(function (s) {
      su.appendChild(el("li", {}, [el("code", {}, [s.path]), " (" + s.created + "): used for " + (s.used_for.join(", ") || "nothing (superseded)")]));
    });
  }

  // ------------------------------------------------------------------ plots
  function valueScale(plot, values) {
    var lo, hi;
    if (plot.value_range) { lo = plot.value_range[0]; hi = plot.value_range[1]; }
    else {
      var fin = values.filter(function (v) { return v !== null && v !== undefined && isFinite(v); });
      lo = Math.min(0, Math.min.apply(null, fin.length ? fin : [0]));
      hi = Math.max.apply(null, fin.length ? fin : [1]);
      if (hi <= 1 && lo >= 0) { hi = 1; } else if (hi <= 100 && hi > 1 && lo >= 0) { hi = 100; }
      if (hi === lo) { hi = lo + 1; }
    }
    return { lo: lo, hi: hi };
  }

  function ticks(lo, hi) {
    var out = [], step = (hi - lo) / 5;
    for (var i = 0; i <= 5; i++) { out.push(lo + i * step); }
    return out;
  }

  function legend(series) {
    var div = el("div", { "class": "legend" });
    series.forEach(function (s) {
      div.appendChild(el("span", {}, [el("span", { "class": "swatch", style: "background:" + (COLORS[s.model] || "#888") }), s.label]));
    });
    return div;
  }

  function groupedBars(plot) {
    var nCat = plot.categories.length, nSer = plot.series.length;
    var bar = Math.max(4, Math.min(18, Math.floor(120 / Math.max(1, nSer)))), gap = 14;
    var groupW = nSer * bar + gap, left = 52, top = 12, h = 220, bottom = 70;
    var width = left + nCat * groupW + 20, height = top + h + bottom;
    var all = [];
    plot.series.forEach(function (s) { all = all.concat(s.values); });
    var sc = valueScale(plot, all);
    var y = function (v) { return top + h - (v - sc.lo) / (sc.hi - sc.lo) * h; };
    var root = svg("svg", { width: width, height: height, viewBox: "0 0 " + width + " " + height, role: "img", "aria-label": plot.title });
    ticks(sc.lo, sc.hi).forEach(function (t) {
      root.appendChild(svg("line", { "class": "grid", x1: left, x2: width - 10, y1: y(t), y2: y(t) }));
      root.appendChild(svg("text", { x: left - 6, y: y(t) + 4, "text-anchor": "end" }, Number(t.toFixed(3)).toString()));
    });
    root.appendChild(svg("line", { "class": "axis", x1: left, x2: left, y1: top, y2: top + h }));
    root.appendChild(svg("line", { "class": "axis", x1: left, x2: width - 10, y1: y(Math.max(sc.lo, 0)), y2: y(Math.max(sc.lo, 0)) }));
    root.appendChild(svg("text", { x: 12, y: top + h / 2, transform: "rotate(-90 12 " + (top + h / 2) + ")", "text-anchor": "middle" }, plot.value_label));
    plot.categories.forEach(function (c, ci) {
      var x0 = left + ci * groupW + gap / 2;
      plot.series.forEach(function (s, si) {
        var v = s.values[ci];
        if (v === null || v === undefined) { return; }
        var base = y(Math.max(sc.lo, 0)), yy = y(v);
        var rect = svg("rect", { x: x0 + si * bar, y: Math.min(yy, base), width: bar - 1, height: Math.max(1, Math.abs(base - yy)),
                                 fill: COLORS[s.model] || "#888" });
        rect.appendChild(svg("title", {}, s.label + " — " + c + ": " + fmt(v)));
        root.appendChild(rect);
      });
      var cx = x0 + nSer * bar / 2;
      root.appendChild(svg("text", { x: cx, y: top + h + 14, "text-anchor": "end", transform: "rotate(-35 " + cx + " " + (top + h + 14) + ")" }, c));
    });
    return root;
  }

  function dumbbell(plot) {
    var rows = [];
    plot.categories.forEach(function (c, ci) {
      var some = plot.series.filter(function (s) { return s.from[ci] !== null || s.to[ci] !== null; });
      if (!some.length) { return; }
      rows.push({ header: c });
      some.forEach(function (s) { rows.push({ cat: c, s: s, a: s.from[ci], b: s.to[ci] }); });
    });
    var left = 230, top = 22, rowH = 16, w = 460, height = top + rows.length * rowH + 40, width = left + w + 30;
    var all = [];
    plot.series.forEach(function (s) { all = all.concat(s.from, s.to); });
    var sc = valueScale(plot, all);
    var x = function (v) { return left + (v - sc.lo) / (sc.hi - sc.lo) * w; };
    var root = svg("svg", { width: width, height: height, viewBox: "0 0 " + width + " " + height, role: "img", "aria-label": plot.title });
    ticks(sc.lo, sc.hi).forEach(function (t) {
      root.appendChild(svg("line", { "class": "grid", x1: x(t), x2: x(t), y1: top - 6, y2: top + rows.length * rowH }));
      root.appendChild(svg("text", { x: x(t), y: top + rows.length * rowH + 14, "text-anchor": "middle" }, Number(t.toFixed(3)).toString()));
    });
    root.appendChild(svg("text", { x: left + w / 2, y: top + rows.length * rowH + 30, "text-anchor": "middle" },
                         plot.value_label + ": ○ " + plot.from_label + " → □ " + plot.to_label));
    rows.forEach(function (r, i) {
      var yy = top + i * rowH + rowH / 2;
      if (r.header !== undefined) {
        root.appendChild(svg("text", { x: 4, y: yy + 5, "font-weight": "bold" }, r.header));
        return;
      }
      var color = COLORS[r.s.model] || "#888";
      root.appendChild(svg("text", { x: left - 8, y: yy + 4, "text-anchor": "end" }, r.s.label));
      if (r.a !== null && r.b !== null) {
        root.appendChild(svg("line", { x1: x(r.a), x2: x(r.b), y1: yy, y2: yy, stroke: color, "stroke-width": 2 }));
      }
      if (r.a !== null) {
        var c = svg("circle", { cx: x(r.a), cy: yy, r: 4, fill: "#fff", stroke: color, "stroke-width": 2 });
        c.appendChild(svg("title", {}, r.s.label + " — " + r.cat + " " + plot.from_label + ": " + fmt(r.a)));
        root.appendChild(c);
      }
      if (r.b !== null) {
        var q = svg("rect", { x: x(r.b) - 4, y: yy - 4, width: 8, height: 8, fill: color });
        q.appendChild(svg("title", {}, r.s.label + " — " + r.cat + " " + plot.to_label + ": " + fmt(r.b)));
        root.appendChild(q);
      }
    });
    return root;
  }

  var CHARTS = { grouped_bars: groupedBars, dumbbell: dumbbell };

  function renderPlots() {
    var box = document.getElementById("lb-plots");
    if (!DATA.plots.length) {
      box.appendChild(el("p", { "class": "notes" }, ["No task in this leaderboard provides a plot (its tables are absent)."]));
      return;
    }
    DATA.plots.forEach(function (p) {
      var draw = CHARTS[p.type];
      var div = el("div", { "class": "plot", id: "plot-" + p.id, "data-plot": p.id });
      div.appendChild(el("h3", {}, [p.title]));
      if (!draw) { div.appendChild(el("p", { "class": "problem warning" }, ["unknown chart type " + p.type])); box.appendChild(div); return; }
      div.appendChild(legend(p.series));
      div.appendChild(draw(p));
      div.appendChild(el("p", { "class": "note" }, [p.note]));
      box.appendChild(div);
    });
  }

  function main() {
    DATA = JSON.parse(document.getElementById("lb-data").textContent);
    DATA.models.forEach(function (m, i) { COLORS[m.id] = PALETTE[i % PALETTE.length]; });
    renderTexts();
    applyHashSort();
    renderTable();
    renderPlots();
    document.getElementById("lb-show").addEventListener("change", renderTable);
    if (!errors.length) { setStatus("ready"); }
  }

  try { main(); } catch (e) { reportError((e && e.stack) || e); }
})();
