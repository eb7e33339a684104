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


def _given(args) -> dict:
    """The run settings the user gave on the command line (None: not given)."""
    from .runner import RUN_OPTIONS

    dest = {"n_bootstrap": "bootstrap"}
    out = {key: getattr(args, dest.get(key, key)) for key, _, _ in RUN_OPTIONS}
    out.update(windows=args.windows, modes=args.modes, iterations=args.iterations)
    return out


def _generate(args) -> int:
    from ..safe_io import connect_scheduler
    from .locking import LeaseHeld, LeaseLost
    from .runner import (DEFAULT_ITERATIONS, RUN_OPTIONS, prepare, resolve_run, run_dask, run_local, specs_for)
    from .storage import StoreError, database_error, file_kind

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if getattr(args, "objective", "logdet") != "logdet":  # the W paper's per-configuration entropy
        from .knn import run_cli

        for key, _, default in RUN_OPTIONS:  # the settings knn.py reads; --steps None is its own default
            if key in ("seed", "v_ref", "core_factor") and getattr(args, key, None) is None:
                setattr(args, key, default)
        if args.iterations is None:
            args.iterations = DEFAULT_ITERATIONS
        return run_cli(args)
    client = None
    try:
        if args.resume and file_kind(args.out) == "missing":
            raise StoreError(f"--resume: {args.out} does not exist (nothing to resume; drop --resume to start a new run)")
        res = resolve_run(args.out, _given(args), args.resume)
        specs = specs_for(res)
        if not specs:
            raise ValueError(f"no stream selected in {args.out}")
        meta = {"seed": res["seed"], "v_ref": res["v_ref"], "core_factor": res["core_factor"],
                "low_density": res["low_density"], "optimizer": res["optimizer"], "steps": res["steps"],
                "k0": res["k0"], "k_up": 1.05, "k_down": 0.9, "patience": 3, "n_bootstrap": res["n_bootstrap"],
                "ridge": res["ridge"], "rcutfac": res["rcutfac"],
                "bootstrap_rows": specs[0].bootstrap_rows, "atoms": specs[0].atoms,
                "descriptor": specs[0].descriptor.as_dict(),
                "units": "A, A^3/atom; species X (reduced units, see v_ref)"}
        if args.scheduler:  # reached (or refused in a few seconds) before the database is created or touched
            client = connect_scheduler(args.scheduler, "--scheduler")
        prepare(args.out, specs, meta, args.resume)
        if args.resume:
            print(f"revem generate: resuming {args.out}: {len(specs)} stream(s) ({', '.join(s.name for s in specs[:4])}"
                  f"{', ...' if len(specs) > 4 else ''}) with the stored settings (seed {res['seed']}, v_ref "
                  f"{res['v_ref']:g}, steps {specs[0].steps}, atoms {specs[0].atoms})", file=sys.stderr)
        progress = not args.no_progress
        if client is not None:
            res_ = run_dask(args.out, specs, client, progress)
        else:
            res_ = run_local(args.out, specs, args.workers, progress)
    except (LeaseHeld, LeaseLost) as exc:
        return _refuse("generate", exc, 3)
    except (ValueError, FileExistsError) as exc:  # StoreError and Refused are ValueErrors
        return _refuse("generate", exc)
    except sqlite3.Error as exc:
        return _refuse("generate", database_error(args.out, exc))
    finally:
        if client is not None:
            client.close()
    for r in sorted(res_, key=lambda r: r["stream"]):
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
    """``revem export DB OUT``: a generator database (placeholder species X; each frame carries the run's
    ``revem_v_ref`` so that ``revem label --element`` can rescale it), a ``revem rescale`` database or any ASE
    database as extxyz, read through the one input loader (:func:`revem.data.load_configurations`;
    ``--element`` rescales a generator database on the way, as ``revem rescale``).  OUT is written through a
    temporary file renamed at the end, never over the input or a file revem did not write."""
    import numpy as np

    from ..data import load_configurations
    from ..safe_io import OutputError, Refused, check_output_file, write_extxyz
    from .storage import StoreError, check_directory, database_error, file_kind

    notes: list = []
    try:
        kind = file_kind(args.db)
        if kind != "sqlite":
            raise StoreError(f"{args.db} does not exist" if kind == "missing"
                             else f"{args.db} is empty (not a revem database)")
        check_directory(args.out)
        folder = check_output_file(args.out, inputs=[args.db], suffixes=(".extxyz", ".xyz", ".extxyz.gz", ".xyz.gz"))
        loaded = load_configurations(args.db, args.element, include_bootstrap=args.include_bootstrap,
                                     what="database")
        frames = []
        for at, feats in zip(loaded.frames, loaded.features):
            if feats is not None and feats[0].shape[0] == len(at):
                at.arrays["bispectrum"] = np.asarray(feats[0])
            frames.append(at)
        folder.write_with(os.path.basename(args.out), lambda tmp: notes.extend(write_extxyz(frames, tmp)))
        folder.finish(remove_stale=False)
    except OutputError as exc:
        return _refuse("export", exc, 1)
    except (StoreError, Refused) as exc:
        return _refuse("export", exc)
    except sqlite3.Error as exc:
        return _refuse("export", database_error(args.db, exc))
    for n in notes:
        print(f"revem export: {args.out}: {n}", file=sys.stderr)
    print(f"wrote {len(frames)} configurations to {args.out} ({loaded.describe()})")
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
    g.add_argument("--windows", default=None, type=_windows, help="window indices, e.g. 0-16, 8 or 0,3,5-7 (default 0-16; --resume: the stored streams)")
    g.add_argument("--modes", default=None, type=_modes, help="per-atom,per-config (default both; --resume: the stored streams)")
    g.add_argument("--iterations", type=_int_at_least(1), default=None, help="iterations per stream (default 25000, the paper's; --resume: each stream's stored count, a larger one extends the run)")
    g.add_argument("--seed", type=_int_at_least(0), default=None, help="default 0")
    g.add_argument("--workers", type=_int_at_least(1), default=1, help="local worker processes (default 1)")
    g.add_argument("--resume", action="store_true", help="continue the run stored in --out with its stored settings "
                   "(every option left out takes the stored value; one given with another value is refused; refused "
                   "for streams that another live process writes)")
    g.add_argument("--scheduler", default=None, help="Dask scheduler address (tcp://host:port); reached before "
                   "anything is written (an unreachable one is refused within ~5 s, nothing created)")
    g.add_argument("--low-density", action="store_true", default=None,
                   help="add windows 17-20 (3-6 x v_ref, small R_core) for open structures (Sec. 5.3)")
    g.add_argument("--v-ref", type=_float_above(0, unit=" A^3/atom"), default=None, help="reference volume per atom, A^3 (default 15.9, W)")
    g.add_argument("--core-factor", type=_float_above(0), default=None, help="R_core = f * V_start^(1/3) (default 0.85)")
    g.add_argument("--rcutfac", type=_float_above(0, unit=" A"), default=None,
                   help="SNAP cutoff, A (default 4.73442 * (v_ref / 15.9)^(1/3))")
    g.add_argument("--optimizer", choices=["lbfgs", "steepest"], default=None, help="default lbfgs")
    g.add_argument("--steps", type=_int_at_least(1), default=None,
                   help="max objective evaluations per candidate (default 30: every window above 3 candidates per "
                        "CPU-second at 1.5x the log det gain per CPU-second of 60; --resume keeps the stored run's)")
    g.add_argument("--k0", type=_float_above(0), default=None, help="initial K (default 0.05 per-atom, 0.1 per-config; 0.5 per-config with --bootstrap-rows 0)")
    g.add_argument("--ridge", type=_float_above(0, inclusive=True), default=None, help="ridge added to the standardised covariance (default 1e-6)")
    g.add_argument("--bootstrap", type=_int_at_least(2), default=None, help="bootstrap configurations per stream (default 10)")
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

    e = subparsers.add_parser("export", help="write a generated (or rescaled) database as extended XYZ")
    e.add_argument("db", help="revem generator database, revem rescale output or ASE database")
    e.add_argument("out", help="extxyz file (.extxyz/.xyz, optionally .gz)")
    e.add_argument("--include-bootstrap", action="store_true")
    e.add_argument("--element", default=None, help="rescale a generator database to this element on the way (as "
                   "revem rescale); without it the placeholder species X is written with the run's v_ref "
                   "(revem_v_ref), which revem label --element reads")
    e.set_defaults(func=_export)

    i = subparsers.add_parser("info", help="per-stream counts and current S of a generated database")
    i.add_argument("db")
    i.add_argument("--json", action="store_true")
    i.set_defaults(func=_info)

    sl = subparsers.add_parser(
        "select", help="D-optimal subset of an existing dataset (greedy max log det of the feature covariance)",
        description="Greedily pick the N configurations of POOL (registry names, extxyz(.gz), ASE or revem "
                    "databases; several inputs are one pool) that raise S = log det Sigma most, with the generator's SNAP features of "
                    "the configurations rescaled to the reference density (lengths x (15.9 / V_eq)^(1/3), "
                    "V_eq the composition-weighted equilibrium volume per atom of the elements, or "
                    "--pool-volume); write them (extxyz) and compare S with random subsets of the same size.",
        epilog="exit status: 0 done; 2 refused (missing or unreadable pool, N outside 1..pool size, unknown "
               "mode, element without an equilibrium volume, unwritable output directory; nothing written)")
    sl.add_argument("pool", nargs="+", help="registry names (NAME@every=N), extxyz / extxyz.gz files, ASE databases, "
                    "revem generator databases or exports (at their v_ref; --element rescales them) or revem rescale "
                    "outputs")
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
    sl.add_argument("--element", default=None, help="rescale generator configurations (placeholder species X) to "
                    "this element, as revem rescale, so that the subset is written in its units (the features are "
                    "the same: they are taken at the reference density)")
    sl.add_argument("--no-progress", "--quiet", dest="no_progress", action="store_true",
                    help="no progress bars (features, greedy picks, random subsets)")
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
