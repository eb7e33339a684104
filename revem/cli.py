"""The ``revem`` command line: potentials, validate, generate/rescale/export/info, reference."""
from __future__ import annotations

import argparse
import json
import sys



def _cmd_potentials(args) -> int:
    from .potentials import catalog, load_card

    rows = []
    for name, path in catalog().items():
        try:
            rows.append(load_card(path).summary())
        except Exception as exc:  # noqa: BLE001  (a broken card must not hide the others)
            rows.append({"name": name, "elements": [], "kind": "?", "citation": f"cannot load: {exc}"})
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        print(f"{r['name']:<{width}}  {r['kind']:<6}  {','.join(r['elements']):<6}  {r['citation']}")
    return 0


def _catalog_potentials() -> dict:
    """``{name: Potential}`` of every catalog card that loads (a broken card is left out, not fatal;
    ``revem potentials`` shows why it does not load)."""
    from .potentials import PotentialError, catalog, load_potential

    out = {}
    for name in catalog():
        try:
            out[name] = load_potential(name)
        except (PotentialError, OSError, ValueError):
            continue
    return out


#: exit codes of ``revem validate`` (pytest's): one table, in the README and in ``revem validate --help``
EXIT_CODES = """exit codes (pytest's):
  0  every selected case passed (with --report-only: the run completed, whatever the numbers)
  1  a case failed (disagreement with a reference under --fail-on, a regression, a crash, an unconverged
     protocol, a broken identity), or the baseline does not cover the run
  2  interrupted, or (--dask) cases lost because their workers died: --resume computes them
  3  internal error (the reports could not be written; finished cases stay in journal.jsonl), or (--dask) the
     run stopped because a worker could not run the cases
  4  usage error (bad option, potential, element, baseline or --shard; a report folder locked by another run;
     an unreachable --dask scheduler)
  5  nothing was selected (with --shard: an empty shard)"""


def _validate_cmd(args, element: str) -> list[str]:
    cmd = ["--pyargs", "revem.validation", "--element", element, "--tier", args.tier, "--report-dir", args.report_dir,
           "-p", "no:cacheprovider", "-q"]
    for s in args.potential or []:
        cmd += ["--potential", s]
    for p in args.property or []:
        cmd += ["--property", p]
    if args.keyword:
        cmd += ["-k", args.keyword]
    if args.baseline:
        cmd += ["--baseline", args.baseline]
    if args.allow_partial_baseline:
        cmd += ["--allow-partial-baseline"]
    if args.fail_on:
        cmd += ["--fail-on", args.fail_on]
    if args.workers and args.workers != "1":
        cmd += ["-n", args.workers]
    return cmd


def _cmd_validate(args) -> int:
    """``revem validate``: the pytest front door of the validation engine (``pytest --pyargs revem.validation``),
    with pytest's exit codes (:data:`EXIT_CODES`); ``--report-only`` turns 1 into 0."""
    import pytest

    from ase.data import atomic_numbers

    if args.dask or args.shard or args.resume:  # the engine path: Dask tasks, a shard, a resumed run
        from .validation.runner import cli_validate

        return cli_validate(args)
    el = args.element
    if el == "all":
        return _validate_all(args)
    if el not in atomic_numbers or not el[:1].isupper():
        print(f"revem validate: --element {el!r} is not a chemical symbol", file=sys.stderr)
        return 4
    pots = ", ".join(args.potential) if args.potential else f"the catalog potentials covering {el}"
    print(f"revem validate: {el} with {pots} (tier {args.tier})", flush=True)
    rc = int(pytest.main(_validate_cmd(args, el)))
    if rc == 5:
        print(f"revem validate: no case was selected for {el}", file=sys.stderr)
    if rc == 1 and args.report_only:
        print("revem validate: cases failed; --report-only: exit 0 (the reports above say which)")
        return 0
    return rc


def _validate_all(args) -> int:
    """``revem validate --element all``: every (given or catalog) potential on every element it covers, one
    pytest run per element (a fresh process each), then one ``summary.md`` element × potential."""
    import subprocess

    from .potentials import PotentialError, load_potential
    from .validation.report import write_summary

    pots = {}
    for s in args.potential or []:
        try:
            pots[s] = load_potential(s)
        except (PotentialError, OSError, ValueError) as exc:
            print(f"revem validate: {exc}", file=sys.stderr)
            return 4
    if not args.potential:
        pots = _catalog_potentials()
    elements = sorted({el for p in pots.values() for el in p.elements})
    worst = 0
    for el in elements:
        sub = [sys.executable, "-m", "revem.cli", "validate", "--element", el, "--tier", args.tier,
               "--report-dir", args.report_dir, "-n", str(args.workers)]
        for s, p in pots.items():
            if el in p.elements:
                sub += ["--potential", s]
        for p in args.property or []:
            sub += ["--property", p]
        if args.baseline:
            sub += ["--baseline", args.baseline, "--allow-partial-baseline"]
        if args.fail_on:
            sub += ["--fail-on", args.fail_on]
        if args.report_only:
            sub += ["--report-only"]
        rc = subprocess.call(sub)
        if rc == 5:
            print(f"revem validate: nothing to validate for {el}", flush=True)
            continue
        worst = max(worst, rc)
    summary = write_summary(args.report_dir)
    print(f"\nrevem validate: {len(elements)} elements ({' '.join(elements)}); summary {summary.resolve()}")
    return worst


def reference_table(tier: str = "standard") -> str:
    """Markdown: element x property -> number of references (cases collected in ``tier``) and their sources,
    then the catalog potentials per element.  Generated from the packaged references (the README's table)."""
    import re

    from .validation import references
    from .validation.properties import protocols
    from .validation.properties.common import lattice_of

    protos = protocols()
    catalog_els = {el for p in _catalog_potentials().values() for el in p.elements}
    els = [el for el in sorted(set(references.elements()) | catalog_els) if lattice_of(el)]
    order = {"bcc": 0, "fcc": 1, "hcp": 2, "diamond": 3}
    els.sort(key=lambda el: (order[lattice_of(el)], el))
    lines = ["| element (lattice) | " + " | ".join(protos) + " |", "|---|" + "---|" * len(protos)]
    sources = {}
    for el in els:
        cells = []
        for name, proto in protos.items():
            refs = references.load(el, name)
            try:
                n_cases = len(proto.cases(el, tier))
            except Exception:  # noqa: BLE001 - a case list that needs the data mirror
                n_cases = 0
            if not refs:
                cells.append(f"– ({n_cases})" if n_cases else "–")
                continue
            keys = []
            for r in refs:
                short = re.split(r"[,(;]", r.source, maxsplit=1)[0].strip()[:40]
                k = sources.setdefault(short, len(sources) + 1)
                if k not in keys:
                    keys.append(k)
            cells.append(f"{len(refs)} [{','.join(map(str, keys))}] ({n_cases})")
        lines.append(f"| {el} ({lattice_of(el)}) | " + " | ".join(cells) + " |")
    lines += ["", "Cells: references stored [sources] (cases collected in the " + tier + " tier; – none). Sources:", ""]
    lines += [f"{k}. {s}" for s, k in sources.items()]
    pots = {}
    for name, p in _catalog_potentials().items():
        for el in p.elements:
            pots.setdefault(el, []).append(name)
    lines += ["", "| element | shipped potentials |", "|---|---|"]
    lines += [f"| {el} | {', '.join(sorted(pots.get(el, []))) or '– (references only)'} |" for el in els]
    return "\n".join(lines) + "\n"


def _cmd_references(args) -> int:
    print(reference_table(args.tier), end="")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    p = argparse.ArgumentParser(prog="revem", description=__doc__)
    p.add_argument("--version", action="version", version=f"revem {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    sp = sub.add_parser("potentials", help="list the built-in potential catalog")
    sp.add_argument("--json", action="store_true", help="print a JSON list of {name, elements, kind, citation}")
    sp.set_defaults(func=_cmd_potentials)

    sv = sub.add_parser("validate", help="run the validation harness for one element and write reports",
                        description="Validate potentials against the stored DFT references (the pytest front door "
                                    "of the validation engine: pytest --pyargs revem.validation).",
                        epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    sv.add_argument("--element", default="W", help="chemical symbol (default: W), or 'all': every element of the "
                    "potentials, one summary.md element x potential")
    sv.add_argument("--potential", action="append", help="catalog name, card or file (repeatable; default: every "
                    "catalog potential covering the element)")
    sv.add_argument("--property", action="append", help="only this property (exact name, repeatable: eos, elastic, ...)")
    sv.add_argument("-k", dest="keyword", default=None, help="pytest -k expression over the test ids "
                    "(test_<property>[<potential>-<element>-<case>]; a chemical symbol means that element exactly)")
    sv.add_argument("--tier", default="standard", choices=["smoke", "standard", "full"])
    sv.add_argument("--report-dir", default="reports")
    sv.add_argument("--baseline", default=None, help="earlier results.json or report dir to regression-check against")
    sv.add_argument("--allow-partial-baseline", action="store_true",
                    help="accept a baseline that lacks some of the numbers computed now")
    sv.add_argument("--fail-on", default=None, choices=["auto", "all", "reference", "regression", "worse"],
                    help="what fails a case (default auto: reference without --baseline, regression with it)")
    sv.add_argument("-n", "--workers", default="1", help="pytest-xdist workers ('auto' for all cores); with --shard "
                    "or --resume: a LocalCluster of that many worker processes")
    sv.add_argument("--report-only", action="store_true",
                    help="exit 0 when cases fail (the job is the reports, e.g. `make validate` or making a baseline); "
                         "usage errors, interruptions and internal errors still exit non-zero")
    sv.add_argument("--dask", default=None, metavar="ADDRESS", help="run every case as a task on this dask.distributed "
                    "scheduler (tcp://host:8786; see docs/distributed.md for dask-jobqueue on Slurm/PBS)")
    sv.add_argument("--shard", default=None, metavar="I/N", help="run the I-th of N deterministic shards of the cases "
                    "(1 <= I <= N; balanced by --costs), e.g. $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT; "
                    "`revem merge` folds the shards' report dirs into one")
    sv.add_argument("--costs", default=None, metavar="PATH", help="an earlier run's report dir (or results.json): "
                    "measured case seconds that balance --shard and weight the ETA")
    sv.add_argument("--resume", action="store_true", help="leave out the cases that already have a comparable result "
                    "in --report-dir (same tier, potential content, protocol version, --fail-on and --baseline)")
    sv.add_argument("--progress", action="store_true", help="show the progress bar when stderr is not a terminal "
                    "(with --dask/--shard/--resume)")
    sv.set_defaults(func=_cmd_validate)

    sr = sub.add_parser("references", help="print the element x property table of the packaged references (markdown)")
    sr.add_argument("--tier", default="standard", choices=["smoke", "standard", "full"])
    sr.set_defaults(func=_cmd_references)

    for modname in ("revem.generator.cli", "revem.validation.reference_cli", "revem.validation.merging",
                    "revem.datasets.diversity", "revem.datasets.labelling", "revem.fitting.cli",
                    "revem.experiments.transferability", "revem.site.cli", "revem.schemas.cli"):
        try:
            mod = __import__(modname, fromlist=["register"])
        except ImportError as exc:
            if exc.name and exc.name.startswith(modname.rsplit(".", 1)[0]):
                continue
            raise
        mod.register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` & co.
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
