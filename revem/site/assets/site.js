/* revem validation dashboard: sorting and filtering of the overview, the interactive plots of a report,
 * the comparison of two reports.  No server, no fetch (pages work from file://): a report's data is a
 * script, reports/<id>.data.js, that registers itself in window.REVEM_DATA.
 *
 * Everything from a results file is put into the page with textContent, never innerHTML; Plotly gets
 * trace names that the generator escaped already (and esc() below for the names made here). */
(function () {
  "use strict";

  var A_COLOUR = "#d62728", B_COLOUR = "#1f77b4";
  var PLOT_CONFIG = {responsive: true, displaylogo: false, modeBarButtonsToRemove: ["select2d", "lasso2d"]};

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    if (attrs) Object.keys(attrs).forEach(function (k) {
      if (k === "style") e.style.cssText = attrs[k];
      else if (k === "className") e.className = attrs[k];
      else e.setAttribute(k, attrs[k]);
    });
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function esc(s) {  // for Plotly labels, which accept a subset of HTML
    return String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  }

  function fmt(v, digits) {  // like the reports' _fmt: significant digits, – for none
    if (v === null || v === undefined || (typeof v === "number" && !isFinite(v))) return "–";
    if (typeof v === "boolean") return v ? "yes" : "no";
    if (typeof v === "number") {
      if (Number.isInteger(v)) return String(v);
      var s = v.toPrecision(digits || 4);
      if (s.indexOf("e") < 0 && s.indexOf(".") >= 0) s = s.replace(/0+$/, "").replace(/\.$/, "");
      return s;
    }
    return String(v);
  }

  /* -- the overview: sort and filter ------------------------------------------------------------------ */
  function initOverview() {
    var table = document.getElementById("overview");
    if (!table) return;
    var tbody = table.tBodies[0];
    var heads = Array.prototype.slice.call(table.tHead.rows[0].cells);
    heads.forEach(function (th, idx) {
      th.tabIndex = 0;
      th.setAttribute("aria-sort", "none");
      var go = function () { sortBy(idx, th); };
      th.addEventListener("click", go);
      th.addEventListener("keydown", function (ev) { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); go(); } });
    });

    function sortBy(idx, th) {
      var numeric = th.getAttribute("data-type") === "num";
      // numbers: worst first on the first click; text: A to Z
      var desc = th.getAttribute("aria-sort") === "none" ? numeric : th.getAttribute("aria-sort") === "ascending";
      heads.forEach(function (h) { h.setAttribute("aria-sort", "none"); });
      th.setAttribute("aria-sort", desc ? "descending" : "ascending");
      var rows = Array.prototype.slice.call(tbody.rows);
      rows.sort(function (a, b) {
        var x = a.cells[idx].getAttribute("data-sort"), y = b.cells[idx].getAttribute("data-sort");
        var c = numeric ? parseFloat(x) - parseFloat(y) : x.localeCompare(y);
        if (c === 0) c = a.getAttribute("data-id").localeCompare(b.getAttribute("data-id"));
        return desc ? -c : c;
      });
      rows.forEach(function (r) { tbody.appendChild(r); });
    }

    var fEl = document.getElementById("f-element"), fProp = document.getElementById("f-property");
    var fVerdict = document.getElementById("f-verdict"), fText = document.getElementById("f-text");
    var count = document.getElementById("shown-count");

    function apply() {
      var e = fEl.value, p = fProp.value, v = fVerdict.value, t = fText.value.trim().toLowerCase(), shown = 0;
      Array.prototype.forEach.call(tbody.rows, function (r) {
        var ok = (!e || r.getAttribute("data-element") === e)
          && (!p || r.getAttribute("data-props").split(" ").indexOf(p) >= 0)
          && (!v || r.getAttribute("data-verdict") === v)
          && (!t || r.getAttribute("data-potential").indexOf(t) >= 0);
        r.hidden = !ok;
        if (ok) shown += 1;
      });
      Array.prototype.forEach.call(table.querySelectorAll("[data-prop]"), function (c) {
        c.classList.toggle("off", !!p && c.getAttribute("data-prop") !== p);
      });
      count.textContent = shown + " of " + tbody.rows.length + " shown";
      var q = [];
      if (e) q.push("element=" + encodeURIComponent(e));
      if (p) q.push("property=" + encodeURIComponent(p));
      if (v) q.push("verdict=" + encodeURIComponent(v));
      if (t) q.push("q=" + encodeURIComponent(t));
      history.replaceState(null, "", q.length ? "#" + q.join("&") : location.pathname + location.search);
    }

    var h = parseHash();  // filters kept in the address: #element=W&property=eos
    function choose(sel, value) {
      if (value && Array.prototype.some.call(sel.options, function (o) { return o.value === value; })) sel.value = value;
    }
    choose(fEl, h.element); choose(fProp, h.property); choose(fVerdict, h.verdict);
    if (h.q) fText.value = h.q;
    [fEl, fProp, fVerdict].forEach(function (s) { s.addEventListener("change", apply); });
    fText.addEventListener("input", apply);
    apply();
  }

  function parseHash() {
    var out = {};
    location.hash.replace(/^#/, "").split("&").forEach(function (kv) {
      var i = kv.indexOf("=");
      if (i > 0) {
        try { out[decodeURIComponent(kv.slice(0, i))] = decodeURIComponent(kv.slice(i + 1)); } catch (err) { /* ignore */ }
      }
    });
    return out;
  }

  /* -- plots ---------------------------------------------------------------------------------------------- */
  function plot(container, title, traces, layout) {
    var fig = el("div", {className: "figure"});
    fig.appendChild(el("h3", null, title));
    var div = el("div", {className: "plot"});
    fig.appendChild(div);
    container.appendChild(fig);
    if (window.Plotly) window.Plotly.newPlot(div, traces, layout, PLOT_CONFIG);
    else div.appendChild(el("p", {className: "muted"}, "Plotly did not load (assets/plotly.min.js)."));
  }

  function initReport() {
    var box = document.getElementById("figures");
    if (!box) return;
    var d = (window.REVEM_DATA || {})[box.getAttribute("data-report")];
    if (!d) { box.appendChild(el("p", {className: "muted"}, "The report's data did not load.")); return; }
    d.figures.forEach(function (f) { plot(box, f.title, f.ref.concat(f.pot), f.layout); });
  }

  function openTarget() {  // a link to a closed <details> opens it
    var id = decodeURIComponent(location.hash.replace(/^#/, ""));
    var t = id && document.getElementById(id);
    if (t && t.tagName === "DETAILS") t.open = true;
  }

  /* -- the comparison ----------------------------------------------------------------------------------- */
  function recolour(trace, colour, prefix, group) {
    var t = JSON.parse(JSON.stringify(trace));
    if (t.line) t.line.color = colour;
    if (t.marker) t.marker.color = colour;
    t.name = prefix + (t.name || "");
    t.legendgroup = group + (t.legendgroup || "");
    return t;
  }

  function initCompare() {
    var listNode = document.getElementById("reports-data");
    if (!listNode) return;
    var reports = JSON.parse(listNode.textContent);
    var known = Object.create(null);  // no inherited keys: "#a=__proto__" is not a report
    reports.forEach(function (r) { known[r.id] = r; });
    var selA = document.getElementById("pick-a"), selB = document.getElementById("pick-b");
    var fProp = document.getElementById("c-property"), fScored = document.getElementById("c-scored");
    var status = document.getElementById("compare-status");

    var h = parseHash();
    var count = {};  // default A: the first report of an element that has two or more
    reports.forEach(function (r) { count[r.element] = (count[r.element] || 0) + 1; });
    var first = reports.filter(function (r) { return count[r.element] > 1; })[0] || reports[0];
    var a = known[h.a] ? h.a : (first && first.id);
    var b = known[h.b] ? h.b : null;
    if (!b && a) {  // default B: another report of A's element
      var other = reports.filter(function (r) { return r.id !== a && r.element === known[a].element; })[0]
        || reports.filter(function (r) { return r.id !== a; })[0];
      b = other ? other.id : a;
    }
    if (a) selA.value = a;
    if (b) selB.value = b;

    function load(id, done) {  // reports/<id>.data.js, only for ids of the list (never a path from the address)
      window.REVEM_DATA = window.REVEM_DATA || {};
      if (!known[id]) { done(null); return; }
      if (window.REVEM_DATA[id]) { done(window.REVEM_DATA[id]); return; }
      var s = document.createElement("script");
      s.src = "reports/" + encodeURIComponent(id) + ".data.js";
      s.onload = function () { done(window.REVEM_DATA[id] || null); };
      s.onerror = function () { done(null); };
      document.head.appendChild(s);
    }

    function update() {
      var ia = selA.value, ib = selB.value;
      history.replaceState(null, "", "#a=" + encodeURIComponent(ia) + "&b=" + encodeURIComponent(ib));
      status.textContent = "loading…";
      load(ia, function (da) {
        load(ib, function (db) {
          if (!da || !db) { status.textContent = "could not load the data of " + (!da ? ia : ib); return; }
          status.textContent = "";
          render(da, db);
        });
      });
    }

    function render(da, db) {
      renderSummary(da, db);
      renderScorecards(da, db);
      renderFigures(da, db);
      renderRecords(da, db);
    }

    function renderSummary(da, db) {
      var box = document.getElementById("c-summary");
      box.textContent = "";
      var grid = el("div", {className: "pair"});
      [[da, "A", A_COLOUR], [db, "B", B_COLOUR]].forEach(function (x) {
        var d = x[0], card = el("div", {className: "card", style: "border-top:4px solid " + x[2]});
        var h = el("h2");
        h.appendChild(el("span", {className: "muted"}, x[1] + " "));
        var link = el("a", {href: "reports/" + encodeURIComponent(d.id) + ".html"}, d.potential);
        h.appendChild(link);
        h.appendChild(el("span", {className: "muted"}, " · " + d.element + " · " + d.tier));
        card.appendChild(h);
        var p = el("p");
        p.appendChild(el("span", {className: "badge " + String(d.word).toLowerCase()}, d.word));
        var line = String(d.line), w = String(d.word) + ": ";
        p.appendChild(document.createTextNode(" " + (line.indexOf(w) === 0 ? line.slice(w.length) : line)));
        card.appendChild(p);
        grid.appendChild(card);
      });
      box.appendChild(grid);
    }

    function renderScorecards(da, db) {
      var box = document.getElementById("c-scorecard");
      box.textContent = "";
      var props = {};
      da.scorecard.concat(db.scorecard).forEach(function (s) { props[s.property] = true; });
      var byA = {}, byB = {};
      da.scorecard.forEach(function (s) { byA[s.property] = s; });
      db.scorecard.forEach(function (s) { byB[s.property] = s; });
      var t = el("table", {className: "grid", id: "c-scorecard-table"});
      var head = el("tr");
      ["property", "A passed / scored", "A worst |error|/tol", "B passed / scored", "B worst |error|/tol"].forEach(function (x) {
        head.appendChild(el("th", null, x));
      });
      t.appendChild(el("thead")).appendChild(head);
      var tb = el("tbody");
      Object.keys(props).sort().forEach(function (p) {
        var tr = el("tr");
        tr.appendChild(el("td", null, p));
        [byA[p], byB[p]].forEach(function (s) {
          tr.appendChild(el("td", {className: "n"}, s ? s.passed + " / " + s.scored : "not run"));
          tr.appendChild(el("td", {className: "n", style: s ? s.style : ""}, s ? fmt(s.worst, 3) : "–"));
        });
        tb.appendChild(tr);
      });
      t.appendChild(tb);
      box.appendChild(t);
    }

    function renderFigures(da, db) {
      var box = document.getElementById("c-figures");
      box.textContent = "";
      var keys = [], fa = {}, fb = {};
      da.figures.forEach(function (f) { fa[f.key] = f; keys.push(f.key); });
      db.figures.forEach(function (f) { fb[f.key] = f; if (!fa[f.key]) keys.push(f.key); });
      var prop = fProp.value;
      keys.filter(function (k) { return !prop || k.split(":")[0] === prop; }).forEach(function (k) {
        var f = fa[k] || fb[k];
        var traces = (fa[k] || fb[k]).ref.slice();
        if (fa[k]) fa[k].pot.forEach(function (t) { traces.push(recolour(t, A_COLOUR, "A " + esc(da.potential) + ": ", "A")); });
        if (fb[k]) fb[k].pot.forEach(function (t) { traces.push(recolour(t, B_COLOUR, "B " + esc(db.potential) + ": ", "B")); });
        plot(box, f.title + (fa[k] && fb[k] ? "" : " (only " + (fa[k] ? "A" : "B") + ")"), traces, f.layout);
      });
      document.getElementById("c-plots-section").hidden = !box.children.length;
    }

    function key(r) { return [r.property, r.case, r.quantity, r.reference_source || ""].join("\u0000"); }

    function renderRecords(da, db) {
      var box = document.getElementById("c-records");
      box.textContent = "";
      var prop = fProp.value, scoredOnly = fScored.checked;
      var rows = {}, order = [];
      [[da, "a"], [db, "b"]].forEach(function (x) {
        x[0].records.forEach(function (r) {
          var k = key(r);
          if (!rows[k]) { rows[k] = {}; order.push(k); }
          if (!rows[k][x[1]]) rows[k][x[1]] = r;
        });
      });
      order.sort();
      var t = el("table", {className: "grid numbers", id: "c-records-table"});
      var head = el("tr");
      ["property", "case", "quantity", "unit", "reference", "A " + da.potential, "A |error|/tol",
       "B " + db.potential, "B |error|/tol", "B − A", "source"].forEach(function (x) { head.appendChild(el("th", null, x)); });
      t.appendChild(el("thead")).appendChild(head);
      var tb = el("tbody"), n = 0;
      order.forEach(function (k) {
        var ra = rows[k].a, rb = rows[k].b, r = ra || rb;
        if (prop && r.property !== prop) return;
        if (scoredOnly && !((ra && ra.passed !== null) || (rb && rb.passed !== null))) return;
        var tr = el("tr");
        [r.property, r.case, r.quantity, r.unit].forEach(function (x) { tr.appendChild(el("td", null, x)); });
        tr.appendChild(el("td", {className: "n"}, fmt(r.reference)));
        [ra, rb].forEach(function (x) {
          tr.appendChild(el("td", {className: "n" + (x && x.passed === false ? " fail" : "")}, x ? fmt(x.value) : "–"));
          tr.appendChild(el("td", {className: "n", style: x ? x.style : ""}, x ? fmt(x.ratio, 3) : "–"));
        });
        var dv = ra && rb && typeof ra.value === "number" && typeof rb.value === "number" ? rb.value - ra.value : null;
        tr.appendChild(el("td", {className: "n"}, fmt(dv, 3)));
        tr.appendChild(el("td", {className: "src", title: r.reference_source || ""}, (r.reference_source || "").slice(0, 60)));
        tb.appendChild(tr);
        n += 1;
      });
      t.appendChild(tb);
      box.appendChild(el("p", {className: "muted"}, n + " numbers"));
      box.appendChild(t);
    }

    document.getElementById("swap").addEventListener("click", function () {
      var x = selA.value; selA.value = selB.value; selB.value = x; update();
    });
    [selA, selB, fProp].forEach(function (s) { s.addEventListener("change", update); });
    fScored.addEventListener("change", update);
    if (reports.length) update();
    else status.textContent = "no report to compare";
  }

  var page = document.body.getAttribute("data-page");
  if (page === "overview") initOverview();
  if (page === "report") { initReport(); openTarget(); window.addEventListener("hashchange", openTarget); }
  if (page === "compare") initCompare();
})();
