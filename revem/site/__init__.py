"""The validation dashboard: ``revem site REPORT_DIR --out SITE_DIR`` writes a static site of a report directory.

An overview of every potential × element (verdict, worst |error| / tolerance per property on a colour scale,
sortable and filterable), a page per report (scorecard, failures, regressions old → new, coverage labels,
interactive Plotly plots and the report's PNGs) and a comparison of two reports side by side.  Static HTML,
one bundled copy of plotly.js and a small script: it works from ``file://`` and from any static host.

Modules: :mod:`.collect` (reading the report directory with revem's own verdict functions), :mod:`.figures`
(the interactive plots from the records' plot data), :mod:`.pages` (the Jinja2 templates, escaping),
:mod:`.build` (writing the site), :mod:`.cli` (the command).  See ``docs/dashboard.md``.
"""
from __future__ import annotations


def build_site(report_dir, out, **kwargs):
    """:func:`revem.site.build.build_site` (imported on use: the site needs jinja2 and plotly)."""
    from .build import build_site as _build

    return _build(report_dir, out, **kwargs)


__all__ = ["build_site"]
