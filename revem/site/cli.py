"""``revem site REPORT_DIR --out SITE_DIR``: the command of :mod:`revem.site` (exit 0, or 2 for bad input with
a one-line message naming it)."""
from __future__ import annotations

import sys

DESCRIPTION = """Write a static dashboard (HTML, no server: open SITE_DIR/index.html, or put the folder on any
static host) of the validation reports in REPORT_DIR (<potential>/<element>/<tier>/results.json, as
`revem validate` and `make validate-all` write them): an overview of every potential x element, a page per
report with interactive plots, and a comparison of two reports."""

EPILOG = """exit codes:
  0  the site was written (results files that could not be read are listed, and left out)
  2  bad input: no such REPORT_DIR, no readable results file, an --out that would overwrite a file revem did
     not write or that lies inside REPORT_DIR, a missing --asv dashboard, plotly or jinja2 not installed"""


def _cmd_site(args) -> int:
    from ..safe_io import Refused

    try:
        from .build import build_site
    except ImportError as exc:
        print(f"revem site: needs {exc.name or 'jinja2 and plotly'}: pip install 'revem[site]'", file=sys.stderr)
        return 2
    try:
        res = build_site(args.report_dir, args.out, asv=args.asv, progress=True,
                         command="revem site " + " ".join(sys.argv[2:]))
    except Refused as exc:
        print(f"revem site: {exc}", file=sys.stderr)
        return 2
    for path, why in res.skipped:
        print(f"revem site: left out {path}: {why}", file=sys.stderr)
    for p in res.problems:
        print(f"revem site: {p} (its PNG and numbers are shown)", file=sys.stderr)
    def n(k, word):
        return f"{k} {word}{'' if k == 1 else 's'}"

    print(f"revem site: {n(res.reports, 'report')} ({n(len(res.potentials), 'potential')}, "
          f"{n(len(res.elements), 'element')}: {' '.join(res.elements)}), {n(res.files, 'file')}"
          + (f", {len(res.removed)} stale files removed" if res.removed else "")
          + (f"; asv dashboard linked: {res.asv}" if res.asv else ""))
    print(f"open {(res.out / 'index.html').resolve()}")
    return 0


def register(sub) -> None:
    import argparse

    sp = sub.add_parser("site", help="write a static HTML dashboard of a report directory",
                        description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sp.add_argument("report_dir", metavar="REPORT_DIR", help="a report directory (e.g. reports)")
    sp.add_argument("--out", required=True, metavar="SITE_DIR",
                    help="the site's folder (created; a rebuild replaces only the files revem wrote there)")
    sp.add_argument("--asv", default=None, metavar="DIR_OR_URL",
                    help="link this asv dashboard (a folder with index.html, or an http(s) URL); default: "
                         ".asv/html of the current folder or beside REPORT_DIR when `make bench` made one")
    sp.set_defaults(func=_cmd_site)
