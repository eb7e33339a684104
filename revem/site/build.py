"""``revem site REPORT_DIR --out SITE_DIR``: write the static dashboard of a report directory.

The site (no server: it works from ``file://`` and from any static host)::

    SITE_DIR/index.html              overview: every report (potential × element × tier), sortable, filterable
    SITE_DIR/compare.html            two reports side by side (records, scorecards, curves in one plot)
    SITE_DIR/assets/                 plotly.min.js (copied from the plotly package: offline), site.js, site.css
    SITE_DIR/reports/<id>.html       one page per report: scorecard, failures, regressions, coverage, plots
    SITE_DIR/reports/<id>.data.js    its records and interactive figures (a script: fetch() fails from file://)
    SITE_DIR/reports/<id>--<plot>.png, <id>.report.md, <id>.results.json   copies of the report's files

``<id>`` is ``<potential>--<element>--<tier>`` of the report folder.  Every folder is written through
:class:`revem.safe_io.OutputFolder`: each file atomically, nothing a user owns is overwritten (a file revem
did not write, or changed since, is refused before any work), the output may not lie inside REPORT_DIR, and a
rebuild removes the pages of reports that are gone (files revem wrote there, unchanged).
"""
from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from urllib.parse import quote

from ..safe_io import OutputFolder, Refused, read_bytes
from ..validation.results import MAX_RESULTS_BYTES
from .collect import MAX_PNG_BYTES, MAX_TEXT_BYTES, Collection, collect

PNG_NAME = re.compile(r"^[A-Za-z0-9._-]+\.png$")
ASSETS = ("site.js", "site.css")
PLOTLY = "plotly.min.js"


@dataclass
class SiteResult:
    """What :func:`build_site` wrote."""

    out: Path
    reports: int
    potentials: list
    elements: list
    skipped: list  # (results file, reason) left out
    files: int = 0
    removed: list = field(default_factory=list)  # stale pages of an earlier build
    problems: list = field(default_factory=list)  # figures that could not be built (the PNGs stay)
    asv: str | None = None


def plotly_js() -> bytes:
    """plotly.js as the ``plotly`` Python package ships it (bundled into the site: it works offline)."""
    try:
        src = resources.files("plotly") / "package_data" / PLOTLY
        return src.read_bytes()
    except (ModuleNotFoundError, FileNotFoundError, OSError):
        raise Refused("revem site needs plotly.js from the plotly package: pip install 'revem[site]'") from None


def asv_link(asv: str | None, out: Path, report_dir: Path) -> str | None:
    """The href of the asv dashboard from ``SITE_DIR``: an http(s) URL as given, a folder or ``index.html``
    as a relative path; None (auto) looks for ``.asv/html/index.html`` (``make bench``) in the current folder
    and beside REPORT_DIR.  A given one that does not exist is refused."""
    if asv is not None and re.match(r"^https?://", asv):
        return asv
    if asv is not None:
        p = Path(asv)
        p = p / "index.html" if p.is_dir() else p
        if not p.is_file():
            raise Refused(f"--asv {asv}: no asv dashboard there (expected a folder with index.html, as "
                          "`make bench` writes to .asv/html, or an http(s) URL)")
    else:
        found = [c / ".asv" / "html" / "index.html" for c in (Path.cwd(), report_dir.resolve().parent)]
        p = next((c for c in found if c.is_file()), None)
        if p is None:
            return None
    rel = os.path.relpath(p.resolve(), out.resolve())
    return quote(Path(rel).as_posix(), safe="/._-~")


def _pages(col: Collection, tmpl: dict, problems: list):
    """(folder, name, bytes or a callable giving them) of every file of the site but the assets."""
    from . import pages

    reports = [{"id": r.id, "potential": r.potential, "element": r.element, "tier": r.tier, "word": r.word}
               for r in col.reports]
    yield "", "index.html", lambda: pages.render(
        "index.html", page="overview", title="Overview", root="", rows=pages.overview_rows(col),
        potentials=col.potentials, elements=col.elements, properties=col.properties, skipped=col.skipped,
        legend=pages.legend(), matrix=pages.matrix(col), **tmpl)
    yield "", "compare.html", lambda: pages.render(
        "compare.html", page="compare", title="Compare", root="", reports=reports, properties=col.properties,
        reports_json=pages.json_for_html(reports), **tmpl)
    for rep in col.reports:
        yield "reports", f"{rep.id}.html", _report_page(rep, tmpl, problems)
        yield "reports", f"{rep.id}.results.json", _copy(rep.folder / "results.json", "results file", MAX_RESULTS_BYTES)
        if (rep.folder / "report.md").is_file():
            yield "reports", f"{rep.id}.report.md", _copy(rep.folder / "report.md", "report", MAX_TEXT_BYTES)
        for png in rep.pngs:
            if PNG_NAME.match(png.name):
                yield "reports", f"{rep.id}--{png.name}", _copy(png, "plot", MAX_PNG_BYTES)


def _copy(path: Path, what: str, limit: int):
    return lambda: read_bytes(path, what, limit=limit)


def _report_page(rep, tmpl: dict, problems: list):
    from . import pages

    def make():
        data, probs = pages.report_data(rep)
        problems.extend(f"{rep.id}: {p}" for p in probs)
        ctx = pages.report_context(rep)
        pngs = [(f"{rep.id}--{p.name}", p.stem.replace("_", " ")) for p in rep.pngs if PNG_NAME.match(p.name)]
        html = pages.render("report.html", page="report", title=f"{rep.potential} · {rep.element} · {rep.tier}",
                            root="../", figures=data["figures"], figure_problems=probs, pngs=pngs, **ctx,
                            **{**tmpl, "asv": _below(tmpl["asv"])})
        return [(f"{rep.id}.html", html), (f"{rep.id}.data.js", pages.data_js(rep.id, data))]
    return make


def _below(href: str | None) -> str | None:
    """``href`` as seen from a page one folder down (``reports/``)."""
    if not href or re.match(r"^https?://", href) or href.startswith("/"):
        return href
    return "../" + href


def build_site(report_dir, out, *, asv: str | None = None, progress: bool = False, command: str = "") -> SiteResult:
    """Write the dashboard of ``report_dir`` into ``out`` (see the module docstring).  Bad input -- no such
    folder, no readable results file, an output folder that would overwrite a file revem did not write or
    that lies inside ``report_dir`` -- raises :class:`revem.safe_io.Refused` with a one-line message, before
    anything is written."""
    from tqdm.auto import tqdm

    report_dir, out = Path(report_dir), Path(out)
    if not report_dir.is_dir():
        raise Refused(f"REPORT_DIR {report_dir}: no such folder")
    js = plotly_js()
    wrap = (lambda it: tqdm(it, desc="reading reports", unit="report", disable=None)) if progress else None
    col = collect(report_dir, progress=wrap)
    if not col.reports:
        why = f" ({len(col.skipped)} unreadable, e.g. {col.skipped[0][0]}: {col.skipped[0][1]})" if col.skipped else ""
        raise Refused(f"REPORT_DIR {report_dir}: no readable <potential>/<element>/<tier>/results.json{why}")
    folders = {"": OutputFolder(out, "--out", inputs=[report_dir], command=command)}
    tmpl = {"asv": asv_link(asv, out, report_dir),
            "site": {"n_reports": len(col.reports), "generated": time.strftime("%Y-%m-%d %H:%M"),
                     "source": str(report_dir)}}
    problems: list = []
    jobs = list(_pages(col, tmpl, problems))
    names = {"": ["index.html", "compare.html"], "assets": [PLOTLY, *ASSETS],
             "reports": [n for f, n, _ in jobs if f == "reports"] + [f"{r.id}.data.js" for r in col.reports]}
    for sub in ("assets", "reports"):  # every check before the first write
        p = out / sub
        if os.path.lexists(p) and (p.is_symlink() or not p.is_dir()):
            raise Refused(f"--out {out}: {sub} exists and is not a folder revem wrote; remove it or choose another --out")
        if p.is_dir():
            folders[sub] = OutputFolder(p, "--out", inputs=[report_dir], command=command)
    for sub, f in folders.items():
        f.plan(*names[sub])

    def folder(sub: str) -> OutputFolder:  # a subfolder's checks need SITE_DIR: made at its first write
        if sub not in folders:
            folders[sub] = OutputFolder(out / sub, "--out", inputs=[report_dir], command=command)
        return folders[sub]

    def write(sub: str, files) -> None:
        for n, data in files:
            folder(sub).write_bytes(n, data)

    def produce(name: str, make) -> list:
        got = make()
        return got if isinstance(got, list) else [(name, got)]

    # the overview and the comparison first (they make SITE_DIR), then the assets, then a page per report
    root_jobs = [j for j in jobs if j[0] == ""]
    rest = [j for j in jobs if j[0] != ""]
    try:
        for sub, name, make in root_jobs:
            write(sub, produce(name, make))
        write("assets", [(PLOTLY, js)] + [(n, (resources.files("revem.site") / "assets" / n).read_bytes())
                                          for n in ASSETS])
        for sub, name, make in (tqdm(rest, desc="writing pages", unit="file", disable=None) if progress else rest):
            write(sub, produce(name, make))
        removed = []
        for sub, f in folders.items():
            removed += [f"{sub}/{n}" if sub else n for n in f.finish()]
    except BaseException:
        for f in folders.values():
            f.abort()
        raise
    return SiteResult(out=out, reports=len(col.reports), potentials=col.potentials, elements=col.elements,
                      skipped=col.skipped, files=sum(len(f.written) for f in folders.values()), removed=removed, problems=problems,
                      asv=tmpl["asv"])
