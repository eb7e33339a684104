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

import hashlib
import sys
import time
from pathlib import Path

from .snap import FitError, SnapSettings, Weighting

#: the W groups of the data mirror that share one energy zero (datasets README §3), used by the examples
W_DEMO_DATA = ["fitsnap-WBe/W/slice_sample.extxyz.gz", "fitsnap-WBe/W/surface.extxyz.gz",
               "fitsnap-WBe/W/vacancy.extxyz.gz@every=10", "fitsnap-WBe/W/EOS_Data.extxyz.gz"]


def read_sources(specs: list[str], element: str | None = None):
    """(frames, group label per frame, provenance list) from registry names / extxyz paths (``@every=N``)."""
    from revem.data import DataCorrupt, DataUnavailable, read_extxyz_fast, registry

    frames, groups, prov = [], [], []
    for spec in specs:
        name, every = spec, 1
        if "@every=" in spec:
            name, _, n = spec.partition("@every=")
            try:
                every = int(n)
                if every < 1:
                    raise ValueError
            except ValueError:
                raise FitError(f"{spec}: '@every=' needs a positive integer") from None
        try:
            got = read_extxyz_fast(name)
        except (DataCorrupt, DataUnavailable) as exc:
            raise FitError(str(exc)) from exc
        if not isinstance(got, list):
            got = [got]
        got = got[::every]
        if not got:
            raise FitError(f"{spec}: no configurations")
        for i, at in enumerate(got):
            if at.calc is None:
                raise FitError(f"{name}: frame {i * every} has no energy/forces (label it first: revem label)")
        label = Path(name).name.split(".")[0]
        frames += got
        groups += [label] * len(got)
        reg = name in registry()
        entry = {"source": name, "every": every, "n": len(got), "registry": reg}
        if reg:
            entry["sha256"] = registry()[name].get("sha256")
        else:
            entry["sha256"] = hashlib.sha256(Path(name).read_bytes()).hexdigest()
        prov.append(entry)
    els = sorted({s for at in frames for s in at.get_chemical_symbols()})
    if element is None:
        if len(els) != 1:
            raise FitError(f"the data hold {els}: pass --element (single-element fits only)")
        element = els[0]
    return frames, groups, prov, element


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
                     stress_weight=args.stress_weight)


def run_snap(args) -> int:
    from ase.io import write

    from . import snap

    t0 = time.perf_counter()
    try:
        frames, groups, prov, element = read_sources(args.data, args.element)
        if args.element and any(set(at.get_chemical_symbols()) != {args.element} for at in frames):
            raise FitError(f"the data hold other elements than {args.element}")
        s = _settings(args, element)
        w = _weighting(args)
        name = args.name or f"{element}_{'quadratic' if s.quadratic else 'linear'}_snap"
        print(f"fitting {'quadratic' if s.quadratic else 'linear'} SNAP ({s.n_columns} coefficients, 2J_max "
              f"{s.twojmax}, cutoff {s.rcutfac:.4g} Å) to {len(frames)} configurations "
              f"({sum(map(len, frames))} atoms) of {element}; weighting {w.kind}", file=sys.stderr)
        res = snap.fit(frames, s, w, test_size=args.test_size, seed=args.seed, split_how=args.split,
                       groups=groups, ridge=args.ridge, progress=not args.quiet)
    except FitError as exc:
        print(f"revem fit snap: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    train_file = f"{name}.training.extxyz.gz"
    write(str(out / train_file), [frames[i] for i in res.train], format="extxyz")
    tr = res.errors["train"]["all"]
    te = res.errors.get("test", {}).get("all", {})
    notes = (f"Fitted by `revem fit snap` on {len(res.train)} configurations ({', '.join(p['source'] for p in prov)}); "
             f"weighting {w.kind}; train RMSE {tr.get('energy_rmse', float('nan')):.3g} meV/atom, "
             f"{tr.get('force_rmse', float('nan')):.3g} eV/Å"
             + (f"; test RMSE {te['energy_rmse']:.3g} meV/atom, {te.get('force_rmse', float('nan')):.3g} eV/Å"
                if te else "")
             + f". ZBL ({res.settings.zbl_inner:.3g}-{res.settings.zbl_outer:.3g} Å switching) below the shortest "
               "training distance. A demonstration fit, not a tuned potential.")
    card = snap.write_potential(res.coef, res.settings, out, name, training_data=[train_file], notes=notes)
    snap.parity_plot(res, frames, out / "parity.png")
    (out / "errors.md").write_text(snap.errors_markdown(res))
    summary = res.summary() | {"name": name, "sources": prov, "split": args.split, "seed": args.seed,
                               "ridge": args.ridge, "wall_s": round(time.perf_counter() - t0, 2),
                               "groups_test": sorted({groups[i] for i in res.test})}
    (out / "fit.json").write_text(snap.to_json(summary))
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
        epilog="exit status: 0 written; 2 refused (unreadable data, mixed elements, bad options; the message names it)")
    s.add_argument("data", nargs="+", help="registry names or extxyz files with energies and forces ('NAME@every=N')")
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
