"""``report.md``, plots and ``summary.md`` of validation runs.

A report leads with the verdict, which covers every case the tier collects for the element:
``INCOMPLETE`` (listing the cases without a result: a run still going, killed, or narrowed with
``-k``/``--property``), else ``FAIL`` (how many cases failed, and the numbers behind them) or ``PASS``.
The case counts are pytest's: one case is one test.  Then the potential's provenance, one scorecard
line per property, physical red flags (unconverged protocols, crashes, broken identities, prototypes
or defects that relaxed into something else), regressions against the baseline, and the failures
sorted by error / tolerance.  The per-property tables follow; dataset errors are one compact table.
"""
from __future__ import annotations

import importlib
import math
import re
import warnings
from collections import defaultdict
from pathlib import Path

from . import results as results_io

from .plotting import DFT_COLOUR, POTENTIAL_COLOUR, TOLERANCE_COLOUR  # noqa: F401


def fmt(v, digits=4):
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.{digits}g}"
    return str(v)


def ratio(r) -> float | None:
    if r.get("error") is None or not r.get("tolerance"):
        return None
    return abs(r["error"]) / r["tolerance"]


def _is_crash(r) -> bool:
    return r["quantity"] == "error" and r["value"] is None


def red_flags(records: list[dict]) -> list[str]:
    flags = []
    for r in records:
        where = f"{r['property']} {r['case']}"
        if _is_crash(r):
            flags.append(f"{where}: the protocol crashed ({r.get('note', '')[:160]})")
        elif not r.get("converged", True):
            flags.append(f"{where} {r['quantity']}: NOT CONVERGED ({r.get('note', '')[:160]})")
        elif r.get("policy") == "identity" and r.get("passed") is False:
            flags.append(f"{where}: exact identity broken ({r['quantity']} = {fmt(r['value'])} {r['unit']}, "
                         f"tolerance {fmt(r['tolerance'])})")
    for r in records:
        m = re.search(r"FLAG: (.+)$", r.get("note") or "")
        if m:
            flags.append(f"{r['property']} {r['case']}: {m.group(1)[:300]}")
        elif "NOT its zero of energy" in (r.get("note") or "") and r["quantity"] == "E_atom":
            flags.append(f"{r['property']}: {r['note'][:200]}")
    seen = set()
    for r in records:
        if "FLAG:" in (r.get("note") or ""):
            continue
        m = re.search(r"relaxed into ([^;]+)", r.get("note") or "")
        if m and (r["property"], r["case"]) not in seen and "not scored" in (r.get("note") or ""):
            seen.add((r["property"], r["case"]))
            flags.append(f"{r['property']} {r['case']}: relaxed into {m.group(1).strip()} (not scored)")
    return flags


def verdict(records: list[dict]) -> dict:
    """Counts behind the first line of a report (scored = compared with a reference or an identity)."""
    scored = [r for r in records if r.get("passed") is not None]
    failed = [r for r in scored if r["passed"] is False]
    unconv = [r for r in records if not r.get("converged", True)]
    crashes = [r for r in records if _is_crash(r)]
    regress = [r for r in records if (r.get("baseline") or {}).get("regression")]
    compared = [r for r in records if r.get("baseline")]
    flagged = [r for r in failed if "FLAG:" in (r.get("note") or "") and r.get("converged", True)]
    labelled = [r for r in records if r.get("domain")]
    return {"scored": len(scored), "passed": len(scored) - len(failed), "failed": len(failed),
            "unconverged": len(unconv), "crashes": len(crashes), "flags": len(flagged), "regressions": len(regress),
            "compared": len(compared), "reported": len(records) - len(scored),
            "labelled": len(labelled),
            "failed_in_domain": sum(r.get("domain") == "in-domain" for r in failed),
            "failed_extrapolating": sum(r.get("domain") == "extrapolating" for r in failed)}


def case_verdict(cases: list[dict], planned: list[tuple[str, str]] | None) -> dict:
    """Case counts of a report: ``planned`` (every case the tier collects for the element), ``missing`` (no
    result yet), ``failed``, ``skipped`` (with why) and ``passed``; the word: INCOMPLETE, FAIL or PASS."""
    have = {(c["property"], str(c["case"])): c for c in cases}
    planned = list(planned) if planned is not None else list(have)
    missing = [k for k in planned if k not in have]
    extra = [k for k in have if k not in set(planned)]  # cases of an earlier, wider run (kept, counted)
    keys = [k for k in planned if k in have] + extra
    failed = [k for k in keys if have[k]["status"] == "failed"]
    skipped = [k for k in keys if have[k]["status"] == "skipped"]
    word = "INCOMPLETE" if missing else ("FAIL" if failed else "PASS")
    return {"word": word, "planned": len(planned), "missing": missing, "failed": failed, "skipped": skipped,
            "passed": len(keys) - len(failed) - len(skipped), "ran": len(keys),
            "skip_reasons": {k: have[k].get("reason", "") for k in skipped}}


def _keys(ks, n=8) -> str:
    shown = ", ".join(f"{p}/{c}" for p, c in ks[:n])
    return shown + (f" and {len(ks) - n} more" if len(ks) > n else "")


def verdict_line(v: dict, meta: dict | None = None, cv: dict | None = None, running: dict | None = None) -> str:
    """The first line of a report: the run's word (INCOMPLETE/FAIL/PASS) with case counts, then the numbers."""
    bad_ref = v["failed"] - v["unconverged"] - v["crashes"] - v.get("flags", 0)
    tier = (meta or {}).get("tier", "")
    fail_on = (meta or {}).get("fail_on")
    gate = f" (fail on {fail_on})" if fail_on and fail_on != "reference" else ""
    parts = []
    numbers = (f"{bad_ref} of {v['scored']} scored numbers outside tolerance"
               + (f", {v['unconverged']} unconverged" if v["unconverged"] else "")
               + (f", {v['crashes']} crashed" if v["crashes"] else "")
               + (f", {v['flags']} physical red flags" if v.get("flags") else ""))
    if cv is None:
        parts.append(f"**PASS**: all {v['scored']} scored numbers within tolerance" if v["failed"] == 0
                     else f"**FAIL**: {numbers}")
    elif cv["word"] == "INCOMPLETE":
        state = (f"run {running.get('run', '')} in progress (or killed), {running['done']} of the "
                 f"{running['selected']} cases it selected done" if running else "not run")
        parts.append(f"**INCOMPLETE**: {len(cv['missing'])} of {cv['planned']} cases of the {tier} tier have no "
                     f"result ({state}: {_keys(cv['missing'])}); of the {cv['ran']} with a result, "
                     f"{len(cv['failed'])} failed ({numbers})")
    elif cv["word"] == "FAIL":
        parts.append(f"**FAIL**: {len(cv['failed'])} of {cv['ran']} cases failed{gate} ({_keys(cv['failed'], 5)}); "
                     f"{numbers}")
    else:
        parts.append(f"**PASS**: all {cv['passed']} cases passed{gate}; "
                     + (f"{v['scored']} scored numbers within tolerance" if v["failed"] == 0 else numbers))
    if cv is not None and cv["skipped"]:
        parts.append(f"{len(cv['skipped'])} cases skipped ({_keys(cv['skipped'], 3)})")
    if v.get("labelled"):  # the potential names its training data: the failures a user must not accept
        parts.append(f"{v['failed_in_domain']} failed while interpolating (in-domain)")
    if meta and meta.get("baseline"):
        parts.append(f"**REGRESSED**: {v['regressions']} of {v['compared']} numbers moved beyond their noise"
                     if v["regressions"] else f"no regression against the baseline ({v['compared']} numbers compared)")
    return "; ".join(parts) + "."


def plain(line: str) -> str:
    """A markdown verdict line as terminal text."""
    return line.replace("**", "")


def scorecard(records: list[dict]) -> list[str]:
    lines = ["| property | scored | passed | failed | unconverged / crashed | regressions | worst error/tolerance | worst case |",
             "|---|---:|---:|---:|---:|---:|---:|---|"]
    by_prop = defaultdict(list)
    for r in records:
        by_prop[r["property"]].append(r)
    for prop, rs in sorted(by_prop.items()):
        v = verdict(rs)
        worst = max(((ratio(r), r) for r in rs if ratio(r) is not None and r.get("passed") is not None),
                    key=lambda t: t[0], default=(None, None))
        wcase = f"{worst[1]['case']} {worst[1]['quantity']}" if worst[1] else "–"
        status = "FAIL" if v["failed"] else ("ok" if v["scored"] else "reported")
        lines.append(f"| {prop} ({status}) | {v['scored']} | {v['passed']} | {v['failed']} | "
                     f"{v['unconverged'] + v['crashes']} | {v['regressions']} | {fmt(worst[0], 3)} | {wcase} |")
    return lines


def coverage_table(records: list[dict]) -> list[str]:
    """Per property: scored numbers by pass/fail x in-domain/extrapolating (records without a label apart),
    then the label and ratio of each case."""
    if not any(r.get("domain") for r in records):
        return []
    lines = ["| property | pass, in-domain | pass, extrapolating | **FAIL, in-domain** | FAIL, extrapolating | "
             "scored, not labelled |", "|---|---:|---:|---:|---:|---:|"]
    by_prop = defaultdict(list)
    for r in records:
        if r.get("passed") is not None:
            by_prop[r["property"]].append(r)
    for prop, rs in sorted(by_prop.items()):
        n = defaultdict(int)
        for r in rs:
            n[(r["passed"], r.get("domain"))] += 1
        unl = sum(c for (p, d), c in n.items() if d not in ("in-domain", "extrapolating"))
        lines.append(f"| {prop} | {n[(True, 'in-domain')]} | {n[(True, 'extrapolating')]} | "
                     f"{n[(False, 'in-domain')]} | {n[(False, 'extrapolating')]} | {unl} |")
    cases = {}
    for r in records:
        k = (r["property"], r["case"])
        if k not in cases or (r.get("coverage") is not None and cases[k].get("coverage") is None):
            cases[k] = r
    lines += ["", "| property | case | label | coverage ratio | structures | failed numbers |", "|---|---|---|---:|---:|---:|"]
    for (prop, case), r in sorted(cases.items(), key=lambda kv: -(kv[1].get("coverage") or -1.0)):
        nf = sum(x["passed"] is False for x in records if (x["property"], x["case"]) == (prop, case))
        lines.append(f"| {prop} | {case} | {r.get('domain') or 'not labelled'} | {fmt(r.get('coverage'), 3)} | "
                     f"{fmt(r.get('coverage_structures'))} | {nf or ''} |")
    return lines


def _coverage_intro(meta: dict) -> list[str]:
    dom = (meta or {}).get("training_domain") or {}
    if dom.get("error"):
        return [f"The potential names its training data, but no domain could be built: {dom['error']}", ""]
    if not dom:
        return []
    return [f"Training domain: {dom.get('n_configs')} of {dom.get('n_configs_total')} configurations "
            f"({dom.get('n_atoms')} atoms) of {', '.join(dom.get('sources') or [])}; per-atom Mahalanobis distance in "
            f"the 55 standardised SNAP components (ridge {dom.get('ridge')}); ratio 1 = the largest distance of a "
            f"training atom ({fmt(dom.get('threshold'), 4)}; their 99th percentile is ratio "
            f"{fmt(dom.get('p99_ratio'), 3)}). A case's ratio is the largest over the atoms of the "
            "structures it evaluated (first, last and up to 10 more); > 1: extrapolating. A Gaussian model of "
            "descriptor space, not the potential's own uncertainty: in-domain does not mean accurate. Results "
            "cached by an earlier case are not re-evaluated (not labelled).", ""]


def _provenance(meta: dict) -> list[str]:
    pot = meta.get("potential", {})
    how = ("; ".join(pot.get("commands") or []) or pot.get("callable")
           or (f"{pot.get('kind')}: {', '.join(pot.get('files') or [])}" if pot.get("files") else pot.get("source", "")))
    lines = [f"- **potential**: `{pot.get('name')}` ({pot.get('kind')}), elements {', '.join(pot.get('elements', []))}, "
             f"sha256 `{str(pot.get('sha256', ''))[:16]}…`",
             f"- **definition**: `{how[:300]}`" if how else "",
             f"- **source**: {pot.get('source', '')}; citation: {pot.get('citation') or '–'}"]
    if pot.get("trust"):
        lines.append(f"- **TRUSTED by the user** (not sandboxed): {'; '.join(pot['trust'])}")
    v = meta.get("versions", {})
    lines.append(f"- **run**: revem {meta.get('revem')}, tier {meta.get('tier')}, {meta.get('date')} on {meta.get('host')}; "
                 f"LAMMPS {v.get('lammps')}, pyace {v.get('pyace')}, ASE {v.get('ase')}, numpy {v.get('numpy')}"
                 + "".join(f", {k} {v[k]}" for k in ("chgnet", "torch") if v.get(k)))  # the universal extra
    if meta.get("baseline"):
        lines.append(f"- **baseline**: {meta['baseline']} (fail on {meta.get('fail_on')})")
    return [ln for ln in lines if ln]


def _dataset_table(recs: list[dict]) -> list[str]:
    cols = ["rmse_E", "mae_E", "rmse_F", "mae_F", "rmse_E_1eV", "rmse_F_1eV"]
    by_case = defaultdict(dict)
    notes = {}
    for r in recs:
        by_case[r["case"]][r["quantity"]] = r
        notes.setdefault(r["case"], r.get("note") or "")
    units = {q: next((r["unit"] for rs in by_case.values() for qq, r in rs.items() if qq == q), "") for q in cols}
    lines = ["| group | frames | " + " | ".join(f"{q} ({units[q]})" for q in cols) + " | regressions |",
             "|---|---:|" + "---:|" * len(cols) + "---:|"]
    for case, qs in sorted(by_case.items()):
        m = re.match(r"(\d+) frames", notes[case])
        nreg = sum(bool((r.get("baseline") or {}).get("regression")) for r in qs.values())
        lines.append(f"| {case} | {m.group(1) if m else '–'} | "
                     + " | ".join(fmt(qs[q]["value"], 3) if q in qs else "–" for q in cols) + f" | {nreg or ''} |")
    return lines


def _domain_cell(r: dict) -> str:
    if not r.get("domain"):
        return "–"
    d = "**in-domain**" if r["domain"] == "in-domain" else r["domain"]
    return f"{d} ({fmt(r.get('coverage'), 3)})"


def markdown(potential: str, element: str, records: list[dict], meta: dict | None = None, *,
             cases: list[dict] | None = None, planned: list | None = None, running: dict | None = None,
             moved: str = "") -> str:
    """The report of one (potential, element, tier): verdict first, details after.  ``cases``: the case
    entries of the results (status); ``planned``: every (property, case) the tier collects; ``running``:
    ``{"done", "selected"}`` while the run goes on."""
    meta = meta or {}
    v = verdict(records)
    cv = case_verdict(cases if cases is not None else results_io.cases_of_records(records), planned)
    lines = [verdict_line(v, meta, cv, running), "", f"# Validation of `{potential}` for {element} "
             f"({meta.get('tier', '')} tier)", ""]
    if cv["missing"]:
        lines += ["## Cases without a result", "",
                  "The verdict covers every case the tier collects for the element; these have no result"
                  + (" yet (the run is going on)" if running else
                     " (the run was killed, or it selected fewer cases: -k / --property)") + ":", "",
                  ", ".join(f"`{p}/{c}`" for p, c in cv["missing"]), ""]
    if cv["skipped"]:
        lines += ["## Skipped cases", ""] + [f"- `{p}/{c}`: {cv['skip_reasons'][(p, c)][:300]}" for p, c in cv["skipped"]] + [""]
    if moved:
        lines += [f"Note: {moved}.", ""]
    lines += _provenance(meta) + [""]
    lines += ["## Scorecard", ""] + scorecard(records) + [""]
    cov = coverage_table(records)
    if cov or (meta.get("training_domain") or {}).get("error"):
        lines += ["## Coverage of the training data", ""] + _coverage_intro(meta) + cov + [""]
    flags = red_flags(records)
    if flags:
        lines += ["## Red flags", ""] + [f"- {f}" for f in flags] + [""]
    regress = [r for r in records if (r.get("baseline") or {}).get("regression")]
    if regress or meta.get("baseline_problems"):
        lines += ["## Regressions against the baseline", ""]
        if regress:
            lines += ["| property | case | quantity | baseline | now | Δ | noise | vs reference |", "|---|---|---|---:|---:|---:|---:|---|"]
            for r in sorted(regress, key=lambda r: -abs((r["baseline"]["delta"] or 0) / (r["baseline"]["noise"] or 1))):
                b = r["baseline"]
                lines.append(f"| {r['property']} | {r['case']} | {r['quantity']} | {fmt(b['old'], 6)} | {fmt(b['new'], 6)} | "
                             f"{fmt(b['delta'], 3)} {r['unit']} | ±{fmt(b['noise'], 3)} | {b['direction']} |")
        for p in meta.get("baseline_problems") or []:
            lines.append(f"- {p}")
        lines.append("")
    fails = [r for r in records if r.get("passed") is False]
    if fails:
        labelled = any(r.get("domain") for r in records)
        lines += ["## Failures, worst first (|error| / tolerance)", "",
                  "| property | case | quantity | reference | potential | unit | error/tol | why |"
                  + (" domain (ratio) |" if labelled else ""),
                  "|---|---|---|---:|---:|---|---:|---|" + ("---|" if labelled else "")]
        for r in sorted(fails, key=lambda r: -(ratio(r) if ratio(r) is not None else math.inf)):
            why = ("not converged" if not r.get("converged", True) else "crashed" if _is_crash(r)
                   else "red flag" if "FLAG:" in (r.get("note") or "")
                   else "identity broken" if r.get("policy") == "identity" else "outside tolerance")
            lines.append(f"| {r['property']} | {r['case']} | {r['quantity']} | {fmt(r['reference'])} | {fmt(r['value'])} | "
                         f"{r['unit']} | {fmt(ratio(r), 3)} | {why} |"
                         + (f" {_domain_cell(r)} |" if labelled else ""))
        lines.append("")
    lines += ["## Details", ""]
    by_prop = defaultdict(list)
    for r in records:
        by_prop[r["property"]].append(r)
    for prop, recs in sorted(by_prop.items()):
        lines += [f"### {prop}", ""]
        if prop == "dataset_errors":
            lines += _dataset_table(recs) + [""]
            continue
        lines += ["| case | quantity | reference | potential | ± | unit | error | error % | tolerance | verdict | source |",
                  "|---|---|---:|---:|---:|---|---:|---:|---:|---|---|"]
        for r in recs:
            verdict_s = {True: "pass", False: "**FAIL**", None: "reported"}[r["passed"]]
            if not r.get("converged", True):
                verdict_s = "**UNCONVERGED**"
            lines.append(f"| {r['case']} | {r['quantity']} | {fmt(r['reference'])} | {fmt(r['value'])} | "
                         f"{fmt(r.get('uncertainty'), 2)} | {r['unit']} | {fmt(r['error'], 3)} | {fmt(r.get('error_pct'), 3)} | "
                         f"{fmt(r['tolerance'], 3)} | {verdict_s} | {(r.get('reference_source') or '').replace('|', '/')[:80]} |")
        notes = sorted({r["note"] for r in recs if r.get("note")})
        if notes:
            lines += [""] + [f"- {n}" for n in notes[:40]]
        lines.append("")
    return "\n".join(lines) + "\n"


def make_plots(records: list[dict], outdir: Path) -> list[Path]:
    """Each property module may define ``plot(records, outdir) -> list[Path]``; errors never lose the report."""
    made = []
    by_prop = defaultdict(list)
    for r in records:
        by_prop[r["property"]].append(r)
    for prop, recs in by_prop.items():
        try:
            mod = importlib.import_module(f"revem.validation.properties.{prop}")
        except ImportError:
            continue
        if hasattr(mod, "plot"):
            try:
                made += list(mod.plot(recs, outdir) or [])
            except Exception as exc:  # a plotting bug must not lose the numbers
                warnings.warn(f"plot for {prop} failed: {exc}")
    return made


KEY_NUMBERS = [("eos", "bcc", "a0"), ("eos", "bcc", "B0"), ("eos", "fcc", "V0"), ("eos", "fcc", "B0"),
               ("eos", "hcp", "V0"), ("eos", "hcp", "B0"), ("eos", "diamond", "V0"), ("eos", "diamond", "B0"),
               ("elastic", "bcc", "C11"), ("elastic", "bcc", "C12"), ("elastic", "bcc", "C44"),
               ("elastic", "fcc", "C11"), ("elastic", "fcc", "C12"), ("elastic", "fcc", "C44"),
               ("defects", "vacancy", "E_f"), ("defects", "sia_111", "E_f"),
               ("surfaces", "110", "gamma"), ("surfaces", "111", "gamma")]


def _all_results(report_dir: Path) -> list[tuple[Path, dict]]:
    out = []
    for f in sorted(Path(report_dir).glob("*/*/*/results.json")):
        try:
            out.append((f, results_io.load(f)))
        except results_io.ResultsFileError:
            continue
    return out


def write_summary(report_dir: str | Path) -> Path:
    """``summary.md`` (and ``summary_error_over_tolerance.png``) over every potential folder present."""
    report_dir = Path(report_dir)
    runs = _all_results(report_dir)
    results_io.write_text_atomic(report_dir / "summary.md", summary(runs, report_dir))
    try:
        summary_plot(runs, report_dir / "summary_error_over_tolerance.png")
    except Exception as exc:  # noqa: BLE001 - a plotting bug must not lose the summary
        warnings.warn(f"summary plot failed: {exc}")
    return report_dir / "summary.md"


def _planned(d: dict) -> list | None:
    return [tuple(k) for k in d["planned"]] if d.get("planned") else None


def short_verdict(cv: dict) -> str:
    if cv["word"] == "FAIL":
        return f"FAIL {len(cv['failed'])}/{cv['ran']}"
    return cv["word"]


def summary(runs: list[tuple[Path, dict]], report_dir: Path | None = None) -> str:
    """One table across potentials: the verdict and pass/fail counts per property, then key numbers."""
    lines = ["# Validation summary", "",
             "Scored numbers passed/total per property (reported-only numbers not counted); the verdict "
             "column is the first line of each report.", ""]
    props = sorted({r["property"] for _, d in runs for r in d["records"]})
    with_domain = any(r.get("domain") for _, d in runs for r in d["records"])
    if with_domain:
        lines[-1:-1] = ["'failed while interpolating': failed numbers of cases labelled in-domain of the "
                        "potential's training data (the failures a user must not accept); – when the potential "
                        "names no training data.", ""]
    lines += ["| potential | element | tier | verdict | " + ("failed while interpolating | " if with_domain else "")
              + " | ".join(props) + " |", "|---|---|---|---|" + ("---:|" if with_domain else "") + "---|" * len(props)]
    for f, d in runs:
        m, rs = d["meta"], d["records"]
        v = verdict(rs)
        cv = case_verdict(d["cases"], _planned(d))
        short = short_verdict(cv) + (f", {v['regressions']} regressions" if v["regressions"] else "")
        cells = []
        for prop in props:
            pr = [r for r in rs if r["property"] == prop and r.get("passed") is not None]
            ok = sum(r["passed"] is True for r in pr)
            cells.append(f"{ok}/{len(pr)}" if pr else "–")
        rel = f.parent.relative_to(report_dir) if report_dir else f.parent
        interp = ""
        if with_domain:
            interp = (f"{v['failed_in_domain']} of {v['failed']} | " if v["labelled"] else "– | ")
        lines.append(f"| [{m['potential']['name']}]({rel}/report.md) | {m['element']} | {m['tier']} | {short} | "
                     + interp + " | ".join(cells) + " |")
    elements = sorted({d["meta"]["element"] for _, d in runs})
    if len(elements) > 1:  # the element x potential matrix: one verdict per report
        pots = sorted({d["meta"]["potential"]["name"] for _, d in runs})
        cell = {}
        for f, d in runs:
            rel = f.parent.relative_to(report_dir) if report_dir else f.parent
            cell[(d["meta"]["potential"]["name"], d["meta"]["element"])] = (
                f"[{short_verdict(case_verdict(d['cases'], _planned(d)))}]({rel}/report.md)")
        lines += ["", "## Element × potential", "",
                  "Verdict of each report (FAIL n/N: n of N cases failed); – not validated.", "",
                  "| potential | " + " | ".join(elements) + " |", "|---|" + "---|" * len(elements)]
        for p in pots:
            lines.append(f"| {p} | " + " | ".join(cell.get((p, el), "–") for el in elements) + " |")
    for el in elements:  # key numbers per element: references of one element only
        el_runs = [(f, d) for f, d in runs if d["meta"]["element"] == el]
        recs = [r for _, d in el_runs for r in d["records"]]
        present = [k for k in KEY_NUMBERS if any((r["property"], r["case"], r["quantity"]) == k for r in recs)]
        if not present:
            continue
        lines += ["", f"## Key numbers: {el}" if len(elements) > 1 else "## Key numbers", ""]
        head = [f"{q} {c} ({next(r['unit'] for r in recs if (r['property'], r['case'], r['quantity']) == (p, c, q))})"
                for p, c, q in present]
        lines += ["| potential | element | " + " | ".join(head) + " |", "|---|---|" + "---:|" * len(present)]
        refs = {k: next((r["reference"] for r in recs if (r["property"], r["case"], r["quantity"]) == k
                         and r["reference"] is not None), None) for k in present}
        lines.append("| reference | | " + " | ".join(fmt(refs[k]) for k in present) + " |")
        for _, d in el_runs:
            vals = [fmt(next((r["value"] for r in d["records"] if (r["property"], r["case"], r["quantity"]) == k), None))
                    for k in present]
            lines.append(f"| {d['meta']['potential']['name']} | {d['meta']['element']} | " + " | ".join(vals) + " |")
    if runs:
        lines += ["", "![error over tolerance](summary_error_over_tolerance.png)"]
    return "\n".join(lines) + "\n"


def summary_plot(runs: list[tuple[Path, dict]], path: Path) -> Path | None:
    """A heat map, one row per report (potential, element, tier) and one column per property: the worst
    |error| / tolerance of the property's scored numbers (log colour scale, white at 1: below passes), the
    value written in each cell.  Readable with dozens of potentials (the figure grows with the rows)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.colors import LogNorm

    props = sorted({r["property"] for _, d in runs for r in d["records"] if ratio(r) is not None})
    if not props:
        return None
    rows, labels = [], []
    for _, d in runs:
        row = []
        for p in props:
            rs = [ratio(r) for r in d["records"] if r["property"] == p and ratio(r) is not None]
            row.append(max(rs) if rs else np.nan)
        rows.append(row)
        m = d["meta"]
        labels.append(f"{m['potential']['name']} · {m['element']} · {m['tier']}")
    z = np.array(rows, float)
    fig_h = 1.2 + 0.32 * len(rows)
    fig, ax = plt.subplots(figsize=(1.0 * len(props) + 4.5, fig_h))
    cmap = matplotlib.colormaps["RdBu_r"].with_extremes(bad="0.92")
    finite = z[np.isfinite(z)]
    span = max(10.0, float(np.nanmax(finite)) if finite.size else 10.0)
    im = ax.imshow(np.clip(z, 1 / span, span), cmap=cmap, norm=LogNorm(vmin=1 / span, vmax=span), aspect="auto")
    for i in range(z.shape[0]):
        for j in range(z.shape[1]):
            if np.isfinite(z[i, j]):
                ax.text(j, i, f"{z[i, j]:.2g}", ha="center", va="center", fontsize=7,
                        color="white" if abs(np.log10(max(z[i, j], 1e-9))) > 0.6 * np.log10(span) else "black")
    ax.set_xticks(range(len(props)), props, rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.set_title("worst |error| / tolerance per property (blue < 1: passes; red > 1: fails; grey: nothing scored)",
                 fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.03, pad=0.02, label="|error| / tolerance")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
