"""``revem generate | rescale | export | info`` (register these on the main revem parser).

What these commands refuse (exit status 2, a message on stderr naming the option or the file,
nothing created or written): out-of-range options (argparse, before any file is touched), a
database that does not exist (export/info/rescale never create one; ``--resume`` needs one), a
file that is not a revem database (not SQLite, truncated, another program's tables), an output
directory that is missing or not writable, settings that differ from the run being resumed, and
a new run into a file that holds one.  ``generate`` exits with 3 when a stream is owned by
another live process (its lease names host and PID); nothing of that stream is written.
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sqlite3
import sys


# -- option types: refused by argparse (exit 2, "argument --x: ..." on stderr) before any file is touched
def _int_at_least(lo: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < lo:
            raise argparse.ArgumentTypeError(f"must be an integer >= {lo} (got {value})")
        return value
    return parse


def _float_above(lo: float, inclusive: bool = False, unit: str = ""):
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        ok = value >= lo if inclusive else value > lo
        if not (math.isfinite(value) and ok):
            raise argparse.ArgumentTypeError(f"must be a finite number {'>=' if inclusive else '>'} {lo:g}"
                                             f"{unit} (got {text})")
        return value
    return parse


def _windows(text: str) -> list[int]:
    from .windows import parse_index_list

    try:
        return parse_index_list(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _modes(text: str) -> list[str]:
    from .entropy import MODES

    modes = list(dict.fromkeys(m.strip() for m in text.split(",") if m.strip()))
    bad = [m for m in modes if m not in MODES]
    if bad or not modes:
        raise argparse.ArgumentTypeError(f"unknown mode {', '.join(map(repr, bad)) or '(none given)'}; "
                                         f"expected a comma-separated list of {', '.join(MODES)}")
    return modes


def _atoms(text: str) -> str:
    from .candidate import parse_atoms_distribution

    try:
        parse_atoms_distribution(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _refuse(cmd: str, exc: BaseException, code: int = 2) -> int:
    msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
    print(f"revem {cmd}: {msg}", file=sys.stderr)
    return code


def _generate(args) -> int:
    from .locking import LeaseHeld, LeaseLost
    from .runner import build_specs, prepare, run_dask, run_local, stored_run_settings
    from .storage import database_error

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if getattr(args, "objective", "logdet") != "logdet":  # the W paper's per-configuration entropy
        from .knn import run_cli

        return run_cli(args)
    try:
        from .runner import DEFAULT_STEPS

        boot_rows, atoms, steps = args.bootstrap_rows, args.atoms, args.steps
        if args.resume:  # a run keeps the start rule, cell sizes and evaluation cap it was created with
            stored = stored_run_settings(args.out) or {}
            if boot_rows is None and "bootstrap_rows" in stored:
                boot_rows = stored["bootstrap_rows"]
            if atoms is None:
                atoms = stored.get("atoms")
            if steps is None and stored.get("steps") is not None:
                steps = int(stored["steps"])
        if steps is None:
            steps = DEFAULT_STEPS
        specs = build_specs(args.windows, args.modes, args.iterations, seed=args.seed,
                            v_ref=args.v_ref, core_factor=args.core_factor, low_density=args.low_density,
                            optimizer=args.optimizer, steps=steps, k0=args.k0, ridge=args.ridge,
                            n_bootstrap=args.bootstrap, rcutfac=args.rcutfac, bootstrap_rows=boot_rows,
                            atoms=atoms)
        meta = {"seed": args.seed, "v_ref": args.v_ref, "core_factor": args.core_factor,
                "low_density": args.low_density, "optimizer": args.optimizer, "steps": steps,
                "k0": args.k0, "k_up": 1.05, "k_down": 0.9, "patience": 3, "n_bootstrap": args.bootstrap,
                "ridge": args.ridge, "rcutfac": args.rcutfac,
                "bootstrap_rows": specs[0].bootstrap_rows if specs else boot_rows,
                "atoms": specs[0].atoms if specs else atoms,
                "descriptor": specs[0].descriptor.as_dict() if specs else None,
                "units": "A, A^3/atom; species X (reduced units, see v_ref)"}
        prepare(args.out, specs, meta, args.resume)
        progress = not args.no_progress
        if args.scheduler:
            res = run_dask(args.out, specs, args.scheduler, progress)
        else:
            res = run_local(args.out, specs, args.workers, progress)
    except (LeaseHeld, LeaseLost) as exc:
        return _refuse("generate", exc, 3)
    except (ValueError, FileExistsError) as exc:  # StoreError is a ValueError
        return _refuse("generate", exc)
    except sqlite3.Error as exc:
        return _refuse("generate", database_error(args.out, exc))
    for r in sorted(res, key=lambda r: r["stream"]):
        print(f"{r['stream']}: {r['iteration']} iterations, {r['accepted']} accepted, "
              f"{r['rejected_rmin']} R_min rejections, {r['rejected_no_gain']} without gain, "
              f"{r['errors']} errors; S = {r['S']:.4f} (log det, dimensionless), K = {r['K']:.4g}")
    return 0


def _rescale(args) -> int:
    from .rescale import rescale_db
    from .storage import database_error

    try:
        n, factor = rescale_db(args.db, args.element, args.out)
    except (KeyError, FileExistsError, ValueError) as exc:
        return _refuse("rescale", exc)
    except sqlite3.Error as exc:
        return _refuse("rescale", database_error(args.db, exc))
    print(f"wrote {n} configurations to {args.out or _default_rescaled(args.db, args.element)} "
          f"(lengths x {factor:.6f})")
    return 0


def _default_rescaled(db: str, el: str) -> str:
    root, ext = os.path.splitext(db)
    return f"{root}-{el}{ext or '.db'}"


def _export(args) -> int:
    import ase.io

    from .storage import Store, StoreError, check_directory, database_error, row_atoms

    tmp = None
    try:
        store = Store(args.db, create=False)
        check_directory(args.out)
        sel = {} if args.include_bootstrap else {"kind": "accepted"}
        frames = [row_atoms(r) for r in store.rows(**sel)]
        d, base = os.path.split(os.path.abspath(args.out))
        tmp = os.path.join(d, f".{base}.tmp-{os.getpid()}")
        ase.io.write(tmp, frames, format="extxyz")
        os.replace(tmp, args.out)  # never a half-written export
        tmp = None
    except StoreError as exc:
        return _refuse("export", exc)
    except sqlite3.Error as exc:
        return _refuse("export", database_error(args.db, exc))
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
    print(f"wrote {len(frames)} configurations to {args.out}")
    return 0


def info_dict(db: str) -> dict:
    """Run settings, per-stream counters and the whole-dataset entropy of a generated database
    (StoreError: not one).

    ``entropy[mode]``: S of the union of all streams of that mode (per-atom: every atom of every
    bootstrap and accepted configuration; per-config: every configuration mean), from the streams'
    running sums converted to one normalisation, the union's own per-feature mean and standard
    deviation (:func:`~revem.generator.entropy.union_entropy`), with the run's ridge; ``rows`` is the
    number of rows it rests on, and ``streams`` gives each stream's rows, its stored S (its own
    bootstrap standardisation) and its S on the union's normalisation.
    """
    from .entropy import MODES, Normalization, RunningMoments, union_entropy
    from .storage import Store

    store = Store(db, create=False)
    out = {"db": db, "run": store.get_meta(), "streams": {}, "entropy": {}}
    counts: dict = {}
    for row in store.db.select(include_data=False):
        kvp = row.key_value_pairs
        c = counts.setdefault(kvp.get("stream"), {"bootstrap": 0, "accepted": 0, "atoms_accepted": 0})
        c[kvp.get("kind", "accepted")] += 1
        if kvp.get("kind") == "accepted":
            c["atoms_accepted"] += row.natoms
    parts: dict = {m: [] for m in MODES}
    for name, rec in store.streams().items():
        st, sp = rec["state"], rec["spec"]
        full = store.load_stream(name)
        norm = Normalization.from_dict(full["norm"])
        mom = RunningMoments.from_bytes(len(norm.center), full["sums"])
        out["streams"][name] = {
            "window": sp["window"], "mode": sp["mode"], "iterations_done": st["iteration"],
            "iterations": sp["iterations"], "accepted": st["accepted"],
            "rejected_rmin": st["rejected_rmin"], "rejected_no_gain": st["rejected_no_gain"],
            "errors": st["errors"], "S": st["S"], "K": st["K"], "S_rows": mom.n,
            "bootstrap_rows": sp.get("bootstrap_rows", 0),
            "rows": counts.get(name, {"bootstrap": 0, "accepted": 0, "atoms_accepted": 0}),
            "writer": (lease.describe() if (lease := store.lease(name)) is not None else None)}
        if sp["mode"] in parts:
            parts[sp["mode"]].append((name, mom, norm))
    for mode, items in parts.items():
        if not items:
            continue
        ridge, ddof = items[0][2].ridge, items[0][2].ddof
        u = union_entropy([(mom, norm) for _, mom, norm in items], ridge, ddof)
        out["entropy"][mode] = {
            "S": u.S, "rows": u.n, "n_streams": len(items), "ridge": ridge, "ddof": ddof,
            "normalization": "union's own per-feature mean and standard deviation (ddof 0) of its rows",
            "rows_are": "atoms" if mode == "per-atom" else "configuration means",
            "includes": "bootstrap and accepted configurations of every stream of the mode",
            "center": u.norm.center.tolist(), "scale": u.norm.scale.tolist(),
            "streams": {name: {"rows": n, "S_own": out["streams"][name]["S"], "S_common": S}
                        for (name, _, _), n, S in zip(items, u.parts_n, u.parts_S)}}
    return out


def _info(args) -> int:
    from .storage import StoreError, database_error

    try:
        d = info_dict(args.db)
    except StoreError as exc:
        return _refuse("info", exc)
    except sqlite3.Error as exc:
        return _refuse("info", database_error(args.db, exc))
    if args.json:
        print(json.dumps(d, indent=2))
        return 0
    for name, s in d["streams"].items():
        print(f"{name}: {s['iterations_done']}/{s['iterations']} iterations, {s['accepted']} accepted "
              f"({s['rows']['atoms_accepted']} atoms), S = {s['S']:.4f} on {s['S_rows']} rows, K = {s['K']:.4g}, "
              f"V/atom {s['window']['v_start']:.3f}-{s['window']['v_end']:.3f} A^3"
              + (f"; being written by {s['writer']}" if s["writer"] else ""))
    for mode, e in d["entropy"].items():
        print(f"{mode} whole dataset ({e['n_streams']} streams, bootstrap + accepted): S = {e['S']:.4f} on "
              f"{e['rows']} rows ({e['rows_are']}; normalisation: the union's own mean and standard "
              f"deviation per feature, ridge {e['ridge']:g})")
        for name, p in e["streams"].items():
            print(f"  {name}: S = {p['S_common']:.4f} on that normalisation ({p['rows']} rows; "
                  f"stored S {p['S_own']:.4f} on its own)")
    return 0


def _select(args) -> int:
    from .select import run

    return run(args)


def register(subparsers) -> None:
    """Add generate, rescale, export, info and select to an argparse subparsers object."""
    g = subparsers.add_parser(
        "generate", help="entropy-maximised configurations (Rev-EM generator)",
        epilog="exit status: 0 done; 2 refused (bad option, unusable or mismatching database; nothing "
               "written); 3 a stream is being written by another live process (the message names it)")
    g.add_argument("--out", required=True, help="ASE SQLite database to write (.db)")
    g.add_argument("--windows", default="0-16", type=_windows, help="window indices, e.g. 0-16, 8 or 0,3,5-7 (default 0-16)")
    g.add_argument("--modes", default="per-atom,per-config", type=_modes, help="per-atom,per-config (default both)")
    g.add_argument("--iterations", type=_int_at_least(1), default=25000, help="iterations per stream (paper: 25000)")
    g.add_argument("--seed", type=_int_at_least(0), default=0)
    g.add_argument("--workers", type=_int_at_least(1), default=1, help="local worker processes (default 1)")
    g.add_argument("--resume", action="store_true", help="continue the run stored in --out (refused for streams that another live process writes)")
    g.add_argument("--scheduler", default=None, help="Dask scheduler address (tcp://host:port)")
    g.add_argument("--low-density", action="store_true",
                   help="add windows 17-20 (3-6 x v_ref, small R_core) for open structures (Sec. 5.3)")
    g.add_argument("--v-ref", type=_float_above(0, unit=" A^3/atom"), default=15.9, help="reference volume per atom, A^3 (default 15.9, W)")
    g.add_argument("--core-factor", type=_float_above(0), default=0.85, help="R_core = f * V_start^(1/3) (default 0.85)")
    g.add_argument("--rcutfac", type=_float_above(0, unit=" A"), default=None,
                   help="SNAP cutoff, A (default 4.73442 * (v_ref / 15.9)^(1/3))")
    g.add_argument("--optimizer", choices=["lbfgs", "steepest"], default="lbfgs")
    g.add_argument("--steps", type=_int_at_least(1), default=None,
                   help="max objective evaluations per candidate (default 30: every window above 3 candidates per "
                        "CPU-second at 1.5x the log det gain per CPU-second of 60; --resume keeps the stored run's)")
    g.add_argument("--k0", type=_float_above(0), default=None, help="initial K (default 0.05 per-atom, 0.1 per-config; 0.5 per-config with --bootstrap-rows 0)")
    g.add_argument("--ridge", type=_float_above(0, inclusive=True), default=1e-6, help="ridge added to the standardised covariance")
    g.add_argument("--bootstrap", type=_int_at_least(2), default=10, help="bootstrap configurations per stream (default 10)")
    g.add_argument("--bootstrap-rows", type=_int_at_least(0), default=None,
                   help="start rule: the bootstrap also draws random configurations until the stream holds at "
                        "least this many sample rows (atoms per-atom, configurations per-config) so that S is "
                        "full rank and the acceptance test decides from the first iteration (default "
                        "2 x features = 110; 0: exactly --bootstrap configurations, the rule before; "
                        "--resume keeps the stored run's rule)")
    g.add_argument("--atoms", type=_atoms, default=None,
                   help="cell-size distribution of the candidates and bootstrap: N, LO-HI[:uniform], "
                        "LO-HI:geometric:MEAN or LO-HI:weights:W,W,... (default 2-25:geometric:6, the paper's "
                        "mean of ~6 atoms; 2-25:uniform is revem's earlier law; --resume keeps the stored run's)")
    g.add_argument("--no-progress", action="store_true")
    g.add_argument("--objective", choices=["logdet", "knn", "knn-max", "knn-min"], default="logdet",
                   help="logdet (default): the Rev-EM dataset entropy per (window, mode) stream; knn-max / knn-min: "
                        "the W paper's per-configuration nearest-neighbour descriptor entropy maximised / minimised "
                        "(32-40 atoms, tetragonal boxes; --iterations configurations each; --out .extxyz or .db; "
                        "see revem/generator/knn.py); knn: both")
    from .knn import add_arguments as _knn_arguments

    _knn_arguments(g)
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

    sl = subparsers.add_parser(
        "select", help="D-optimal subset of an existing dataset (greedy max log det of the feature covariance)",
        description="Greedily pick the N configurations of POOL (extxyz, extxyz.gz or ASE db; several files "
                    "are one pool) that raise S = log det Sigma most, with the generator's SNAP features of "
                    "the configurations rescaled to the reference density (lengths x (15.9 / V_eq)^(1/3), "
                    "V_eq the composition-weighted equilibrium volume per atom of the elements, or "
                    "--pool-volume); write them (extxyz) and compare S with random subsets of the same size.",
        epilog="exit status: 0 done; 2 refused (missing or unreadable pool, N outside 1..pool size, unknown "
               "mode, element without an equilibrium volume, unwritable output directory; nothing written)")
    sl.add_argument("pool", nargs="+", help="extxyz / extxyz.gz / ASE database file(s)")
    sl.add_argument("--n", type=_int_at_least(1), required=True, help="configurations to select")
    sl.add_argument("--mode", choices=["per-atom", "per-config"], default="per-config",
                    help="rows of the covariance: every atom, or each configuration's mean (default)")
    sl.add_argument("--out", required=True, help="extxyz file for the subset (in the order chosen; never an input, "
                    "nor an existing file revem did not write)")
    sl.add_argument("--random", type=_int_at_least(2), default=20, help="random subsets to compare with (default 20)")
    sl.add_argument("--seed", type=_int_at_least(0), default=0, help="seed of the random subsets")
    sl.add_argument("--pool-volume", type=_float_above(0, unit=" A^3/atom"), default=None,
                    help="volume per atom (A^3) of the pool's reference state, instead of the elements' "
                         "equilibrium volumes")
    sl.add_argument("--json", action="store_true")
    sl.set_defaults(func=_select)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="revem")
    sub = p.add_subparsers(dest="command", required=True)
    register(sub)
    args = p.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
