"""The pages of the dashboard: Jinja2 templates (``templates/``, autoescaped) filled from :mod:`.collect`.

Everything that comes from a results file reaches a page in one of two ways, both escaped:

* as text or attribute values of a template: Jinja2's autoescaping (``&<>"'`` become entities);
* as data for ``site.js`` (report records, figures, the list of reports): JSON written by
  :func:`json_for_html` (Jinja2's ``htmlsafe_json_dumps``: ``<``, ``>``, ``&`` and ``'`` as ``\\u`` escapes, so
  no string can close a ``<script>``), which ``site.js`` puts into the page with ``textContent`` only.

Colours: the worst |error| / tolerance on a logarithmic blue–white–red scale (``RdBu_r``, white at 1,
saturated at 1/10 and 10), the scale of ``summary_error_over_tolerance.png``.
"""
from __future__ import annotations

import math
import re
from collections import defaultdict
from functools import cache, lru_cache
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, select_autoescape
from jinja2.utils import htmlsafe_json_dumps

from ..validation.report import fmt, short_verdict
from .collect import RECORD_FIELDS, Collection, Report, ratio
from .figures import figures

SPAN = 10.0  # the colour scale saturates at 1/SPAN and SPAN
VERDICT_ORDER = {"PASS": 0, "INCOMPLETE": 1, "FAIL": 2}


@cache
def env() -> Environment:
    e = Environment(loader=PackageLoader("revem.site", "templates"), autoescape=select_autoescape(["html"]),
                    trim_blocks=True, lstrip_blocks=True)
    e.filters["num"] = num
    e.filters["url"] = lambda s: quote(str(s), safe="")
    e.filters["slug"] = lambda s: re.sub(r"[^A-Za-z0-9_-]", "_", str(s))
    return e


def render(template: str, **ctx) -> str:
    return env().get_template(template).render(**ctx)


def clean(obj):
    """JSON-safe data: non-finite floats become null (JSON has no NaN), tuples lists, keys strings."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean(v) for v in obj]
    if obj is None or isinstance(obj, (str, int, bool)):
        return obj
    return str(obj)


def json_for_html(obj) -> str:
    """JSON that is also safe inside ``<script>`` and in a ``.js`` file (no ``</script>``, no U+2028)."""
    return str(htmlsafe_json_dumps(clean(obj))).replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def num(v, digits: int = 4) -> str:
    """A number as the reports print it (``fmt``): 4 significant digits, – for none."""
    return fmt(v, digits)


@lru_cache(maxsize=4096)
def _colour(x: float) -> tuple[str, str]:
    import matplotlib
    from matplotlib.colors import LogNorm, to_hex

    cmap = matplotlib.colormaps["RdBu_r"]
    t = float(LogNorm(vmin=1 / SPAN, vmax=SPAN)(min(max(x, 1 / SPAN), SPAN)))
    text = "#fff" if abs(math.log10(max(x, 1e-12))) > 0.6 * math.log10(SPAN) else "#000"
    return to_hex(cmap(t)), text


def colour(x: float | None) -> str:
    """CSS of a cell showing the ratio ``x`` (empty for none)."""
    if x is None or not math.isfinite(x):
        return ""
    bg, fg = _colour(round(x, 3))
    return f"background:{bg};color:{fg}" + (";font-weight:700" if x > 1 else "")


def legend() -> list[dict]:
    """The colour scale's stops for the legend bar."""
    return [{"label": f"{x:g}", "style": colour(x)} for x in (0.1, 0.3, 0.5, 0.8, 1.0, 1.25, 2, 3, 10)]


# -- the overview ----------------------------------------------------------------------------------------
def _sort_ratio(cell) -> float:
    """Sort key of a property cell: the worst ratio; a failure without a ratio (crash) above any ratio;
    nothing scored below any ratio (-1); property not run lowest (-2)."""
    if cell is None:
        return -2.0
    if cell.worst is not None:
        return cell.worst
    return 1e9 if cell.failed else -1.0


def overview_rows(col: Collection) -> list[dict]:
    rows = []
    for rep in col.reports:
        cells = []
        for prop in col.properties:
            c = rep.props.get(prop)
            if c is None:
                cells.append({"prop": prop, "text": "", "title": f"{prop}: not run", "style": "", "sort": -2.0})
                continue
            if c.worst is not None:
                text = num(c.worst, 2)
            else:
                text = "FAIL" if c.failed else "rep."
            title = (f"{prop}: worst |error|/tolerance {num(c.worst, 3)} ({c.worst_what}); {c.scored - c.failed} "
                     f"of {c.scored} scored numbers passed" if c.worst is not None else
                     f"{prop}: {c.failed} failed of {c.scored} scored" if c.failed else
                     f"{prop}: {c.records} numbers reported, none scored")
            if c.regressions:
                title += f"; {c.regressions} regressions"
            style = colour(c.worst) if c.worst is not None else ("background:#b2182b;color:#fff" if c.failed else "")
            cells.append({"prop": prop, "text": text + ("*" if c.regressions else ""), "title": title,
                          "style": style, "sort": _sort_ratio(c), "failed": c.failed})
        cv = rep.cv
        rows.append({"id": rep.id, "potential": rep.potential, "element": rep.element, "tier": rep.tier,
                     "word": rep.word, "word_sort": VERDICT_ORDER.get(rep.word, 3), "line": rep.line,
                     "failed": len(cv["failed"]), "ran": cv["ran"], "planned": cv["planned"],
                     "missing": len(cv["missing"]), "regressions": rep.counts["regressions"],
                     "props": " ".join(p for p in col.properties if p in rep.props), "cells": cells})
    return rows


def matrix(col: Collection) -> dict:
    """potential × element: the reports (one per tier) of each pair."""
    cells = defaultdict(lambda: defaultdict(list))
    for rep in col.reports:  # the label of summary.md's matrix: FAIL n/N (n of N cases failed), PASS, INCOMPLETE
        cells[rep.potential][rep.element].append({"id": rep.id, "word": rep.word, "tier": rep.tier, "line": rep.line,
                                                  "short": short_verdict(rep.cv)})
    return {"potentials": col.potentials, "elements": col.elements,
            "cells": {p: dict(by_el) for p, by_el in cells.items()},
            "tiers": len({rep.tier for rep in col.reports}) > 1}


# -- a report page ---------------------------------------------------------------------------------------
def _why(r: dict) -> str:
    if not r.get("converged", True):
        return "not converged"
    if r.get("quantity") == "error" and r.get("value") is None:
        return "crashed"
    if "FLAG:" in str(r.get("note") or ""):
        return "red flag"
    return "identity broken" if r.get("policy") == "identity" else "outside tolerance"


def _baseline(r: dict) -> dict:
    b = r.get("baseline")
    return b if isinstance(b, dict) else {}


def coverage(rep: Report) -> dict | None:
    """The coverage labels of the training data (like ``report.coverage_table``), or None when unlabelled."""
    recs = rep.records
    if not any(r.get("domain") for r in recs):
        return None
    by = defaultdict(lambda: defaultdict(int))
    for r in recs:
        if r.get("passed") is not None:
            d = r.get("domain") if r.get("domain") in ("in-domain", "extrapolating") else None
            by[r["property"]][(bool(r["passed"]), d)] += 1
    counts = [{"property": p, "pass_in": n[(True, "in-domain")], "pass_out": n[(True, "extrapolating")],
               "fail_in": n[(False, "in-domain")], "fail_out": n[(False, "extrapolating")],
               "unlabelled": n[(True, None)] + n[(False, None)]} for p, n in sorted(by.items())]
    cases = {}
    for r in recs:
        k = (r["property"], r["case"])
        if k not in cases or (r.get("coverage") is not None and cases[k].get("coverage") is None):
            cases[k] = r

    def _cov(r):
        try:
            return float(r.get("coverage"))
        except (TypeError, ValueError):
            return -1.0

    rows = [{"property": p, "case": c, "label": r.get("domain") or "not labelled", "ratio": r.get("coverage"),
             "structures": r.get("coverage_structures"),
             "failed": sum(x.get("passed") is False for x in recs if (x["property"], x["case"]) == (p, c))}
            for (p, c), r in sorted(cases.items(), key=lambda kv: -_cov(kv[1]))]
    dom = rep.meta.get("training_domain") if isinstance(rep.meta.get("training_domain"), dict) else {}
    return {"counts": counts, "cases": rows, "domain": dom}


def scorecard(rep: Report) -> list[dict]:
    return [{"property": p, "status": c.status, "scored": c.scored, "passed": c.scored - c.failed,
             "failed": c.failed, "regressions": c.regressions, "worst": c.worst, "worst_what": c.worst_what or "–",
             "style": colour(c.worst)} for p, c in rep.props.items()]


def record_row(r: dict) -> dict:
    """A record as the pages and ``site.js`` show it: the fields of :data:`RECORD_FIELDS`, the ratio and its
    colour, the baseline comparison."""
    row = {k: r.get(k) for k in RECORD_FIELDS}
    x = ratio(r)
    row["ratio"] = x
    row["style"] = colour(x) if r.get("passed") is not None else ""
    row["verdict"] = ("UNCONVERGED" if not r.get("converged", True) else
                      {True: "pass", False: "FAIL"}.get(r.get("passed"), "reported"))
    b = _baseline(r)
    if b:
        row["baseline"] = {k: b.get(k) for k in ("old", "new", "delta", "noise", "direction", "regression")}
    return row


def report_context(rep: Report) -> dict:
    recs = rep.records
    fails = sorted((r for r in recs if r.get("passed") is False),
                   key=lambda r: -(ratio(r) if ratio(r) is not None else math.inf))
    regress = sorted((r for r in recs if _baseline(r).get("regression")),
                     key=lambda r: -abs((_num(_baseline(r).get("delta")) or 0) / (_num(_baseline(r).get("noise")) or 1)))
    by_prop = defaultdict(list)
    for r in recs:
        by_prop[r["property"]].append(record_row(r))
    pot = rep.meta.get("potential") or {}
    return {"rep": rep, "pot": pot, "versions": rep.meta.get("versions") if isinstance(rep.meta.get("versions"), dict) else {},
            "scorecard": scorecard(rep), "coverage": coverage(rep),
            "failures": [dict(record_row(r), why=_why(r)) for r in fails],
            "regressions": [record_row(r) for r in regress],
            "baseline_problems": [str(p) for p in rep.meta.get("baseline_problems") or []],
            "by_prop": dict(sorted(by_prop.items())),
            "missing": [f"{p}/{c}" for p, c in rep.cv["missing"]],
            "skipped": [(f"{p}/{c}", str(rep.cv["skip_reasons"].get((p, c), ""))) for p, c in rep.cv["skipped"]]}


def _num(x) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def report_data(rep: Report) -> tuple[dict, list[str]]:
    """What ``site.js`` needs of a report (its page's plots, the comparison page): records and figures."""
    figs, problems = figures(rep.records)
    return {"id": rep.id, "potential": rep.potential, "element": rep.element, "tier": rep.tier, "word": rep.word,
            "line": rep.line, "failed": len(rep.cv["failed"]), "ran": rep.cv["ran"], "planned": rep.cv["planned"],
            "scorecard": [{k: v for k, v in s.items()} for s in scorecard(rep)],
            "records": [record_row(r) for r in rep.records], "figures": figs}, problems


def data_js(rep_id: str, data: dict) -> str:
    """``reports/<id>.data.js``: registers the report's data (a script, since ``fetch`` fails from file://)."""
    return ("window.REVEM_DATA = window.REVEM_DATA || {};\n"
            f"window.REVEM_DATA[{json_for_html(rep_id)}] = {json_for_html(data)};\n")
