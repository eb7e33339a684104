"""What the dashboard shows, read from a report directory (``<dir>/<potential>/<element>/<tier>/results.json``;
the layout of results format 2, ``<dir>/<potential>/<element>/results.json``, e.g. a committed baseline, too).

Each results file is read with :func:`revem.validation.results.load` (bounded, checked) and summarised with
revem's own report functions -- the verdict word and line of ``report.md``
(:func:`~revem.validation.report.case_verdict`, :func:`~revem.validation.report.verdict_line`), the red
flags, the |error| / tolerance of each scored number -- so the site never disagrees with the reports.  A
file that cannot be read, or whose data break a summary, is left out with a one-line reason (shown on the
overview); the others are shown.
"""
from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from ..validation import results as results_io
from ..validation.report import case_verdict, plain, red_flags, verdict, verdict_line
from ..validation.report import ratio as report_ratio
from ..validation.results import ResultsFileError

#: the record fields a page shows (``data``, the plot data, goes into figures instead)
RECORD_FIELDS = ("property", "case", "quantity", "value", "unit", "uncertainty", "reference", "tolerance", "error",
                 "error_pct", "passed", "converged", "policy", "reference_source", "note", "domain", "coverage")
TIER_PATTERN = re.compile(r"^[A-Za-z0-9_]+$")
ELEMENT_PATTERN = re.compile(r"^[A-Z][a-z]?$")
MAX_PNG_BYTES = 32 << 20
MAX_TEXT_BYTES = 64 << 20


@dataclass
class PropertyCell:
    """One property of one report, as the overview shows it."""

    worst: float | None = None  # the largest |error| / tolerance of the scored numbers
    worst_what: str = ""  # "case quantity" of the worst number
    scored: int = 0
    failed: int = 0
    regressions: int = 0
    records: int = 0
    status: str = "reported"  # ok, FAIL or reported (nothing scored)


@dataclass
class Report:
    """One report folder (potential, element, tier) and what its pages show."""

    id: str  # "<potential folder>--<element>--<tier>": a file name of the site
    folder: Path
    potential: str  # meta.potential.name (display text)
    element: str
    tier: str
    meta: dict
    records: list
    cases: list
    word: str  # INCOMPLETE, FAIL or PASS: the first word of report.md
    line: str  # the verdict line of report.md, as plain text
    cv: dict  # case_verdict(...)
    counts: dict  # verdict(...)
    props: dict = field(default_factory=dict)  # property -> PropertyCell
    flags: list = field(default_factory=list)
    pngs: list = field(default_factory=list)  # Paths of the report's plots


def ratio(r: dict) -> float | None:
    """|error| / tolerance of a scored record (None when not scored or not a finite number)."""
    try:
        x = report_ratio(r)
    except (TypeError, ValueError):
        return None
    return x if x is not None and math.isfinite(x) else None


def _cells(records: list[dict]) -> dict:
    by = defaultdict(list)
    for r in records:
        by[str(r["property"])].append(r)
    out = {}
    for prop, rs in sorted(by.items()):
        v = verdict(rs)
        c = PropertyCell(scored=v["scored"], failed=v["failed"], regressions=v["regressions"], records=len(rs))
        worst = max(((ratio(r), r) for r in rs if r.get("passed") is not None and ratio(r) is not None),
                    key=lambda t: t[0], default=(None, None))
        if worst[1] is not None:
            c.worst, c.worst_what = worst[0], f"{worst[1]['case']} {worst[1]['quantity']}"
        c.status = "FAIL" if v["failed"] else ("ok" if v["scored"] else "reported")
        out[prop] = c
    return out


def _planned(d: dict):
    p = d.get("planned")
    if p is None:
        return None
    if not isinstance(p, list) or not all(isinstance(k, list) and len(k) == 2 for k in p):
        raise ResultsFileError("'planned' must be a list of [property, case] pairs")
    return [(str(a), str(b)) for a, b in p]


def summarise(path: Path, root: Path) -> Report:
    """The :class:`Report` of one results file (raises :class:`ResultsFileError` naming what is wrong)."""
    rel = path.parent.relative_to(root).parts
    if len(rel) not in (2, 3):
        raise ResultsFileError("not at <potential>/<element>/<tier>/results.json")
    pot_dir, el_dir = rel[:2]
    results_io.check_name(pot_dir)
    if not ELEMENT_PATTERN.match(el_dir) or (len(rel) == 3 and not TIER_PATTERN.match(rel[2])):
        raise ResultsFileError(f"folder {'/'.join(rel[1:])} is not <element>/<tier>")
    d = results_io.load(path)
    meta = d["meta"]
    tier_dir = rel[2] if len(rel) == 3 else meta["tier"]  # format 2: <potential>/<element>/results.json
    if meta["element"] != el_dir or meta["tier"] != tier_dir or not TIER_PATTERN.match(tier_dir):
        raise ResultsFileError(f"its meta says {meta['element']}/{meta['tier']}, its folder {'/'.join(rel[1:])}")
    records = d["records"]
    for r in records:  # the fields a page shows as text: strings (anything else is shown as its str())
        for k in ("property", "case", "quantity", "unit"):
            r[k] = str(r[k])
    cases = d["cases"]
    cv = case_verdict(cases, _planned(d))
    counts = verdict(records)
    line = plain(verdict_line(counts, meta, cv))
    name = meta["potential"].get("name") or pot_dir
    rep = Report(id=f"{pot_dir}--{el_dir}--{tier_dir}", folder=path.parent, potential=str(name),
                 element=el_dir, tier=tier_dir, meta=meta, records=records, cases=cases, word=cv["word"],
                 line=line, cv=cv, counts=counts)
    rep.props = _cells(records)
    rep.flags = [str(f) for f in red_flags(records)]
    rep.pngs = sorted(p for p in path.parent.glob("*.png") if p.is_file() and not p.is_symlink())
    return rep


@dataclass
class Collection:
    reports: list  # Report, sorted by potential, element, tier
    skipped: list  # (relative path, one-line reason)
    properties: list  # every property of any report, sorted

    @property
    def potentials(self) -> list[str]:
        return sorted({r.potential for r in self.reports})

    @property
    def elements(self) -> list[str]:
        return sorted({r.element for r in self.reports})


def collect(report_dir: str | Path, progress=None) -> Collection:
    """Every readable report under ``report_dir``; ``progress``: an iterable wrapper (e.g. tqdm)."""
    root = Path(report_dir)
    files = sorted(root.glob("*/*/*/results.json")) + sorted(root.glob("*/*/results.json"))  # format 3, then 2
    reports, skipped, seen = [], [], {}
    for f in (progress(files) if progress else files):
        rel = str(f.relative_to(root))
        try:
            rep = summarise(f, root)
            if rep.id in seen:
                raise ResultsFileError(f"the same potential, element and tier as {seen[rep.id]}")
            seen[rep.id] = rel
            reports.append(rep)
        except ResultsFileError as exc:
            skipped.append((rel, " ".join(str(exc).split())[:300]))
        except Exception as exc:  # noqa: BLE001 - odd data in a results file: left out, named, the others shown
            skipped.append((rel, f"cannot summarise ({type(exc).__name__}: {exc})"[:300]))
    reports.sort(key=lambda r: (r.potential.lower(), r.element, r.tier, r.id))
    props = sorted({p for r in reports for p in r.props})
    return Collection(reports, skipped, props)
