"""Interactive (Plotly) figures of the dashboard, built from the plot data each record's ``data`` holds.

One figure where a person would zoom: the E–V curves (:mod:`revem.validation.properties.eos_plots`), the
γ-lines (:mod:`~revem.validation.properties.gsfe_plot`), the phonon bands
(:mod:`~revem.validation.properties.phonons`) and the dimer curves
(:mod:`~revem.validation.properties.robustness`): the same data and colours as the static PNGs (DFT /
reference black, the potential red, tolerances grey), which the reports keep.

A figure is a plain dict (JSON) that ``site.js`` hands to ``Plotly.newPlot``::

    {"key": "eos:E-V", "title": ..., "ref": [traces], "pot": [traces], "layout": {...}}

``ref`` holds what does not depend on the potential (DFT points, tolerance bands), ``pot`` the potential's
traces (coloured :data:`POTENTIAL`): the comparison page draws one report's ``ref`` and both reports'
``pot`` traces in one plot, the second recoloured.  Trace names and axis titles that come from a results
file are HTML-escaped here (Plotly renders a subset of HTML in them); ``title`` is plain text (the page
sets it as text); numbers are checked finite.
"""
from __future__ import annotations

import html
import math

import numpy as np

POTENTIAL = "#d62728"  # matplotlib's tab:red, the potential in the PNGs
DFT = "#000000"
TOLERANCE = "rgba(160,160,160,0.35)"
SYMBOLS = ("circle", "square", "triangle-up", "diamond", "triangle-down", "cross", "x", "triangle-left",
           "triangle-right")


def esc(text) -> str:
    """Text from a results file as Plotly shows it literally (its labels accept a subset of HTML)."""
    return html.escape(str(text), quote=False)  # Plotly shows &quot; literally; quotes are harmless in its text


def _num(x) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _nums(xs) -> list:
    """A list of finite floats or None (JSON null: a gap in a Plotly line)."""
    if not isinstance(xs, (list, tuple, np.ndarray)):
        return []
    return [_num(x) for x in xs]


def _layout(title: str, xtitle: str, ytitle: str, **extra) -> dict:
    lay = {"title": {"text": title, "font": {"size": 13}}, "margin": {"l": 60, "r": 20, "t": 40, "b": 50},
           "xaxis": {"title": {"text": xtitle}, "gridcolor": "#eee", "zeroline": False},
           "yaxis": {"title": {"text": ytitle}, "gridcolor": "#eee", "zeroline": False},
           "paper_bgcolor": "white", "plot_bgcolor": "white", "hovermode": "closest",
           "legend": {"font": {"size": 10}}, "height": 380}
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(lay.get(k), dict):
            lay[k] = {**lay[k], **v}
        else:
            lay[k] = v
    return lay


def _line(x, y, name, colour=POTENTIAL, dash="solid", mode="lines", symbol="circle", width=1.6, **kw) -> dict:
    return {"type": "scatter", "mode": mode, "x": _nums(x), "y": _nums(y), "name": esc(name),
            "line": {"color": colour, "dash": dash, "width": width},
            "marker": {"color": colour, "symbol": symbol, "size": 7}, **kw}


def _band(x, lo, hi, name) -> dict:
    """A grey band between ``lo`` and ``hi`` (a closed polygon)."""
    x, lo, hi = _nums(x), _nums(lo), _nums(hi)
    return {"type": "scatter", "mode": "lines", "x": x + x[::-1], "y": hi + lo[::-1], "fill": "toself",
            "fillcolor": TOLERANCE, "line": {"width": 0}, "name": esc(name), "hoverinfo": "skip"}


def _box(x0, x1, y0, y1, name, showlegend=True) -> dict:
    b = _band([x0, x1], [y0, y0], [y1, y1], name)
    b["showlegend"] = showlegend
    b["legendgroup"] = "tolerance"
    return b


# -- E–V curves ------------------------------------------------------------------------------------
def eos_figures(records: list[dict]) -> list[dict]:
    """E − E0(base) against the volume per atom: the potential's points and fit, the DFT E–V points and the
    DFT V0 ± tol × E0_rel ± tol boxes (like ``eos_curves.png``)."""
    from ..validation.properties.eos_plots import _fit_curve

    curves = {}
    for r in records:
        d = r.get("data")
        if isinstance(d, dict) and d.get("volumes") and d.get("energies"):
            curves[str(r["case"])] = d
    if not curves:
        return []
    base = next((str(d["base"]) for d in curves.values() if d.get("base")), "bcc")
    e_base = _num(curves.get(base, {}).get("E0"))
    if e_base is None:
        return []
    refs: dict = {}
    for r in records:
        if r.get("quantity") in ("V0", "E0_rel") and _num(r.get("reference")) is not None:
            refs.setdefault((str(r["case"]), r["quantity"]), []).append(
                (r.get("reference_source"), float(r["reference"]), _num(r.get("tolerance")) or 0.0))
    ref_tr, pot_tr = [], []
    box_legend = dft_legend = True
    order = sorted(curves.items(), key=lambda kv: _num(kv[1].get("E0_rel")) or 0.0)
    for i, (case, d) in enumerate(order):
        sym = SYMBOLS[i % len(SYMBOLS)]
        v = np.array([_num(x) if _num(x) is not None else np.nan for x in d["volumes"]], float)
        e = np.array([_num(x) if _num(x) is not None else np.nan for x in d["energies"]], float)
        if len(v) != len(e):
            continue
        ok = np.isfinite(v) & np.isfinite(e)
        if not ok.any():
            continue
        label = case + (f" (relaxed into {d['relaxed_into']})" if d.get("relaxed_into") else "")
        dash = "dot" if d.get("relaxed_into") else "solid"
        dense = np.linspace(v[ok].min(), v[ok].max(), 80)
        fit = _fit_curve(d, dense)
        if fit is not None:
            pot_tr.append(_line(dense, fit - e_base, f"{label} fit", dash=dash, legendgroup=f"eos-{case}",
                                showlegend=False, hoverinfo="skip"))
        pot_tr.append(_line(v[ok], e[ok] - e_base, label, mode="markers" if fit is not None else "lines+markers",
                            symbol=sym, dash=dash, legendgroup=f"eos-{case}"))
        dft = (d.get("dft") or {}).get(case) if isinstance(d.get("dft"), dict) else None
        e0_dft = _num(dft.get("E0_base", dft.get("E0_bcc"))) if isinstance(dft, dict) else None
        if dft and e0_dft is not None and dft.get("volumes"):
            ed = [None if x is None else x - e0_dft for x in _nums(dft.get("energies"))]
            ref_tr.append({"type": "scatter", "mode": "markers", "x": _nums(dft["volumes"]), "y": ed,
                           "name": esc(f"DFT {case}"), "legendgroup": "dft", "showlegend": dft_legend,
                           "marker": {"color": DFT, "symbol": sym + "-open", "size": 6}})
        for src, v0, tv in refs.get((case, "V0"), []):
            es = refs.get((case, "E0_rel"), [])
            same = [x for x in es if x[0] == src] or es[:1]
            if not same and case != base:
                continue
            e0, te = (same[0][1], same[0][2]) if same else (0.0, 0.0)
            te = te or 0.002  # a visible sliver where E0_rel has no tolerance (the base case: zero by definition)
            ref_tr.append(_box(v0 - tv, v0 + tv, e0 - te, e0 + te, "DFT V0 ± tol, E0_rel ± tol", box_legend))
            box_legend = False
    return [{"key": "eos:E-V", "title": f"E–V curves vs DFT (relative to {base})",
             "ref": ref_tr, "pot": pot_tr,
             "layout": _layout("", "volume (Å³/atom)", f"E − E0({esc(base)}) (eV/atom)")}]


# -- γ-lines -------------------------------------------------------------------------------------------
def _rec(records, case, quantity):
    return next((r for r in records if r.get("case") == case and r.get("quantity") == quantity
                 and _num(r.get("reference")) is not None and _num(r.get("tolerance")) is not None), None)


def gsfe_figures(records: list[dict]) -> list[dict]:
    """γ(u) per plane (bcc (110) and (112): DFT points, the RMSE tolerance band, the potential's lines at the
    DFT and at its own lattice constant) or per own line (fcc/hcp, with the reference fault energies)."""
    from ..validation.properties.gsfe_cells import OWN_LINES, OWN_RELAXED, STACKING_FAULT

    curves = {str(r.get("case")): r["data"] for r in records if isinstance(r.get("data"), dict) and r["data"]}
    figs = []
    for plane in ("110", "112"):
        ref_tr, pot_tr = [], []
        u = curves.get(f"{plane}_unrelaxed")
        if u and u.get("f") and u.get("gamma_dft"):
            f = np.array([_num(x) if _num(x) is not None else np.nan for x in u["f"]], float)
            g = np.array([_num(x) if _num(x) is not None else np.nan for x in u["gamma_dft"]], float)
            if len(f) == len(g):
                ok = np.isfinite(f) & np.isfinite(g)
                fu = np.unique(f[ok])
                gu = np.array([g[ok][f[ok] == x].mean() for x in fu])
                rm = _rec(records, f"{plane}_unrelaxed", "rmse")
                if rm and float(rm["tolerance"]) > 0 and len(fu) > 1:
                    t = float(rm["tolerance"])
                    ref_tr.append(_band(fu, gu - t, gu + t, "DFT ± tolerance of the RMSE"))
                us = _rec(records, f"{plane}_unrelaxed", "gamma_us_sampled")
                if us and float(us["tolerance"]) > 0 and len(gu):
                    t, ref = float(us["tolerance"]), float(us["reference"])
                    fx = float(fu[int(np.argmin(np.abs(gu - ref)))])
                    ref_tr.append(_box(fx - 0.03, fx + 0.03, ref - t, ref + t, "DFT γ_us ± tolerance"))
                cells = "DFT slabs" if u.get("variant") else "DFT cells"
                ref_tr.append({"type": "scatter", "mode": "markers", "x": _nums(f[ok]), "y": _nums(g[ok]),
                               "name": f"DFT ({cells}, unrelaxed)", "marker": {"color": DFT, "size": 7}})
            a = _num(u.get("lattice_a_A"))
            a_txt = f"{a:.4f} Å" if a is not None else "?"
            if u.get("f_dense") and u.get("gamma_dense"):
                pot_tr.append(_line(u["f_dense"], u["gamma_dense"], f"unrelaxed (DFT a = {a_txt})"))
            elif u.get("gamma"):
                pot_tr.append(_line(u["f"], u["gamma"], f"unrelaxed (DFT a = {a_txt})", mode="lines+markers"))
        rs = curves.get(f"{plane}_relaxed_slab")
        if rs and rs.get("f") and rs.get("gamma_dft"):
            ref_tr.append({"type": "scatter", "mode": "markers", "x": _nums(rs["f"]), "y": _nums(rs["gamma_dft"]),
                           "name": "DFT (slabs, relaxed ⊥)",
                           "marker": {"color": DFT, "symbol": "triangle-up-open", "size": 7}})
            pot_tr.append(_line(rs["f"], rs.get("gamma"), "relaxed ⊥ (DFT slabs)", dash="dash", mode="lines+markers",
                                symbol="triangle-up"))
        d = curves.get(f"{plane}_gamma_us")
        if d and d.get("f") and d.get("gamma"):
            a0 = _num(d.get("a0_A"))
            pot_tr.append(_line(d["f"], d["gamma"], "unrelaxed (own a0" + (f" {a0:.4f} Å)" if a0 else ")"),
                                dash="dot"))
            if _num(d.get("f_max")) is not None and _num(d.get("gamma_us")) is not None:
                pot_tr.append(_line([d["f_max"]], [d["gamma_us"]], "γ_us (own a0)", mode="markers",
                                    symbol="star"))
        r = curves.get(f"{plane}_relaxed")
        if r and r.get("f") and r.get("gamma"):
            pot_tr.append(_line(r["f"], r["gamma"], "relaxed ⊥ (own a0)", dash="dash", mode="lines+markers",
                                symbol="square"))
        if pot_tr or ref_tr:
            figs.append({"key": f"gsfe:{plane}", "title": f"γ-line ({plane})[111]", "ref": ref_tr, "pot": pot_tr,
                         "layout": _layout("", "displacement (b)", "γ (mJ/m²)")})
    for case, d in curves.items():
        if case not in OWN_LINES or not d.get("f") or not d.get("gamma"):
            continue
        ref_tr, pot_tr = [], []
        pot_tr.append(_line(d["f"], d["gamma"], "unrelaxed (own a0)"))
        relaxed = next((c for c, line in OWN_RELAXED.items() if line == case), None)
        rr = curves.get(relaxed) if relaxed else None
        if rr and rr.get("f") and rr.get("gamma"):
            pot_tr.append(_line(rr["f"], rr["gamma"], "relaxed ⊥", dash="dash", mode="lines+markers", symbol="square"))
        fs = [x for x in _nums(d["f"]) if x is not None]
        for c in (case, relaxed):
            for q in ("gamma_us", STACKING_FAULT.get(d.get("lattice"), "gamma_isf")):
                a = _rec(records, c, q) if c else None
                if a and fs:
                    ref_tr.append({"type": "scatter", "mode": "lines", "x": [min(fs), max(fs)],
                                   "y": [float(a["reference"])] * 2, "name": esc(f"reference {q} ({c})"),
                                   "line": {"color": DFT, "dash": "dash", "width": 1}})
        figs.append({"key": f"gsfe:{case}", "title": f"γ-line {case}", "ref": ref_tr, "pot": pot_tr,
                     "layout": _layout("", esc(d.get("f_unit", "f")), "γ (mJ/m²)")})
    return figs


# -- phonon bands ----------------------------------------------------------------------------------------
def phonon_figures(records: list[dict]) -> list[dict]:
    """The dispersion along the lattice's path: every branch of every segment in one trace (gaps between)."""
    rec = next((r for r in records if r.get("quantity") == "min_frequency" and isinstance(r.get("data"), dict)
                and isinstance(r["data"].get("band"), dict)), None)
    if rec is None:
        return []
    band = rec["data"]["band"]
    dists, freqs, labels = band.get("distances") or [], band.get("frequencies") or [], band.get("labels") or []
    xs, ys, ticks, names = [], [], [], []
    for d, f, ab in zip(dists, freqs, labels):
        d = _nums(d)
        fa = np.array([[(_num(x) if _num(x) is not None else np.nan) for x in row] for row in f], float) \
            if isinstance(f, list) and f and all(isinstance(row, list) for row in f) else None
        if fa is None or fa.ndim != 2 or fa.shape[0] != len(d) or not d or None in d:
            continue
        a, b = (ab + ["", ""])[:2] if isinstance(ab, list) else ("", "")
        for j in range(fa.shape[1]):
            xs += d + [None]
            ys += _nums(fa[:, j]) + [None]
        if not ticks or abs(ticks[-1] - d[0]) > 1e-9:
            ticks.append(d[0])
            names.append(esc(a))
        elif names[-1] != esc(a):
            names[-1] = f"{names[-1]}|{esc(a)}"
        ticks.append(d[-1])
        names.append(esc(b))
    if not xs:
        return []
    lattice = rec["data"].get("lattice", rec.get("case", ""))
    shapes = [{"type": "line", "x0": t, "x1": t, "y0": 0, "y1": 1, "yref": "paper",
               "line": {"color": "#ccc", "width": 1}} for t in ticks]
    shapes.append({"type": "line", "x0": 0, "x1": 1, "xref": "paper", "y0": 0, "y1": 0,
                   "line": {"color": "#000", "width": 1}})
    return [{"key": "phonons:bands", "title": f"phonon dispersion, {lattice}",
             "ref": [], "pot": [_line(xs, ys, "bands", width=1.2, connectgaps=False)],
             "layout": _layout("", "", "frequency (THz)", shapes=shapes,
                               xaxis={"tickvals": ticks, "ticktext": names, "range": [ticks[0], ticks[-1]],
                                      "showgrid": False})}]


# -- dimer curves ----------------------------------------------------------------------------------------
def dimer_figures(records: list[dict]) -> list[dict]:
    """The dimer's E(r) and F(r) (the first view clipped like the PNG: zoom out to see the wall)."""
    dim = next((r["data"] for r in records if r.get("case") == "dimer" and isinstance(r.get("data"), dict)
                and r["data"].get("r_A")), None)
    if dim is None:
        return []
    r, e, f = (np.array([_num(x) if _num(x) is not None else np.nan for x in dim.get(k) or []], float)
               for k in ("r_A", "E_eV", "F_eV_per_A"))
    if len(r) == 0 or len(e) != len(r):
        return []
    ok = np.isfinite(e)
    lo = min(float(e[ok].min()) if ok.any() else 0.0, 0.0)
    e_top = max(2.0, 3 * abs(lo) + 1.0)
    cut = _num(dim.get("cutoff_A"))
    shapes = ([{"type": "line", "x0": cut, "x1": cut, "y0": 0, "y1": 1, "yref": "paper",
                "line": {"color": "#999", "dash": "dash", "width": 1}}] if cut else [])
    zero = {"type": "line", "x0": 0, "x1": 1, "xref": "paper", "y0": 0, "y1": 0, "line": {"color": "#000", "width": 1}}
    pot_e = [_line(r, e, "E(r)")]
    mins = [m for m in dim.get("minima") or [] if isinstance(m, dict)]
    if mins:
        pot_e.append(_line([m.get("r") for m in mins], [m.get("E") for m in mins], "minima", mode="markers",
                           symbol="triangle-down"))
    figs = [{"key": "robustness:dimer-E", "title": "dimer energy" + (f" (dashed: cutoff {cut:g} Å)" if cut else ""),
             "ref": [], "pot": pot_e,
             "layout": _layout("", "r (Å)", "E − E(∞) (eV)", shapes=shapes + [zero],
                               yaxis={"range": [1.3 * lo - 0.5, e_top]})}]
    if len(f) == len(r):
        okf = np.isfinite(f) & (e <= e_top)
        fl = max(2.0, 1.5 * float(np.abs(f[okf]).max(initial=1.0))) if okf.any() else 2.0
        figs.append({"key": "robustness:dimer-F", "title": "dimer force along the bond (> 0 repulsive)", "ref": [],
                     "pot": [_line(r, f, "F(r)")],
                     "layout": _layout("", "r (Å)", "F (eV/Å)", shapes=shapes + [zero], yaxis={"range": [-fl, fl]})})
    return figs


BUILDERS = {"eos": eos_figures, "gsfe": gsfe_figures, "phonons": phonon_figures, "robustness": dimer_figures}


def figures(records: list[dict]) -> tuple[list[dict], list[str]]:
    """Every interactive figure of a report's records, and one line per builder that failed (a plotting bug
    or odd data never loses the page: the static PNG and the numbers stay)."""
    out, problems = [], []
    for prop, build in BUILDERS.items():
        recs = [r for r in records if r.get("property") == prop]
        if not recs:
            continue
        try:
            out += build(recs)
        except Exception as exc:  # noqa: BLE001 - data from a results file; the page must still be written
            problems.append(f"{prop} figure: {type(exc).__name__}: {exc}"[:300])
    return out, problems
