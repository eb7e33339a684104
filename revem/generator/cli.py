"""``revem generate | rescale | export | info`` (register these on the main revem parser)."""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys


def _generate(args) -> int:
    from .runner import build_specs, prepare, run_dask, run_local
    from .windows import parse_index_list

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    try:
        specs = build_specs(parse_index_list(args.windows), modes, args.iterations, seed=args.seed,
                            v_ref=args.v_ref, core_factor=args.core_factor, low_density=args.low_density,
                            optimizer=args.optimizer, steps=args.steps, k0=args.k0, ridge=args.ridge,
                            n_bootstrap=args.bootstrap, rcutfac=args.rcutfac)
        meta = {"seed": args.seed, "v_ref": args.v_ref, "core_factor": args.core_factor,
                "low_density": args.low_density, "optimizer": args.optimizer, "steps": args.steps,
                "k0": args.k0, "k_up": 1.05, "k_down": 0.9, "patience": 3, "n_bootstrap": args.bootstrap,
                "ridge": args.ridge, "rcutfac": args.rcutfac,
                "descriptor": specs[0].descriptor.as_dict() if specs else None,
                "units": "A, A^3/atom; species X (reduced units, see v_ref)"}
        prepare(args.out, specs, meta, args.resume)
    except (ValueError, FileExistsError) as exc:
        print(f"revem generate: {exc}", file=sys.stderr)
        return 2
    progress = not args.no_progress
    if args.scheduler:
        res = run_dask(args.out, specs, args.scheduler, progress)
    else:
        res = run_local(args.out, specs, args.workers, progress)
    for r in sorted(res, key=lambda r: r["stream"]):
        print(f"{r['stream']}: {r['iteration']} iterations, {r['accepted']} accepted, "
              f"{r['rejected_rmin']} R_min rejections, {r['rejected_no_gain']} without gain, "
              f"{r['errors']} errors; S = {r['S']:.4f} (log det, dimensionless), K = {r['K']:.4g}")
    return 0


def _rescale(args) -> int:
    from .rescale import rescale_db

    try:
        n, factor = rescale_db(args.db, args.element, args.out)
    except (KeyError, FileExistsError, ValueError) as exc:
        print(f"revem rescale: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {n} configurations to {args.out or _default_rescaled(args.db, args.element)} "
          f"(lengths x {factor:.6f})")
    return 0


def _default_rescaled(db: str, el: str) -> str:
    root, ext = os.path.splitext(db)
    return f"{root}-{el}{ext or '.db'}"


def _export(args) -> int:
    import ase.io

    from .storage import Store, row_atoms

    store = Store(args.db)
    sel = {} if args.include_bootstrap else {"kind": "accepted"}
    frames = [row_atoms(r) for r in store.rows(**sel)]
    ase.io.write(args.out, frames, format="extxyz")
    print(f"wrote {len(frames)} configurations to {args.out}")
    return 0


def info_dict(db: str) -> dict:
    from .storage import Store

    store = Store(db)
    out = {"db": db, "run": store.get_meta(), "streams": {}}
    counts: dict = {}
    for row in store.db.select(include_data=False):
        kvp = row.key_value_pairs
        c = counts.setdefault(kvp.get("stream"), {"bootstrap": 0, "accepted": 0, "atoms_accepted": 0})
        c[kvp.get("kind", "accepted")] += 1
        if kvp.get("kind") == "accepted":
            c["atoms_accepted"] += row.natoms
    for name, rec in store.streams().items():
        st, sp = rec["state"], rec["spec"]
        out["streams"][name] = {
            "window": sp["window"], "mode": sp["mode"], "iterations_done": st["iteration"],
            "iterations": sp["iterations"], "accepted": st["accepted"],
            "rejected_rmin": st["rejected_rmin"], "rejected_no_gain": st["rejected_no_gain"],
            "errors": st["errors"], "S": st["S"], "K": st["K"],
            "rows": counts.get(name, {"bootstrap": 0, "accepted": 0, "atoms_accepted": 0})}
    return out


def _info(args) -> int:
    d = info_dict(args.db)
    if args.json:
        print(json.dumps(d, indent=2))
        return 0
    for name, s in d["streams"].items():
        print(f"{name}: {s['iterations_done']}/{s['iterations']} iterations, {s['accepted']} accepted "
              f"({s['rows']['atoms_accepted']} atoms), S = {s['S']:.4f}, K = {s['K']:.4g}, "
              f"V/atom {s['window']['v_start']:.3f}-{s['window']['v_end']:.3f} A^3")
    return 0


def register(subparsers) -> None:
    """Add generate, rescale, export and info to an argparse subparsers object."""
    g = subparsers.add_parser("generate", help="entropy-maximised configurations (Rev-EM generator)")
    g.add_argument("--out", required=True, help="ASE SQLite database to write (.db)")
    g.add_argument("--windows", default="0-16", help="window indices, e.g. 0-16, 8 or 0,3,5-7 (default 0-16)")
    g.add_argument("--modes", default="per-atom,per-config", help="per-atom,per-config (default both)")
    g.add_argument("--iterations", type=int, default=25000, help="iterations per stream (paper: 25000)")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--workers", type=int, default=1, help="local worker processes (default 1)")
    g.add_argument("--resume", action="store_true", help="continue the run stored in --out")
    g.add_argument("--scheduler", default=None, help="Dask scheduler address (tcp://host:port)")
    g.add_argument("--low-density", action="store_true",
                   help="add windows 17-20 (3-6 x v_ref, small R_core) for open structures (Sec. 5.3)")
    g.add_argument("--v-ref", type=float, default=15.9, help="reference volume per atom, A^3 (default 15.9, W)")
    g.add_argument("--core-factor", type=float, default=0.85, help="R_core = f * V_start^(1/3) (default 0.85)")
    g.add_argument("--rcutfac", type=float, default=None,
                   help="SNAP cutoff, A (default 4.73442 * (v_ref / 15.9)^(1/3))")
    g.add_argument("--optimizer", choices=["lbfgs", "steepest"], default="lbfgs")
    g.add_argument("--steps", type=int, default=60, help="max objective evaluations per candidate (default 60)")
    g.add_argument("--k0", type=float, default=None, help="initial K (default 0.05 per-atom, 0.5 per-config)")
    g.add_argument("--ridge", type=float, default=1e-6, help="ridge added to the standardised covariance")
    g.add_argument("--bootstrap", type=int, default=10, help="bootstrap configurations per stream (default 10)")
    g.add_argument("--no-progress", action="store_true")
    g.set_defaults(func=_generate)

    r = subparsers.add_parser("rescale", help="rescale a generated database to an element's volume")
    r.add_argument("db")
    r.add_argument("--element", required=True)
    r.add_argument("--out", default=None, help="output database (default DB-<El>.db)")
    r.set_defaults(func=_rescale)

    e = subparsers.add_parser("export", help="write a generated database as extended XYZ")
    e.add_argument("db")
    e.add_argument("out")
    e.add_argument("--include-bootstrap", action="store_true")
    e.set_defaults(func=_export)

    i = subparsers.add_parser("info", help="per-stream counts and current S of a generated database")
    i.add_argument("db")
    i.add_argument("--json", action="store_true")
    i.set_defaults(func=_info)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="revem")
    sub = p.add_subparsers(dest="command", required=True)
    register(sub)
    args = p.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
