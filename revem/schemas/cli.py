"""``revem schema results|reference|card``: print a published schema, its field tables, or check files with it.

* ``revem schema NAME`` prints the JSON Schema (draft 2020-12) as shipped;
* ``revem schema NAME --markdown`` prints its field tables (the tables of ``docs/schemas.md``);
* ``revem schema NAME --check FILE...`` reads each file the way revem reads it on load (the schema and the
  loader's own checks: finite numbers, files inside a card's folder, allowed LAMMPS commands, ...) and prints
  ``ok`` or the one-line reason; exit 0 when every file is accepted, 2 otherwise.

``register(subparsers)`` adds the command to the ``revem`` CLI (``revem/cli.py``).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import NAMES, text


def check_file(name: str, path: Path) -> str:
    """Read ``path`` as revem reads a file of schema ``name``; a one-line summary of what it holds.  Raises the
    loader's error (``ResultsFileError``, ``ReferenceFileError``, ``PotentialError``) when it is refused."""
    if name == "results":
        from ..validation import results

        d = results.load(path)
        return (f"results format {d['format_version']}, {d['meta']['element']} {d['meta']['tier']}, "
                f"{len(d['cases'])} cases, {len(d['records'])} records")
    if name == "reference":
        from ..validation import references

        refs = references.read_file(path)
        return f"{len(refs)} references" + (f" of {refs[0].property} for {refs[0].element}" if refs else "")
    from ..potentials import load_card

    pot = load_card(path)
    return f"potential {pot.name} ({pot.kind}, {' '.join(pot.elements)})"


def _cmd(args) -> int:
    if args.markdown:
        from .markdown import render

        print(render(args.name), end="")
        return 0
    if not args.check:
        print(text(args.name), end="")
        return 0
    refused = 0
    for f in args.check:
        try:
            print(f"{f}: ok: {check_file(args.name, Path(f))}")
        except (ValueError, OSError) as exc:  # the loaders' errors (ValueError subclasses) and unreadable paths
            refused += 1
            print(f"revem schema {args.name} --check: {exc}", file=sys.stderr)
    return 2 if refused else 0


def register(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "schema", help="print the JSON Schema of results.json, reference files or potential cards",
        description="Print a JSON Schema (draft 2020-12) revem ships: " + "; ".join(f"{k}: {v}" for k, v in NAMES.items())
        + ". Every file revem reads is checked against its schema on load.")
    p.add_argument("name", choices=list(NAMES), help="which schema")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--markdown", action="store_true", help="print the schema's field tables (Markdown) instead")
    g.add_argument("--check", nargs="+", metavar="FILE",
                   help="read FILEs as revem reads them on load; exit 2 when any is refused (one line each)")
    p.set_defaults(func=_cmd)
    return p
