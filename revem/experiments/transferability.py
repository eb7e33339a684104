"""``revem experiment transferability``: seed 002's Fig. 4 and its group-split result, as a command.

Seed 002 (the W entropy paper) fits energy models on bispectrum components (2J_max = 6, D = 30: linear
SNAP, quadratic SNAP with 495 degrees of freedom, neural networks) and reports the distribution of the
per-configuration root squared error RSE = |E_model - E_true| / N (eV/atom) on held-out configurations.
revem fits linear and quadratic SNAP (2J_max 6) and a linear ACE (:class:`LinearAce`):

* **Part 1, random vs group split, on real DFT.**  The domain-expert (DE) W set of the data mirror
  (``fitsnap-WBe/W``, Wood et al. PRB 99, 184305 (2019), incl. the GAP-W data of Szlachta et al., PRB 90,
  104108 (2014)); its files are the expert labels (groups).  Each model is fitted on a random 70 % of the
  configurations and tested on the other 30 %, and fitted with whole groups held out (groups drawn at
  random until about 30 % of the configurations are held out), over several seeds.  The paper: "the
  validation errors measured with this new scheme dramatically increase by one to two orders of magnitude
  for quadratic-SNAP potentials, as compared to the random hold-out approach".
* **Part 2, EM vs DE cross-training (Fig. 4 A-D).**  An entropy-maximised (EM) set made by ``revem
  generate`` and rescaled to W, and the DE set, both labelled by one ground truth: a *teacher* potential
  (surrogate ground truth, default W_zhou, an EAM whose functional form differs from SNAP's, so that the
  fitted models cannot reproduce it exactly), or DFT labels made by ``revem label --dft`` and passed as
  files.  Each model is fitted on 70 % of one set and tested on the held-out 30 % of the same set and on
  the other set.  The paper: trained on DE and tested on EM, errors grow by almost two orders of magnitude;
  trained on EM and tested on DE, only modestly.

Protocol details (stated, not from the paper where it is silent): energies only (as the paper's models);
a ridge of ``ridge`` on unit-scaled columns; no core repulsion (``SnapSettings(zbl=False)``); the DE set
excludes ``gamma_surface_rigid`` (a subset of ``gamma_surface``, so a random split would put copies on
both sides) and ``BCC_ForceLib_*`` (computed with other DFT settings, energies on another zero: datasets
README §3); DE energies of the GAP-W and non-GAP groups share a zero to about 1 meV/atom.
"""
from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from revem.fitting.snap import (
    Design,
    FitError,
    SnapSettings,
    design_matrix,
    solve,
    split,
)

DE_PREFIX = "fitsnap-WBe/W/"
DE_EXCLUDED = {
    "gamma_surface_rigid": "a subset of gamma_surface (its 183 rigid shifts): duplicates across a random split",
    "BCC_ForceLib_W110": "SIA cells computed with other DFT settings (datasets README §3)",
    "BCC_ForceLib_W111": "SIA cells computed with other DFT settings (datasets README §3)",
    "BCC_ForceLib_WOct": "SIA cells computed with other DFT settings (datasets README §3)",
    "BCC_ForceLib_WTet": "SIA cells computed with other DFT settings (datasets README §3)",
}
@dataclass(frozen=True)
class LinearAce:
    """A linear ACE energy model (pyace B-basis, linear embedding, so E_i = c . B_i; Drautz, PRB 99, 014104
    (2019)): the basis of revem's demo W potential (``revem/potentials/data/fit_w_linear_ace.py``: SBessel,
    rcut 5 Å, body orders 1-4, 272 functions) without its core repulsion, plus a constant per atom."""

    rcut: float = 5.0
    nradmax_by_orders: tuple = (8, 6, 4, 2)
    lmax_by_orders: tuple = (0, 3, 2, 1)

    def basis(self, element: str):
        from pyace import ACEBBasisSet, create_multispecies_basis_config

        return ACEBBasisSet(create_multispecies_basis_config(potential_config={
            "deltaSplineBins": 0.001, "elements": [element],
            "embeddings": {"ALL": {"npot": "FinnisSinclairShiftedScaled", "fs_parameters": [1, 1], "ndensity": 1}},
            "bonds": {"ALL": {"radbase": "SBessel", "radparameters": [5.25], "rcut": self.rcut, "dcut": 0.01}},
            "functions": {"ALL": {"nradmax_by_orders": list(self.nradmax_by_orders),
                                  "lmax_by_orders": list(self.lmax_by_orders)}}}))

    @property
    def n_columns(self) -> int:
        return 1 + len(self.basis("W").basis_coeffs)

    def design(self, frames, element: str, progress: bool = False) -> Design:
        """Energy rows [1, <B>] per configuration from pyace's per-atom B-projections."""
        from pyace import PyACECalculator

        calc = PyACECalculator(self.basis(element))
        rows, y = [], []
        it = frames
        if progress:
            from tqdm import tqdm

            it = tqdm(frames, desc="ACE projections", unit="cfg", leave=False)
        for i, at in enumerate(it):
            if set(at.get_chemical_symbols()) != {element}:
                raise FitError(f"configuration {i} is not pure {element}")
            a = at.copy()
            a.calc = calc
            a.get_potential_energy()
            rows.append(np.concatenate([[1.0], np.asarray(calc.projections).mean(axis=0)]))
            y.append(at.get_potential_energy() / len(at))
        n = len(frames)
        return Design(np.array(rows), np.zeros(n), np.array(y), np.zeros(n, int), np.arange(n),
                      np.array([len(a) for a in frames]))


MODELS = {  # seed 002 Fig. 4: J_max = 3, D = 30; and a linear ACE
    "linear SNAP": SnapSettings(twojmax=6, quadratic=False, zbl=False),
    "quadratic SNAP": SnapSettings(twojmax=6, quadratic=True, zbl=False),
    "linear ACE": LinearAce(),
}
PAPER = {
    "part1": "seed 002: group split raises quadratic-SNAP validation errors by one to two orders of magnitude "
             "over the random split (Supplemental Note 8)",
    "part2": "seed 002 Fig. 4: DE-trained models tested on EM err almost two orders of magnitude more than on DE; "
             "EM-trained models tested on DE err only modestly more than on EM",
}


def de_sources() -> list[str]:
    """Registry names of the DE W groups used (every ``fitsnap-WBe/W`` file but the excluded ones)."""
    from revem.data import registry

    names = sorted(n for n in registry() if n.startswith(DE_PREFIX) and n.endswith(".extxyz.gz"))
    return [n for n in names if Path(n).name.split(".")[0] not in DE_EXCLUDED]


def load_de(max_per_group: int | None = None, seed: int = 0):
    """(frames, groups) of the DE set; ``max_per_group`` caps each group by a seeded random subset."""
    from revem.data import read_extxyz_fast

    rng = np.random.default_rng(seed)
    frames, groups = [], []
    for name in de_sources():
        got = read_extxyz_fast(name)
        if max_per_group and len(got) > max_per_group:
            got = [got[i] for i in np.sort(rng.choice(len(got), max_per_group, replace=False))]
        frames += got
        groups += [Path(name).name.split(".")[0]] * len(got)
    return frames, np.array(groups)


def energies(frames) -> np.ndarray:
    return np.array([at.get_potential_energy() / len(at) for at in frames])


class EnergyModel:
    """Rows of one model for one list of frames (design computed once, fits per split).

    ``force_weight`` > 0 adds the force rows (eV/Å) with that weight relative to the energy rows (eV/atom),
    for small sets where energies alone do not determine the coefficients; errors are energies either way."""

    def __init__(self, frames, settings: SnapSettings, element: str = "W", progress: bool = False,
                 force_weight: float = 0.0):
        if isinstance(settings, LinearAce):
            if force_weight > 0:
                raise FitError("the linear ACE model of the experiment fits energies only (--force-weight 0)")
            self.d = settings.design(frames, element, progress)
        else:
            self.d = design_matrix(frames, replace(settings, element=element), forces=force_weight > 0, stress=False,
                                   progress=progress)
        self.s, self.force_weight = settings, force_weight
        self.erow = np.flatnonzero(self.d.kind == 0)  # energy row of configuration c is erow[c]

    def fit(self, train, ridge: float) -> np.ndarray:
        in_train = np.isin(self.d.config, np.asarray(train))
        w = np.where(self.d.kind == 0, 1.0, self.force_weight) * in_train
        return solve(self.d, w, ridge)

    def rse(self, coef, idx) -> np.ndarray:
        """|E_model - E_true| per atom (eV/atom) of configurations ``idx``."""
        r = self.erow[np.asarray(idx)]
        return np.abs(self.d.A[r] @ coef + self.d.ref[r] - self.d.y[r])


def _stats(rse: np.ndarray) -> dict:
    return {"n": len(rse), "rmse_meV_per_atom": float(np.sqrt(np.mean(rse ** 2)) * 1000),
            "median_rse_meV_per_atom": float(np.median(rse) * 1000),
            "p90_rse_meV_per_atom": float(np.quantile(rse, 0.9) * 1000)}


def part1(frames, groups, models=MODELS, seeds=(0, 1, 2, 3, 4), train_frac=0.7, ridge=1e-8, progress=False,
          log=print) -> dict:
    """Random vs group split on the DE set: per model and split, pooled test RSEs and per-seed RMSEs."""
    out = {}
    for name, s in models.items():
        t = time.perf_counter()
        m = EnergyModel(frames, s, progress=progress)
        res = {"random": {"rse": [], "rmse": []}, "group": {"rse": [], "rmse": [], "held_out": []}}
        for seed in seeds:
            tr, te = split(len(frames), 1 - train_frac, [seed, 1])
            r = m.rse(m.fit(tr, ridge), te)
            res["random"]["rse"].append(r)
            res["random"]["rmse"].append(float(np.sqrt(np.mean(r ** 2)) * 1000))
            tr, te = split(len(frames), 1 - train_frac, [seed, 2], groups, "group")
            held = sorted(set(groups[te].tolist()))
            r = m.rse(m.fit(tr, ridge), te)
            res["group"]["rse"].append(r)
            res["group"]["rmse"].append(float(np.sqrt(np.mean(r ** 2)) * 1000))
            res["group"]["held_out"].append(held)
        for how in ("random", "group"):
            pooled = np.concatenate(res[how]["rse"])
            res[how]["stats"] = _stats(pooled)
            res[how]["median_rmse_meV_per_atom"] = float(np.median(res[how]["rmse"]))
            res[how]["rse"] = pooled
        res["ratio_group_over_random_median_rmse"] = (res["group"]["median_rmse_meV_per_atom"]
                                                     / res["random"]["median_rmse_meV_per_atom"])
        res["n_coefficients"] = s.n_columns
        log(f"part 1 {name}: random {res['random']['median_rmse_meV_per_atom']:.3g} meV/atom, group "
            f"{res['group']['median_rmse_meV_per_atom']:.3g} meV/atom (median RMSE over {len(seeds)} seeds; "
            f"{time.perf_counter() - t:.0f} s)")
        out[name] = res
    return out


def part2(em_frames, de_frames, models=MODELS, seed=0, train_frac=0.7, ridge=1e-8, progress=False,
          log=print, force_weight: float = 0.0) -> dict:
    """Fig. 4: fit on 70 % of EM or DE, test on the held-out 30 % of each; pooled RSEs per panel."""
    out = {}
    both = list(em_frames) + list(de_frames)
    n_em = len(em_frames)
    em_tr, em_te = split(n_em, 1 - train_frac, [seed, 3])
    de_tr, de_te = split(len(de_frames), 1 - train_frac, [seed, 4])
    de_tr, de_te = de_tr + n_em, de_te + n_em
    for name, s in models.items():
        m = EnergyModel(both, s, progress=progress, force_weight=force_weight)
        c_em, c_de = m.fit(em_tr, ridge), m.fit(de_tr, ridge)
        panels = {"A: EM -> EM": m.rse(c_em, em_te), "B: DE -> EM": m.rse(c_de, em_te),
                  "C: EM -> DE": m.rse(c_em, de_te), "D: DE -> DE": m.rse(c_de, de_te)}
        res = {k: {"rse": v, "stats": _stats(v)} for k, v in panels.items()}
        res["ratio_B_over_D"] = res["B: DE -> EM"]["stats"]["rmse_meV_per_atom"] / res["D: DE -> DE"]["stats"]["rmse_meV_per_atom"]
        res["ratio_C_over_A"] = res["C: EM -> DE"]["stats"]["rmse_meV_per_atom"] / res["A: EM -> EM"]["stats"]["rmse_meV_per_atom"]
        log(f"part 2 {name}: RMSE (meV/atom) " + ", ".join(f"{k} {v['stats']['rmse_meV_per_atom']:.3g}"
                                                          for k, v in res.items() if isinstance(v, dict)))
        out[name] = res
    return out


# ------------------------------------------------------------------------------------------- figures
def _hist(ax, rse, label, colour):
    """Fraction of configurations per logarithmic bin (6 per decade); RSE below 1e-7 eV/atom in the first bin."""
    r = np.clip(np.asarray(rse), 1.01e-7, None)
    bins = np.logspace(-7, 2, 55)
    ax.hist(r, bins=bins, histtype="step", lw=1.5, color=colour, weights=np.full(len(r), 1 / max(len(r), 1)),
            label=label)
    ax.set_yscale("log")
    ax.set_ylabel("fraction of configurations")


def figure_part1(res: dict, path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(res), figsize=(5.5 * len(res), 4), squeeze=False)
    for ax, (name, r) in zip(axes[0], res.items()):
        _hist(ax, r["random"]["rse"], f"random split (median RMSE {r['random']['median_rmse_meV_per_atom']:.3g} meV/atom)", "C0")
        _hist(ax, r["group"]["rse"], f"group split (median RMSE {r['group']['median_rmse_meV_per_atom']:.3g} meV/atom)", "C3")
        ax.set_xscale("log")
        ax.set_xlabel("RSE |ΔE|/N (eV/atom)")
        ax.set_title(f"{name}, DE W set (DFT)")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


def figure_part2(res: dict, path, truth: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = ["A: EM -> EM", "B: DE -> EM", "C: EM -> DE", "D: DE -> DE"]
    fig, axes = plt.subplots(2, 2, figsize=(10, 7.5), sharex=True)
    for ax, p in zip(axes.ravel(), panels):
        for j, (name, r) in enumerate(res.items()):
            _hist(ax, r[p]["rse"], f"{name} (RMSE {r[p]['stats']['rmse_meV_per_atom']:.3g} meV/atom)", f"C{j}")
        ax.set_xscale("log")
        ax.set_title(f"{p.replace('->', 'trained, tested on')}", fontsize=10)
        ax.legend(fontsize=7)
    for ax in axes[1]:
        ax.set_xlabel("RSE |ΔE|/N (eV/atom)")
    fig.suptitle(f"seed 002 Fig. 4 reproduced; ground truth: {truth}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


def _strip(res):
    """JSON-able copy without the RSE arrays."""
    if isinstance(res, dict):
        return {k: _strip(v) for k, v in res.items() if k != "rse"}
    if isinstance(res, (np.floating, np.integer)):
        return res.item()
    return res


def markdown(p1: dict | None, p2: dict | None, meta: dict) -> str:
    lines = ["# Transferability (seed 002 Fig. 4 and the group-split result)", ""]
    if p1:
        lines += ["## Part 1: random vs group split of the DE W set (ground truth: DFT of the data mirror)", "",
                  f"{meta['part1']['n_configurations']} configurations in {meta['part1']['n_groups']} groups "
                  f"({', '.join(meta['part1']['groups'])}); excluded: "
                  + "; ".join(f"{k} ({v})" for k, v in DE_EXCLUDED.items()) + ".", "",
                  "| model | coefficients | random: median RMSE (meV/atom) | group: median RMSE (meV/atom) | group / random | "
                  "random: median RSE | group: median RSE |", "|---|---|---|---|---|---|---|"]
        for name, r in p1.items():
            lines.append(f"| {name} | {MODELS[name].n_columns} | {r['random']['median_rmse_meV_per_atom']:.3g} | "
                         f"{r['group']['median_rmse_meV_per_atom']:.3g} | {r['ratio_group_over_random_median_rmse']:.3g} | "
                         f"{r['random']['stats']['median_rse_meV_per_atom']:.3g} | {r['group']['stats']['median_rse_meV_per_atom']:.3g} |")
        lines += ["", f"Paper: {PAPER['part1']}.", "", "![part 1](part1_rse.png)", ""]
    if p2:
        lines += [f"## Part 2: EM vs DE cross-training (ground truth: {meta['part2']['truth']})", "",
                  f"EM: {meta['part2']['n_em']} configurations ({meta['part2']['em_source']}); DE: "
                  f"{meta['part2']['n_de']} configurations"
                  + (f" (at most {meta['part2']['de_max_per_group']} per group, seeded)"
                     if meta["part2"].get("de_max_per_group") else "") + "; 70 % train / 30 % test of each; "
                  + ("energies only." if not meta["part2"].get("force_weight") else
                     f"energies and forces (force weight {meta['part2']['force_weight']} per eV/Å), errors of energies."),
                  "",
                  "| model | A EM→EM | B DE→EM | C EM→DE | D DE→DE | B/D | C/A |", "|---|---|---|---|---|---|---|"]
        for name, r in p2.items():
            f = lambda k: f"{r[k]['stats']['rmse_meV_per_atom']:.3g}"
            lines.append(f"| {name} | {f('A: EM -> EM')} | {f('B: DE -> EM')} | {f('C: EM -> DE')} | {f('D: DE -> DE')} | "
                         f"{r['ratio_B_over_D']:.3g} | {r['ratio_C_over_A']:.3g} |")
        lines += ["", "RMSE of the held-out configurations in meV/atom (X→Y: trained on X, tested on Y).", "",
                  f"Paper: {PAPER['part2']}.", "", "![part 2](part2_fig4.png)", ""]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------- command
def _teacher_label(frames_or_path, out: Path, teacher: str, element: str, workers: int, progress: bool,
                   folder=None):
    """Label with a teacher through ``revem label`` (resumable); returns the labelled frames.  Frames given in
    memory are first written to ``OUT.input.extxyz`` (through ``folder``, a planned
    :class:`revem.safe_io.OutputFolder`, when given)."""
    from revem.data import read_extxyz_fast
    from revem.datasets.labelling import label, teacher_spec
    from revem.safe_io import OutputFolder, write_extxyz

    src = frames_or_path
    if not isinstance(src, (str, Path)):  # written each time: a resume with other frames is refused by label()
        src = out.with_suffix(".input.extxyz")
        clean = []
        for at in frames_or_path:
            c = at.copy()
            c.calc = None
            clean.append(c)
        (folder or OutputFolder(out.parent)).write_with(src.name, lambda tmp: write_extxyz(clean, tmp))
    is_db = str(src).endswith(".db")  # a generator database: every row (bootstrap too)
    label(str(src), str(out), teacher_spec(teacher), element=element, workers=workers,
          progress=progress, include_bootstrap=is_db, log=lambda m: print(m, file=sys.stderr))
    return read_extxyz_fast(str(out))


MODEL_NAMES = {"linear": "linear SNAP", "quadratic": "quadratic SNAP", "ace": "linear ACE"}


def check_args(args) -> dict:
    """Every option and input of the experiment checked before any work (FitError naming it): numbers finite
    and in range, the models known, the inputs present, something to do, and ``--out`` usable
    (:class:`revem.safe_io.OutputFolder`: not a file, not an input, no output name taken by a file revem did
    not write).  Returns ``{"models", "folder", "part1", "part2", "labels"}``."""
    import os

    from revem.safe_io import Refused, number

    try:
        number(args.seeds, "--seeds", lo=1, hi=1000, integer=True)
        if args.max_per_group is not None:
            number(args.max_per_group, "--max-per-group", lo=1, integer=True)
        number(args.de_max_per_group, "--de-max-per-group", lo=0, integer=True)
        number(args.ridge, "--ridge", lo=0, hi=1e6)
        number(args.force_weight, "--force-weight", lo=0, hi=1e6)
        number(args.workers, "--workers", lo=1, hi=4096, integer=True)
    except Refused as exc:
        raise FitError(str(exc)) from None
    if args.models != "all":
        bad = [m for m in args.models.split(",") if m not in MODEL_NAMES]
        if bad:
            raise FitError(f"--models {','.join(bad)}: choose from linear, quadratic, ace")
    wanted = set(MODEL_NAMES.values()) if args.models == "all" else {MODEL_NAMES[m] for m in args.models.split(",")}
    models = {k: v for k, v in MODELS.items() if k in wanted}
    from revem.data import resolve_input

    for opt, path in (("--em", args.em), ("--em-labelled", args.em_labelled), ("--de-labelled", args.de_labelled)):
        if path is not None:  # a file or a registry name (the one input loader's inputs)
            try:
                resolve_input(path, opt)
            except Refused as exc:
                raise FitError(str(exc)) from None
    if args.em_labelled and not args.de_labelled:
        raise FitError("--em-labelled needs --de-labelled (the DE set labelled by the same ground truth)")
    if args.de_labelled and not args.em_labelled:
        raise FitError("--de-labelled needs --em-labelled (the EM set labelled by the same ground truth)")
    if args.em and args.em_labelled:
        raise FitError("give --em (labelled here by --teacher) or --em-labelled, not both")
    part1, part2 = not args.skip_part1, bool(args.em or args.em_labelled)
    if not (part1 or part2):
        raise FitError("nothing to do: --skip-part1 without --em or --em-labelled")
    if part1 or args.em:
        from revem.data import DataUnavailable, fetch

        try:
            for name in de_sources():
                fetch(name)
        except (DataUnavailable, KeyError) as exc:
            raise FitError(f"the DE W set is needed ({'part 1' if part1 else '--em'}): {exc}") from None
    if args.em:
        from revem.potentials import PotentialError, load_potential

        try:
            load_potential(args.teacher)
        except (PotentialError, OSError, ValueError) as exc:
            raise FitError(f"--teacher {args.teacher}: {exc}") from None
    inputs = [p.partition("@every=")[0] for p in (args.em, args.em_labelled, args.de_labelled) if p]
    from revem.safe_io import OutputFolder

    try:
        folder = OutputFolder(args.out, "--out", inputs=inputs, command="revem experiment transferability")
        names = ["rse.npz", "transferability.md", "transferability.json"]
        names += ["part1_rse.png"] if part1 else []
        labels = []
        if part2:
            names += ["part2_fig4.png"]
            if args.em:
                tag = f"max{args.de_max_per_group}" if args.de_max_per_group else "all"
                labels = ["em_teacher.extxyz", f"de_teacher_{tag}.extxyz"]
                names.append(f"de_teacher_{tag}.input.extxyz")
        folder.plan(*names)
    except Refused as exc:
        raise FitError(str(exc)) from None
    for name in labels:  # a label output is revem's when its progress file is there (revem label's rule)
        target = folder.path(name)
        if os.path.lexists(target) and not os.path.exists(f"{target}.progress.jsonl"):
            raise FitError(f"--out {args.out}: {name} exists without its progress file {name}.progress.jsonl; "
                           "it is not revem's (remove it or choose another --out)")
    return {"models": models, "folder": folder, "part1": part1, "part2": part2}


def run(args) -> int:
    from revem.data import DataCorrupt, DataUnavailable
    from revem.datasets.labelling import LabelError, WorkersDied
    from revem.safe_io import OutputError, Refused

    log = lambda m: print(m, file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    folder = None
    try:
        plan = check_args(args)
        models, folder = plan["models"], plan["folder"]
        out = folder.folder
        meta, p1, p2 = {"models": {k: {**({"twojmax": v.twojmax, "quadratic": v.quadratic} if isinstance(v, SnapSettings)
                                          else {"rcut": v.rcut, "nradmax_by_orders": v.nradmax_by_orders}),
                                       "coefficients": v.n_columns} for k, v in models.items()},
                        "ridge": args.ridge, "seeds": args.seeds}, None, None
        if plan["part1"]:
            frames, groups = load_de(args.max_per_group)
            meta["part1"] = {"n_configurations": len(frames), "groups": sorted(set(groups.tolist())),
                             "n_groups": len(set(groups.tolist())), "max_per_group": args.max_per_group}
            log(f"part 1: {len(frames)} DE configurations, {len(set(groups.tolist()))} groups")
            p1 = part1(frames, groups, models, seeds=tuple(range(args.seeds)), ridge=args.ridge,
                       progress=not args.quiet, log=log)
            folder.write_with("part1_rse.png", lambda tmp: figure_part1(p1, tmp))
        if plan["part2"]:
            if args.em_labelled:
                from revem.data import load_configurations

                em = load_configurations(args.em_labelled, what="--em-labelled").frames
                de = load_configurations(args.de_labelled, what="--de-labelled").frames
                truth = args.truth or "the labels of the given files"
                em_source = args.em_labelled
            else:
                folder._ensure()
                em = _teacher_label(args.em, out / "em_teacher.extxyz", args.teacher, "W", args.workers,
                                    not args.quiet, folder)
                de_frames, _ = load_de(args.de_max_per_group, seed=1)
                tag = f"max{args.de_max_per_group}" if args.de_max_per_group else "all"
                de = _teacher_label(de_frames, out / f"de_teacher_{tag}.extxyz", args.teacher, "W", args.workers,
                                    not args.quiet, folder)
                truth = f"teacher potential {args.teacher} (surrogate ground truth, not DFT)"
                em_source = args.em
            for what, fr in (("EM", em), ("DE", de)):
                bad = [i for i, at in enumerate(fr) if at.calc is None
                       or not np.isfinite(at.get_potential_energy())]
                if bad:
                    raise FitError(f"the {what} set has configurations without a finite energy (frames "
                                   f"{', '.join(map(str, bad[:5]))}{', ...' if len(bad) > 5 else ''})")
            meta["part2"] = {"truth": truth, "n_em": len(em), "n_de": len(de), "em_source": str(em_source),
                             "de_max_per_group": None if args.em_labelled else args.de_max_per_group}
            log(f"part 2: {len(em)} EM and {len(de)} DE configurations; ground truth {truth}")
            meta["part2"]["force_weight"] = args.force_weight
            p2 = part2(em, de, models, ridge=args.ridge, progress=not args.quiet, log=log,
                       force_weight=args.force_weight)
            folder.write_with("part2_fig4.png", lambda tmp: figure_part2(p2, tmp, truth))
        meta["wall_s"] = round(time.perf_counter() - t0, 1)
        arrays = {f"part{k}/{m}/{how}": v["rse"] for k, res in ((1, p1), (2, p2)) if res
                  for m, r in res.items() for how, v in r.items() if isinstance(v, dict) and "rse" in v}
        folder.write_with("rse.npz", lambda tmp: np.savez_compressed(tmp, **arrays))  # the RSEs (eV/atom)
        md = markdown(p1, p2, meta)
        folder.write_bytes("transferability.md", md)
        folder.write_bytes("transferability.json", json.dumps({"meta": meta, "part1": _strip(p1), "part2": _strip(p2)},
                                                              indent=1, default=str))
        folder.finish(remove_stale=False)
    except (OutputError, WorkersDied) as exc:
        if folder is not None:
            folder.abort()
        print(f"revem experiment transferability: {exc}", file=sys.stderr)
        return 1
    except (FitError, LabelError, Refused, DataCorrupt, DataUnavailable) as exc:
        if folder is not None:
            folder.abort()
        print(f"revem experiment transferability: {exc}", file=sys.stderr)
        return 2
    print(md)
    print(f"wrote {out / 'transferability.md'} (+ .json, figures) in {meta['wall_s']} s")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("experiment", help="numerical experiments of the seed papers")
    sub = p.add_subparsers(dest="experiment", required=True)
    t = sub.add_parser("transferability", help="seed 002 Fig. 4: random vs group split (DFT), EM vs DE cross-training",
                       description=__doc__.split("\n\n")[0],
                       epilog="exit status: 0 written; 1 an output could not be written or a labelling worker died; "
                              "2 refused (options, inputs, nothing to do, an unusable --out; the message names the "
                              "problem; checked before any work, nothing written)")
    t.add_argument("--out", default="transferability", help="output folder (default ./transferability)")
    t.add_argument("--em", default=None, help="part 2: EM configurations labelled by --teacher: a revem generator "
                   "database or its export (rescaled to W here), a revem rescale output, an extxyz file or a registry "
                   "name (the one input loader's inputs)")
    t.add_argument("--teacher", default="W_zhou", help="part 2 surrogate ground truth (default W_zhou)")
    t.add_argument("--em-labelled", default=None, help="part 2 with your own ground truth: labelled EM extxyz "
                   "(e.g. revem label --dft)")
    t.add_argument("--de-labelled", default=None, help="... and the DE configurations labelled the same way")
    t.add_argument("--truth", default=None, help="name of the ground truth of the labelled files, for the report")
    t.add_argument("--models", default="all", help="linear,quadratic,ace: linear / quadratic SNAP, linear ACE "
                   "(default all)")
    t.add_argument("--seeds", type=int, default=5, help="part 1: splits per model (default 5)")
    t.add_argument("--max-per-group", type=int, default=None, help="part 1: cap each DE group (seeded subset; "
                   "default: all 9,887 configurations)")
    t.add_argument("--de-max-per-group", type=int, default=300, help="part 2: cap each DE group before teacher "
                   "labelling (default 300: about 1,900 configurations; 0: all)")
    t.add_argument("--ridge", type=float, default=1e-8, help="Tikhonov parameter on unit-scaled columns")
    t.add_argument("--force-weight", type=float, default=0.0, help="part 2: also fit forces, with this weight per "
                   "eV/Å relative to eV/atom (for small labelled sets; default 0: energies only, as the paper)")
    t.add_argument("--workers", type=int, default=1, help="teacher labelling processes")
    t.add_argument("--skip-part1", action="store_true")
    t.add_argument("--quiet", action="store_true")
    t.set_defaults(func=run)
