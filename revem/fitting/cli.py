"""``revem fit snap`` and ``revem fit pacemaker``: fit a potential to labelled configurations.

``revem fit snap DATA... --element W [--quadratic]`` fits a linear (or quadratic) SNAP with
:mod:`revem.fitting.snap` and writes, in ``--out``: ``NAME.snapcoeff``, ``NAME.snapparam``, the potential
card ``NAME.yaml`` (ZBL below the data's shortest distance + SNAP) that ``pytest validation --potential``
takes at once, ``NAME.training.extxyz.gz`` (the training split, named in the card's ``training_data`` so
validation labels cases in-domain or extrapolating), ``fit.json`` (settings, sources, weights, errors),
``errors.md`` and ``parity.png``.  DATA are registry names of the data mirror (``fitsnap-WBe/W/EOS_Data.extxyz.gz``,
optionally ``NAME@every=10``) or extxyz files, e.g. the output of ``revem label``; each entry is one group
for ``--split group``.
"""
from __future__ import annotations

import sys
import time

from .snap import FitError, SnapSettings, Weighting

#: the W groups of the data mirror that share one energy zero (datasets README §3), used by the examples
W_DEMO_DATA = ["fitsnap-WBe/W/slice_sample.extxyz.gz", "fitsnap-WBe/W/surface.extxyz.gz",
               "fitsnap-WBe/W/vacancy.extxyz.gz@every=10", "fitsnap-WBe/W/EOS_Data.extxyz.gz"]


def _finite_labels(at) -> bool:
    """Whether a frame's energy, forces and (if any) stress are all finite."""
    import numpy as np

    try:
        ok = np.isfinite(at.get_potential_energy()) and np.all(np.isfinite(at.get_forces()))
        if "stress" in at.calc.results:
            ok = ok and np.all(np.isfinite(at.get_stress()))
    except Exception:  # noqa: BLE001 (no labels: reported by the caller)
        return True
    return bool(ok)


def read_sources(specs: list[str], element: str | None = None, dropped: list | None = None):
    """(frames, group label per frame, provenance list, element) of the DATA entries, each read through the one
    input loader (:func:`revem.data.load_configurations`: registry names, extxyz files, ASE databases, ``@every=N``;
    every read bounded, :mod:`revem.safe_io`).  A frame with non-finite energy, forces or stress is dropped from
    the data (so from the fit *and* the training split the card names) and listed in ``dropped`` (``source``,
    frame index); the provenance counts them."""
    from revem.data import load_configurations
    from revem.safe_io import Refused

    frames, groups, prov = [], [], []
    for spec in specs:
        try:
            src = load_configurations(spec, what="data")
        except Refused as exc:
            raise FitError(str(exc)) from None
        name = src.name
        if src.placeholder:
            raise FitError(f"{name}: generated configurations (placeholder species X) have no labels: label them "
                           f"first (revem label {name} --element El --teacher ... or --dft)")
        if not src.frames:
            raise FitError(f"{spec}: no configurations")
        kept = []
        for i, at in zip(src.index, src.frames):
            if at.calc is None:
                raise FitError(f"{name}: frame {i} has no energy/forces (label it first: revem label)")
            if not _finite_labels(at):
                if dropped is not None:
                    dropped.append({"source": name, "frame": i})
                continue
            kept.append(at)
        if not kept:
            raise FitError(f"{spec}: every configuration has non-finite labels")
        frames += kept
        groups += [src.label] * len(kept)
        prov.append({"source": name, "every": src.every, "n": len(kept),
                     "n_dropped_nonfinite": len(src.frames) - len(kept), "registry": src.registry,
                     "sha256": src.sha256()})
    els = sorted({s for at in frames for s in at.get_chemical_symbols()})
    if element is None:
        if len(els) != 1:
            raise FitError(f"the data hold {els}: pass --element (single-element fits only)")
        element = els[0]
    return frames, groups, prov, element


#: ranges of ``revem fit snap``'s numeric options: (dest, option, kind, lo, hi, lo_open, hi_open)
SNAP_RANGES = [
    ("twojmax", "--twojmax", int, 1, 12, False, False),
    ("rcut", "--rcut", float, 0.0, 15.0, True, False),
    ("zbl_outer", "--zbl-outer", float, 0.0, 10.0, True, False),
    ("zbl_inner", "--zbl-inner", float, 0.0, 10.0, True, False),
    ("kappa", "--kappa", float, 0.0, 1.0, False, True),
    ("de_low", "--de-low", float, 0.0, 1e6, True, False),
    ("de_up", "--de-up", float, 0.0, 1e6, True, False),
    ("df_up", "--df-up", float, 0.0, 1e6, True, False),
    ("energy_weight", "--energy-weight", float, 0.0, 1e12, True, False),
    ("force_weight", "--force-weight", float, 0.0, 1e12, False, False),
    ("stress_weight", "--stress-weight", float, 0.0, 1e12, False, False),
    ("ridge", "--ridge", float, 0.0, 1e6, False, False),
    ("test_size", "--test-size", float, 0.0, 1.0, False, True),
    ("seed", "--seed", int, 0, 2**63 - 1, False, False),
]


def check_snap_args(args) -> str:
    """Every option of ``revem fit snap`` checked before any file is read (FitError naming it): the numbers
    (:data:`SNAP_RANGES`: finite and in range), ``--zbl-inner`` < ``--zbl-outer``, ``--de-low`` < ``--de-up``,
    the name (``[A-Za-z0-9_-]``, at most 64 characters) and the element.  Returns the element (or '')."""
    from ase.data import atomic_numbers

    from revem.safe_io import Refused, check_name, number

    try:
        for dest, opt, kind, lo, hi, lo_open, hi_open in SNAP_RANGES:
            v = getattr(args, dest)
            if v is not None:
                number(v, opt, lo, hi, lo_open, hi_open, integer=kind is int)
        if args.zbl_inner is not None and args.zbl_outer is not None and not args.zbl_inner < args.zbl_outer:
            raise Refused(f"--zbl-inner {args.zbl_inner} must be below --zbl-outer {args.zbl_outer} (Å)")
        if args.de_low is not None and args.de_up is not None and not args.de_low < args.de_up:
            raise Refused(f"--de-low {args.de_low} must be below --de-up {args.de_up} (eV/atom)")
        if args.name is not None:
            check_name(args.name, "--name")
    except Refused as exc:
        raise FitError(str(exc)) from None
    el = args.element
    if el is not None and (el not in atomic_numbers or el == "X" or not el[:1].isupper()):
        raise FitError(f"--element {el!r} is not a chemical symbol")
    return el or ""


def _settings(args, element: str) -> SnapSettings:
    twojmax = args.twojmax if args.twojmax is not None else (6 if args.quadratic else 8)
    kw = dict(element=element, twojmax=twojmax, quadratic=args.quadratic)
    if args.rcut is not None:
        kw["rcutfac"] = args.rcut
    if args.zbl_outer is not None:
        kw["zbl_outer"] = args.zbl_outer
    if args.zbl_inner is not None:
        kw["zbl_inner"] = args.zbl_inner
    return SnapSettings(**kw)


def _weighting(args) -> Weighting:
    return Weighting(kind=args.weighting, kappa=args.kappa, de_low=args.de_low, de_up=args.de_up, df_up=args.df_up,
                     energy_weight=args.energy_weight, force_weight=args.force_weight,
                     stress_weight=args.stress_weight).check()


def _data_paths(specs) -> list[str]:
    """The DATA entries that are files (not registry names), for the output checks."""
    import os

    return [spec.partition("@every=")[0] for spec in specs if os.path.lexists(spec.partition("@every=")[0])]


def _default_name(args, element: str) -> str:
    return args.name or f"{element}_{'quadratic' if args.quadratic else 'linear'}_snap"


def run_snap(args) -> int:
    """``revem fit snap``: options, names and the output folder are checked before any work; every file is
    written through a temporary file renamed at the end (:class:`revem.safe_io.OutputFolder`); nothing is
    written outside ``--out``."""
    from revem.safe_io import OutputError, OutputFolder, Refused, write_extxyz

    from . import snap

    t0 = time.perf_counter()
    folder = None
    try:
        el = check_snap_args(args)
        folder = OutputFolder(args.out, "--out", inputs=_data_paths(args.data), command="revem fit snap")
        if args.name is not None or el:
            name0 = _default_name(args, el)
            folder.plan(f"{name0}.snapcoeff", f"{name0}.snapparam", f"{name0}.yaml", f"{name0}.training.extxyz.gz",
                        "fit.json", "errors.md", "parity.png")
        dropped: list = []
        frames, groups, prov, element = read_sources(args.data, args.element, dropped)
        if args.element and any(set(at.get_chemical_symbols()) != {args.element} for at in frames):
            raise FitError(f"the data hold other elements than {args.element}")
        s = _settings(args, element)
        w = _weighting(args)
        name = _default_name(args, element)
        train_file = f"{name}.training.extxyz.gz"
        folder.plan(f"{name}.snapcoeff", f"{name}.snapparam", f"{name}.yaml", train_file, "fit.json", "errors.md",
                    "parity.png")
        if dropped:
            where = ", ".join(f"{d['source']} frame {d['frame']}" for d in dropped[:5])
            print(f"revem fit snap: dropped {len(dropped)} configuration(s) with non-finite energy, forces or stress "
                  f"from the data and the training split ({where}{', ...' if len(dropped) > 5 else ''})",
                  file=sys.stderr)
        print(f"fitting {'quadratic' if s.quadratic else 'linear'} SNAP ({s.n_columns} coefficients, 2J_max "
              f"{s.twojmax}, cutoff {s.rcutfac:.4g} Å) to {len(frames)} configurations "
              f"({sum(map(len, frames))} atoms) of {element}; weighting {w.kind}", file=sys.stderr)
        res = snap.fit(frames, s, w, test_size=args.test_size, seed=args.seed, split_how=args.split,
                       groups=groups, ridge=args.ridge, progress=not args.quiet)
        if not len(res.train):
            raise FitError(f"--test-size {args.test_size} leaves no training configuration")
        tr = res.errors["train"]["all"]
        te = res.errors.get("test", {}).get("all", {})
        notes = (f"Fitted by `revem fit snap` on {len(res.train)} configurations ({', '.join(p['source'] for p in prov)}); "
                 f"weighting {w.kind}; train RMSE {tr.get('energy_rmse', float('nan')):.3g} meV/atom, "
                 f"{tr.get('force_rmse', float('nan')):.3g} eV/Å"
                 + (f"; test RMSE {te['energy_rmse']:.3g} meV/atom, {te.get('force_rmse', float('nan')):.3g} eV/Å"
                    if te else "")
                 + f". ZBL ({res.settings.zbl_inner:.3g}-{res.settings.zbl_outer:.3g} Å switching) below the shortest "
                   "training distance. A demonstration fit, not a tuned potential.")
        files = snap.potential_files(res.coef, res.settings, name, training_data=[train_file], notes=notes)
        write_notes: list = []
        folder.write_with(train_file, lambda tmp: write_notes.extend(
            write_extxyz([frames[i] for i in res.train], tmp)))
        for fname, text in files.items():
            folder.write_bytes(fname, text)
        card = folder.path(f"{name}.yaml")
        folder.write_with("parity.png", lambda tmp: snap.parity_plot(res, frames, tmp))
        folder.write_bytes("errors.md", snap.errors_markdown(res))
        summary = res.summary() | {"name": name, "sources": prov, "split": args.split, "seed": args.seed,
                                   "ridge": args.ridge, "wall_s": round(time.perf_counter() - t0, 2),
                                   "groups_test": sorted({groups[i] for i in res.test}),
                                   "dropped_nonfinite": dropped}
        folder.write_bytes("fit.json", snap.to_json(summary))
        folder.finish(remove_stale=False)  # other potentials fitted into the same folder are kept
    except OutputError as exc:
        if folder is not None:
            folder.abort()
        print(f"revem fit snap: {exc}", file=sys.stderr)
        return 1
    except (FitError, Refused) as exc:
        if folder is not None:
            folder.abort()
        print(f"revem fit snap: {exc}", file=sys.stderr)
        return 2
    for n in write_notes:
        print(f"revem fit snap: {train_file}: {n}", file=sys.stderr)
    print(snap.errors_markdown(res))
    if len(res.excluded):
        print(f"{len(res.excluded)} configurations excluded by the paper's weighting (E - E_min >= "
              f"{res.weighting.de_up} eV/atom or |F| > {res.weighting.df_up} eV/Å)")
    print(f"wrote {card} (+ .snapcoeff, .snapparam, {train_file}, fit.json, errors.md, parity.png) in "
          f"{time.perf_counter() - t0:.1f} s")
    print(f"validate it: pytest validation -k {element} --potential {card} --tier smoke")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("fit", help="fit a potential (linear/quadratic SNAP; pacemaker inputs) to labelled data")
    sub = p.add_subparsers(dest="fit_kind", required=True)
    s = sub.add_parser(
        "snap", help="linear or quadratic SNAP by weighted least squares (writes a potential card)",
        description=__doc__.split("\n\n")[1],
        epilog="exit status: 0 written; 1 an output could not be written (full disk; nothing half-written); 2 refused "
               "(unreadable data, mixed elements, bad options, an --out that is a file or an input, a --name that is "
               "not [A-Za-z0-9_-]; the message names it; nothing written)")
    s.add_argument("data", nargs="+", help="registry names, extxyz files or ASE databases with energies and forces "
                   "('NAME@every=N'), e.g. the output of revem label")
    s.add_argument("--element", default=None, help="chemical symbol (default: the data's single element)")
    s.add_argument("--quadratic", action="store_true", help="quadratic SNAP (seed 002 eq. 3); default 2J_max 6 then")
    s.add_argument("--twojmax", type=int, default=None, help="2J_max (default 8 linear, 6 quadratic)")
    s.add_argument("--rcut", type=float, default=None, help="SNAP cutoff, Å (default 4.73442, the papers' W value)")
    s.add_argument("--zbl-outer", type=float, default=None, help="Å (default: shortest distance in the data)")
    s.add_argument("--zbl-inner", type=float, default=None, help="Å (default: 0.75 x the outer)")
    s.add_argument("--weighting", default="paper", choices=["paper", "uniform"],
                   help="paper: seed 000 §5.5 energy-based weights (default); uniform: fixed row weights")
    s.add_argument("--kappa", type=float, default=0.1, help="paper: force share of the loss (default 0.1)")
    s.add_argument("--de-low", type=float, default=None, help="paper: eV/atom window holding 75 %% of the energy "
                   "weight (default per element, W 2)")
    s.add_argument("--de-up", type=float, default=None, help="paper: exclude E - E_min above this, eV/atom (W 20)")
    s.add_argument("--df-up", type=float, default=None, help="paper: exclude |F| above this, eV/Å (W 100)")
    s.add_argument("--energy-weight", type=float, default=100.0, help="uniform: energy row weight (per eV/atom)")
    s.add_argument("--force-weight", type=float, default=1.0, help="uniform: force row weight (per eV/Å)")
    s.add_argument("--stress-weight", type=float, default=0.0, help="uniform: stress row weight (per GPa)")
    s.add_argument("--ridge", type=float, default=1e-8, help="Tikhonov parameter on unit-scaled columns")
    s.add_argument("--test-size", type=float, default=0.2, help="held-out share of configurations (default 0.2)")
    s.add_argument("--split", default="random", choices=["random", "group"],
                   help="random configurations, or whole groups (one per DATA entry) held out")
    s.add_argument("--seed", type=int, default=42)
    s.add_argument("--name", default=None, help="potential name (default <El>_linear_snap / <El>_quadratic_snap)")
    s.add_argument("--out", default="fit", help="output folder (default ./fit)")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=run_snap)
    try:
        from . import pacemaker
    except ImportError:
        return
    pm = sub.add_parser("pacemaker", help="write (and run) the seed-000 S5 pacemaker input for an element")
    pacemaker.configure_parser(pm)
    pm.set_defaults(func=pacemaker.run_cli)
