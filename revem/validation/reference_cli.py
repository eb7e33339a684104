"""``revem reference compute PROPERTY --element W --calculator gpaw [--out FILE]``.

Produces a missing reference the way the potential is tested: looks up ``revem.validation.properties.<PROPERTY>``,
calls its ``reference_entries(element, calc_factory, tier)`` with a DFT calculator factory
(:func:`revem.datasets.dft.gpaw_calculator`) and writes the reference file with the DFT settings as
provenance -- to ``--out``, or to ``$REVEM_REFERENCE_DIR/<El>/<PROPERTY>_<calculator>.json`` (the folder of
user references the harness reads).  It never writes into the installed package, and never replaces an
existing file.  A property module without ``reference_entries`` is an error.

``register(subparsers)`` adds the ``reference`` command to the ``revem`` CLI (``revem/cli.py``).
"""
from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path

CALCULATORS = ("gpaw",)


def calculator_factory(name: str, **settings):
    """A zero-argument calculator factory (with ``.settings`` and ``.provenance``) for ``name``."""
    if name == "gpaw":
        from ..datasets.dft import gpaw_calculator

        return gpaw_calculator(**settings)
    raise ValueError(f"unknown calculator '{name}' (one of {CALCULATORS})")


def compute(args) -> int:
    from ..datasets.dft import DFTUnavailable
    from .references import REFERENCE_DIR

    try:
        module = importlib.import_module(f"revem.validation.properties.{args.property}")
    except ModuleNotFoundError as exc:
        if exc.name != f"revem.validation.properties.{args.property}":
            raise
        print(f"error: no property module revem.validation.properties.{args.property}", file=sys.stderr)
        return 2
    if not hasattr(module, "reference_entries"):
        print(f"error: revem.validation.properties.{args.property} has no reference_entries(element, calc_factory, tier): "
              "it cannot produce references yet", file=sys.stderr)
        return 2
    settings = {k: v for k, v in {"ecut_eV": args.ecut, "kpts_density_per_A": args.kpts_density,
                                  "smearing_width_eV": args.smearing_width}.items() if v is not None}
    try:
        factory = calculator_factory(args.calculator, **settings)
    except DFTUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    from .references import USER_DIR_VAR, ReferenceFileError, user_dir

    try:
        udir = user_dir()
    except ReferenceFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.out:
        out = Path(args.out)
    elif udir is not None:
        out = udir / args.element / f"{args.property}_{args.calculator}.json"
    else:
        print(f"error: say where the reference goes: --out FILE, or {USER_DIR_VAR}=DIR (the folder of user references "
              "the harness reads; it writes DIR/<El>/<property>_<calculator>.json). revem never writes into the "
              "installed package", file=sys.stderr)
        return 2
    if out.resolve().is_relative_to(REFERENCE_DIR.resolve()):
        print(f"error: --out {out} lies inside revem's packaged references ({REFERENCE_DIR}); write to another folder "
              f"and point {USER_DIR_VAR} at it", file=sys.stderr)
        return 2
    if out.exists() or out.is_symlink():
        print(f"error: {out} exists; revem does not replace it (remove it or give another --out)", file=sys.stderr)
        return 2
    if not out.name.endswith(".json"):
        print(f"error: --out {out} must be a .json file", file=sys.stderr)
        return 2
    cmd = " ".join(["revem reference compute", args.property, "--element", args.element, "--calculator",
                    args.calculator, "--tier", args.tier] + [f"--{k} {v}" for k, v in settings.items()])
    print(f"revem reference compute: {args.property} for {args.element} with {args.calculator} (tier {args.tier}); "
          f"DFT runs can take hours: progress follows", flush=True)
    write_reference(module, args.element, factory, out, tier=args.tier, generated_by=cmd)
    if not args.out:
        print(f"the harness uses it while {USER_DIR_VAR}={udir} is set")
    else:
        print(f"to use it: copy it to $REVEM_REFERENCE_DIR/{args.element}/ and set {USER_DIR_VAR}")
    return 0


def write_reference(module, element: str, factory, out: Path, tier: str = "standard", volume=None,
                    generated_by: str = "revem reference compute") -> dict:
    """Run ``module.reference_entries`` with ``factory`` and write the reference file with provenance."""
    from ..datasets.dft import DFTSettings

    prov = {**factory.provenance((element,)), "generated_by": generated_by, "tier": tier,
            "protocol_module": module.__name__, "protocol_version": getattr(module, "PROTOCOL_VERSION", None)}
    s = factory.settings
    source = (f"DFT computed by revem ({module.__name__} v{prov['protocol_version']}) with GPAW {prov['gpaw_version']} "
              f"{s.xc}, PW {s.ecut_eV:g} eV, k-density {s.kpts_density_per_A:g}/Å^-1 (Γ-centred MP), "
              f"{s.smearing} {s.smearing_width_eV:g} eV, PAW {prov['paw_setups'][element]['file']}"
              + ("; settings checked against WIEN2k dcdft (dft_setup_gpaw.json)" if s == DFTSettings()
                 else "; NOTE: settings differ from those checked in dft_setup_gpaw.json"))
    kw = {"volume": volume} if volume is not None else {}
    t = time.time()
    from ..datasets.dft import observe_calculators
    from ..progress import Ticker

    total = expected_calculations(module, element, tier, volume)
    ticker = Ticker(total, f"revem reference compute: {module.__name__.rsplit('.', 1)[-1]} {element}: DFT calculation")
    if total:
        print(f"revem reference compute: about {total} DFT calculations; a line as each one finishes, with the ETA "
              "(mean time per calculation x those left)", flush=True)
    state = {"started": 0}

    def started(_settings) -> None:  # a calculator is made for each calculation: the previous one has finished
        if state["started"]:
            ticker.tick()
        state["started"] += 1

    with observe_calculators(started):
        doc = module.reference_entries(element, factory, tier, source=source, **kw)
    if state["started"]:
        ticker.tick()
    prov["wall_time_s"] = round(time.time() - t, 1)
    from . import references

    references.write(doc["element"], doc["property"], doc["references"], "", out=Path(out), provenance=prov)
    doc = {"property": doc["property"], "element": doc["element"], "provenance": prov, "references": doc["references"]}
    print(f"wrote {out} ({len(doc['references'])} references)")
    return doc


def expected_calculations(module, element: str, tier: str, volume=None) -> int | None:
    """How many DFT calculations ``module.reference_entries`` makes (for the ETA), or None when unknown: the
    module's own ``reference_calculations(element, tier, volume)`` where it has one; for the paths protocol its
    grids (the points of each path, plus the 7-point E(V) fit of V0 when no volume is given)."""
    fn = getattr(module, "reference_calculations", None)
    if callable(fn):
        try:
            return int(fn(element, tier, volume))
        except Exception:  # noqa: BLE001 (an estimate only)
            return None
    if module.__name__.endswith(".paths") and hasattr(module, "_grid") and hasattr(module, "cases"):
        try:
            n = sum(len(module._grid(p, None)) for p in module.cases(element, tier))
            return n + (0 if volume is not None else len(module.DEFAULTS["eos_volumes_rel"]))
        except Exception:  # noqa: BLE001
            return None
    return None


def register(subparsers) -> argparse.ArgumentParser:
    ref = subparsers.add_parser("reference", help="produce reference data with a DFT calculator")
    sub = ref.add_subparsers(dest="reference_command", required=True)
    c = sub.add_parser("compute", help="run PROPERTY's protocol with a DFT calculator and write its reference file")
    c.add_argument("property", help="a module of revem.validation.properties with reference_entries(), e.g. paths")
    c.add_argument("--element", required=True)
    c.add_argument("--calculator", default="gpaw", choices=CALCULATORS)
    c.add_argument("--tier", default="standard", choices=("smoke", "standard", "full"))
    c.add_argument("--out", default=None, help="output JSON (default: $REVEM_REFERENCE_DIR/<El>/<PROPERTY>_<calculator>.json; "
                   "never inside the installed package, never an existing file)")
    c.add_argument("--ecut", type=float, default=None, help="plane-wave cutoff, eV (default 400)")
    c.add_argument("--kpts-density", dest="kpts_density", type=float, default=None,
                   help="k-points per Å^-1 of reciprocal length (default 4.0)")
    c.add_argument("--smearing-width", dest="smearing_width", type=float, default=None,
                   help="Methfessel–Paxton width, eV (default 0.2)")
    c.set_defaults(func=compute)
    ref.set_defaults(func=lambda a: (ref.print_help(), 2)[1])
    return ref


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="revem")
    register(ap.add_subparsers(dest="command", required=True))
    args = ap.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
