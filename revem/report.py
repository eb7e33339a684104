"""Writing ``results.json``, ``report.md`` and plots for each validated potential and element."""
from __future__ import annotations

import importlib
import json
import math
import warnings
from collections import defaultdict
from pathlib import Path

from .scoring import Record


def group(records: list[dict]) -> dict[tuple[str, str], list[dict]]:
    out = defaultdict(list)
    for r in records:
        out[(r["potential"], r["element"])].append(r)
    return out


def _fmt(v, digits=4):
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.{digits}g}"
    return str(v)


def markdown(potential: str, element: str, records: list[dict], header: dict | None = None) -> str:
    """A report like seed 000 Table 2: per property, case, quantity: DFT, potential, error %, tolerance, verdict."""
    lines = [f"# Validation of `{potential}` for {element}", ""]
    for k, v in (header or {}).items():
        lines.append(f"- **{k}**: {v}")
    n_pass = sum(r["passed"] is True for r in records)
    n_fail = sum(r["passed"] is False for r in records)
    n_rep = sum(r["passed"] is None for r in records)
    lines += ["", f"**{n_pass} passed, {n_fail} failed, {n_rep} reported without reference.**", ""]
    by_prop = defaultdict(list)
    for r in records:
        by_prop[r["property"]].append(r)
    for prop, recs in by_prop.items():
        lines += [f"## {prop}", "", "| case | quantity | reference | potential | unit | error | error % | tolerance | verdict | source |",
                  "|---|---|---:|---:|---|---:|---:|---:|---|---|"]
        for r in recs:
            verdict = {True: "pass", False: "**FAIL**", None: "reported"}[r["passed"]]
            lines.append(f"| {r['case']} | {r['quantity']} | {_fmt(r['reference'])} | {_fmt(r['value'])} | {r['unit']} | "
                         f"{_fmt(r['error'], 3)} | {_fmt(r.get('error_pct'), 3)} | {_fmt(r['tolerance'], 3)} | {verdict} | "
                         f"{(r.get('reference_source') or '').replace('|', '/')[:80]} |")
        notes = sorted({r["note"] for r in recs if r.get("note")})
        if notes:
            lines += [""] + [f"- {n}" for n in notes]
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
            mod = importlib.import_module(f"revem.properties.{prop}")
        except ImportError:
            continue
        if hasattr(mod, "plot"):
            try:
                made += list(mod.plot(recs, outdir) or [])
            except Exception as exc:  # a plotting bug must not lose the numbers
                warnings.warn(f"plot for {prop} failed: {exc}")
    return made


def write_reports(records: list[dict | Record], report_dir: str | Path, header: dict | None = None) -> list[Path]:
    """Write ``<report_dir>/<potential>/<element>/{results.json,report.md,*.png}``; returns the folders."""
    import matplotlib

    matplotlib.use("Agg")
    recs = [r.to_json() if isinstance(r, Record) else r for r in records]
    folders = []
    for (pot, el), rs in sorted(group(recs).items()):
        out = Path(report_dir) / pot / el
        out.mkdir(parents=True, exist_ok=True)
        rs = sorted(rs, key=lambda r: (r["property"], r["test_id"], r["quantity"]))
        tmp = out / "results.json.tmp"
        tmp.write_text(json.dumps(rs, indent=1) + "\n")
        tmp.replace(out / "results.json")
        pngs = make_plots(rs, out)
        md = markdown(pot, el, rs, header)
        if pngs:
            md += "## Plots\n\n" + "\n".join(f"![{p.stem}]({p.name})" for p in pngs) + "\n"
        (out / "report.md").write_text(md)
        folders.append(out)
    if folders:
        (Path(report_dir) / "summary.md").write_text(summary(recs))
    return folders


KEY_NUMBERS = [("eos", "bcc", "a0"), ("eos", "bcc", "B0"), ("elastic", "bcc", "C11"), ("elastic", "bcc", "C12"),
               ("elastic", "bcc", "C44"), ("defects", "vacancy", "E_f"), ("defects", "sia_111", "E_f"),
               ("surfaces", "110", "gamma")]


def summary(records: list[dict]) -> str:
    """One table across potentials: pass/fail counts per property and a few key numbers."""
    groups = group(records)
    props = sorted({r["property"] for r in records})
    lines = ["# Validation summary", "", "Passed/failed against the stored references (reported-only numbers not counted).", "",
             "| potential | element | " + " | ".join(props) + " |", "|---|---|" + "---|" * len(props)]
    for (pot, el), rs in sorted(groups.items()):
        cells = []
        for prop in props:
            pr = [r for r in rs if r["property"] == prop]
            ok, bad = sum(r["passed"] is True for r in pr), sum(r["passed"] is False for r in pr)
            cells.append(f"{ok}/{ok + bad}" if pr else "–")
        lines.append(f"| [{pot}]({pot}/{el}/report.md) | {el} | " + " | ".join(cells) + " |")
    lines += ["", "## Key numbers", ""]
    present = [k for k in KEY_NUMBERS if any((r["property"], r["case"], r["quantity"]) == k for r in records)]
    if present:
        head = [f"{q} {c} ({next(r['unit'] for r in records if (r['property'], r['case'], r['quantity']) == (p, c, q))})"
                for p, c, q in present]
        lines += ["| potential | element | " + " | ".join(head) + " |", "|---|---|" + "---:|" * len(present)]
        refs = {}
        for p, c, q in present:
            refs[(p, c, q)] = next((r["reference"] for r in records if (r["property"], r["case"], r["quantity"]) == (p, c, q)
                                    and r["reference"] is not None), None)
        lines.append("| reference | | " + " | ".join(_fmt(refs[k]) for k in present) + " |")
        for (pot, el), rs in sorted(groups.items()):
            vals = []
            for k in present:
                v = next((r["value"] for r in rs if (r["property"], r["case"], r["quantity"]) == k), None)
                vals.append(_fmt(v))
            lines.append(f"| {pot} | {el} | " + " | ".join(vals) + " |")
    return "\n".join(lines) + "\n"
