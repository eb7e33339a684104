"""``revem fit pacemaker``: the Rev-EM paper's complete pacemaker (nonlinear ACE) input, the dataset in
pacemaker's format, and a run of pacemaker when it is installed.

**What the paper used (seed 000, §5.5 and Supplementary S5 "Input files").**  Subramanyam & Perez fit
nonlinear ACE models (Drautz, PRB 99, 014104 (2019), doi:10.1103/PhysRevB.99.014104) for Be, C, Al, W, Re
and Os with *pacemaker* (Bochkarev et al., Phys. Rev. Mater. 6, 013804 (2022),
doi:10.1103/PhysRevMaterials.6.013804; Lysogorskiy et al., npj Comput. Mater. 7, 97 (2021),
doi:10.1038/s41524-021-00559-9), one identical setup for every element.  S5.1 prints the complete Be
input; S5.2-S5.6 list only the values changed for C, Al (printed "A1"), W, Re and Os (Os prints
"rho-core-cut", read as ``rho_core_cut``).  :data:`PAPER_INPUTS` holds those per-element values; every
other setting is the Be template's (:data:`BE_TEMPLATE_SETTINGS`).  The per-element values agree with the
§5.5 text: cutoff 4.5 Å (Be), 5.5 Å (Al, C), 6.0 Å (W, Re, Os); ΔE (``DElow``) 2 eV/atom, 3 eV/atom for C;
energy thresholds (``DEup``) 10 eV/atom Be/C/Al, 20 W/Re, 40 Os; force thresholds (``DFup``) 20 eV/Å Be/Al,
25 C, 100 W/Re/Os.  The basis (``nradmax_by_orders [20, 4, 4, 2, 1]``, ``lmax_by_orders [0, 3, 3, 1, 1]``,
two densities, Finnis-Sinclair shifted-scaled embedding) has 387 functions and 1,094 coefficients in
pyace, the paper's "387 ... functions ... 1,094 adjustable parameters" (checked in the tests).

**Weighting** (pacemaker's ``EnergyBasedWeightingPolicy``, Bochkarev et al. 2022): structures with energy
above E_min + ``DEup`` (eV/atom) or with an atom's force longer than ``DFup`` (eV/Å) are removed;
energy weights ∝ 1/(E − E_min + ``DE``)², rescaled so that ``wlow`` = 75 % of the energy weight is on the
structures within ``DElow`` of E_min; force weights ∝ 1/(|F_i|² + ``DF``) times the structure's energy
weight; ``kappa`` = 0.1 puts 10 % of the loss on forces and 90 % on energies.

**The "10,000 / 8,000 / 20 %" split (interpretation).**  §5.5: "A subset of 10,000 structures were
randomly sampled from the Rev-EM dataset out of which 8,000 configurations are used for training and the
remaining 20 % were used for testing during optimization"; the input has ``nfit: 10000`` and
``test_size: 0.2``.  Table 5 lists 7,023-7,956 training configurations and 15,943-22,230 test
configurations per element.  Read together: a random 10,000-structure sample is the pacemaker dataset;
pacemaker (this version: :class:`pyace.preparedata.ACEDataset`) first splits it 80/20 (8,000 train, 2,000
test monitored during the fit), then the weighting policy drops the structures above ``DEup``/``DFup``,
which is why Table 5's training counts are somewhat below 8,000 (most for C); Table 5's "test" column is
every Rev-EM structure not used for training (the 2,000 plus the ~20,000 never sampled), after the same
thresholds.  (Table 5's "test" counts are consistent with ~30,000 Rev-EM structures per element minus the
training ones; the exact number before the thresholds is not given.)  :func:`write_pacemaker_inputs`
reproduces this: ``n_sample`` = 10,000 frames (seeded random choice) are the pacemaker data, 20 % of them
the test part (``test_size`` 0.2), the rest of the frames the holdout (``holdout.extxyz.gz``, for a
Table-5-style test); the input keeps ``nfit`` = 10,000 (with at most 10,000 structures it selects all that
pass the thresholds).  By default revem draws the 20 % itself (``split="revem"``: ``data: test_filename``
instead of ``test_size``, otherwise identical for pacemaker) so that test errors can be computed with the
``pyace`` evaluator, which writes none; ``split="pacemaker"`` writes the paper's literal ``test_size``.

**What differs from the printed S5 input, and why.**
* The printed loss keys ``L1_coefs``, ``L2_coefs`` are written as pacemaker's ``L1_coeffs``,
  ``L2_coeffs`` (same values, 1e-9 and 1e-11): the pyace 0.4 ``LossFunctionSpecification`` silently ignores
  the printed spelling.  ``w1_coefs: 1.0, w2_coefs: 1.0`` are not parameters of pacemaker's loss and are
  left out (listed in ``PAPER_LOSS_AS_PRINTED``).  ``w0_rad``/``w1_rad``/``w2_rad`` (1e-9) are kept.
* ``radparameters: [5.25]`` is added to the bond (pacemaker's template default): S5 omits it, and pyace
  0.4 crashes (segmentation fault) building an SBessel basis without it; with it the basis has the
  paper's 387 functions.
* ``weighting``, ``optimizer``, ``maxiter``, ``fit_cycles``, ``noise_relative_sigma``, ``ladder_*`` go
  under ``fit:`` (where pacemaker reads them; the extracted text lost the indentation).
* ``weighting`` gets ``seed`` (the run's seed) so that a selection among more than ``nfit`` structures is
  reproducible; the paper sets none.
* The top-level ``cutoff`` is written as printed; this pacemaker (pyace 0.4) ignores it with a warning
  and takes the neighbour-list cutoff from ``bonds: rcut`` (= the same value).
* ``backend: evaluator``: the paper's ``tensorpot`` needs TensorFlow and ``tensorpotential``; without
  them use ``pyace`` (CPU).  Measured here (pyace 0.4, one core of a shared 2-core machine): its BFGS
  needs about 4 loss evaluations per coefficient per iteration (4,381 for the 1,094 coefficients) at
  0.6-1 ms per atom per evaluation; one iteration of the paper's basis on 24 W structures (220 atoms) took
  ~15 min wall, so on the paper's ~46,000 training atoms one iteration would take of the order of days and
  the paper's 800 are out of reach: use tensorpot (GPU) for the real fit.  The tests' tiny fit (10
  functions, 20 iterations, 24 structures) took 75 s wall / 45 s CPU.

**Energies.**  pacemaker fits ``energy_corrected`` (eV): :func:`write_dataset` writes the DFT total
``energy`` and ``energy_corrected = energy − N · e_atom`` when the free-atom energy ``e_atom`` (eV, same DFT
settings) is given, else ``energy_corrected = energy``.  An ACE with this embedding gives an isolated atom
zero energy, so without ``e_atom`` the model's zero is the DFT code's energy zero (the paper's dataset was
"shifted"; how is not stated).  ``data: reference_energy: auto`` (via ``overrides``) lets pacemaker fit a
per-atom shift instead.

Citation: A. P. A. Subramanyam and D. Perez, "Information-entropy-driven generation of material-agnostic
datasets for machine-learning interatomic potentials", arXiv:2407.10361 (seed 000; S5 and §5.5 as quoted
above), published in npj Comput. Mater. 11, 218 (2025), doi:10.1038/s41524-025-01602-9 (the published
version was not compared with the seed text).

Disclaimers: the inputs reproduce the paper's settings, not its potentials (the seed text says its datasets
"will be made available upon publication"); files of the names listed above in the working folder are
replaced only when revem wrote them (its manifest ``.revem-manifest.json``; any other file of such a name is
refused before any work, and an input is never among them); the pickle written by :func:`write_dataset` is pacemaker's format and is only ever read by
pacemaker/pyace (revem never unpickles a user's file).
"""
from __future__ import annotations

import copy
import importlib.util
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .metrics import window_errors

CITATION = ("A. P. A. Subramanyam and D. Perez, arXiv:2407.10361 (seed 000), §5.5 and Supplementary S5 "
            "'Input files'; npj Comput. Mater. 11, 218 (2025), doi:10.1038/s41524-025-01602-9")
INSTALL_HINT = ("pacemaker not found on PATH: it ships with python-ace (pip install python-ace, a revem "
                "dependency; the commands pacemaker and pace_yaml2yace land in the environment's bin/). "
                "The paper's evaluator 'tensorpot' also needs TensorFlow and tensorpotential "
                "(pip install tensorpotential); without them use --evaluator pyace")

#: the keys that differ between elements in S5 (units: cutoff, r_in, delta_in in Å; rho_core_cut and
#: drho_core_cut in the units of the ACE densities; core_repulsion = [prefactor (eV Å), lambda (Å^-2)] of
#: the inner core repulsion A exp(-lambda r^2)/r; DElow, DEup in eV/atom; DFup in eV/Å)
ELEMENT_KEYS = ("cutoff", "rho_core_cut", "drho_core_cut", "r_in", "delta_in", "core_repulsion",
                "DElow", "DEup", "DFup")

#: every setting of the complete S5.1 Be input that is the same for all elements (see the module doc for
#: the three departures: loss key spelling, ``radparameters``, weighting ``seed``)
BE_TEMPLATE_SETTINGS = {
    "deltaSplineBins": 0.001,
    "embedding": {"ndensity": 2, "npot": "FinnisSinclairShiftedScaled", "fs_parameters": [1, 1, 1, 0.5]},
    "bond": {"dcut": 0.01, "NameOfCutoffFunction": "cos", "radbase": "SBessel"},
    "radparameters": [5.25],  # not in S5; pacemaker's template default, required by pyace 0.4 (see doc)
    "functions": {"nradmax_by_orders": [20, 4, 4, 2, 1], "lmax_by_orders": [0, 3, 3, 1, 1], "coefs_init": "zero"},
    "loss": {"kappa": 0.1, "L1_coeffs": 1e-9, "L2_coeffs": 1e-11, "w0_rad": 1e-9, "w1_rad": 1e-9,
             "w2_rad": 1e-9},
    "weighting": {"type": "EnergyBasedWeightingPolicy", "DE": 1.0, "DF": 1.0, "wlow": 0.75, "reftype": "all"},
    "nfit": 10000,
    "test_size": 0.2,
    "seed": 42,
    "cache_ref_df": False,
    "optimizer": "BFGS",
    "maxiter": 800,
    "fit_cycles": 1,
    "noise_relative_sigma": 1e-4,
    "ladder_step": [10, 0.1],
    "ladder_type": "power_order",
    "batch_size": 1000,
    "evaluator": "tensorpot",
}
#: the loss line exactly as S5.1 prints it (pyace 0.4 reads ``L1_coeffs``/``L2_coeffs``, has no w1/w2_coefs)
PAPER_LOSS_AS_PRINTED = {"kappa": 0.1, "L1_coefs": 1e-9, "L2_coefs": 1e-11, "w1_coefs": 1.0, "w2_coefs": 1.0,
                         "w0_rad": 1e-9, "w1_rad": 1e-9, "w2_rad": 1e-9}
#: the paper's sampling: 10,000 random Rev-EM structures per element, 20 % of them test (§5.5)
PAPER_N_SAMPLE = 10000
#: Table 5 of seed 000: (training configurations, training atoms, test configurations, test atoms)
PAPER_TABLE5 = {"Be": (7956, 46345, 22230, 131082), "C": (7023, 46842, 15943, 107435),
                "Al": (7893, 46355, 22074, 130135), "W": (7808, 46106, 21878, 129511),
                "Re": (7692, 45231, 21589, 128297), "Os": (7862, 45952, 22020, 130252)}

_FILLED = ("deltaSplineBins; embeddings ndensity 2, FinnisSinclairShiftedScaled, fs_parameters [1, 1, 1, 0.5]; "
           "bond dcut 0.01, cos cutoff function, SBessel radial basis; functions nradmax_by_orders "
           "[20, 4, 4, 2, 1], lmax_by_orders [0, 3, 3, 1, 1]; loss (kappa 0.1, L1 1e-9, L2 1e-11, w*_rad 1e-9); "
           "weighting DE 1, DF 1, wlow 0.75, reftype all, nfit 10000; test_size 0.2, seed 42; BFGS, maxiter "
           "800, fit_cycles 1, noise_relative_sigma 1e-4, ladder_step [10, 0.1] power_order; backend tensorpot "
           "batch_size 1000; bonds rcut = cutoff")


def _entry(section, cutoff, rho, drho, r_in, delta_in, core, delow, deup, dfup, note=""):
    return {"params": {"cutoff": cutoff, "rho_core_cut": rho, "drho_core_cut": drho, "r_in": r_in,
                       "delta_in": delta_in, "core_repulsion": list(core), "DElow": delow, "DEup": deup,
                       "DFup": dfup},
            "section": section, "citation": CITATION,
            "filled_from_be_template": "" if section.startswith("S5.1") else _FILLED,
            "note": note}


#: seed 000 S5 per element: ``params`` (the :data:`ELEMENT_KEYS`), where they are printed, and what the
#: Be template supplies
PAPER_INPUTS = {
    "Be": _entry("S5.1 Be (the complete input)", 4.5, 50000, 27, 1.0, 0.25, (5000.0, 5.0), 2.0, 10.0, 20.0),
    "C": _entry("S5.2 C", 5.5, 50000, 27, 0.9, 0.2, (5000.0, 5.0), 3.0, 10.0, 25.0,
                "the paper adds D2 dispersion to the C model afterwards (§5.4); not part of this input"),
    "Al": _entry("S5.3 (printed 'A1', i.e. Al)", 5.5, 50000, 27, 1.0, 0.25, (5000.0, 5.0), 2.0, 10.0, 20.0),
    "W": _entry("S5.4 W", 6.0, 20000, 270, 1.5, 0.5, (35000.0, 5.0), 2.0, 20.0, 100.0),
    "Re": _entry("S5.5 Re", 6.0, 20000, 270, 1.5, 0.5, (35000.0, 5.0), 2.0, 20.0, 100.0),
    "Os": _entry("S5.6 Os (printed 'rho-core-cut', read as rho_core_cut)", 6.0, 20000, 270, 1.5, 0.5,
                 (35000.0, 5.0), 2.0, 40.0, 100.0),
}

EVALUATORS = ("tensorpot", "pyace")


class PacemakerError(ValueError):
    """Bad input for a pacemaker fit (element, parameters, frames); the message names the problem."""


class PacemakerUnavailable(RuntimeError):
    """pacemaker (or the evaluator the input asks for) cannot be run here; the message says how to install."""


# ----------------------------------------------------------------------------------------------------------
# the input
# ----------------------------------------------------------------------------------------------------------
def element_parameters(element: str, params: dict | None = None) -> dict:
    """The :data:`ELEMENT_KEYS` values for ``element``: seed 000 S5's, updated by ``params``; for an element
    the paper did not fit, ``params`` must give all of them (else :class:`PacemakerError`)."""
    from ase.data import chemical_symbols

    if not isinstance(element, str) or element not in chemical_symbols[1:]:
        raise PacemakerError(f"element {element!r} is not a chemical symbol")
    params = dict(params or {})
    unknown = sorted(set(params) - set(ELEMENT_KEYS))
    if unknown:
        raise PacemakerError(f"unknown element parameter(s) {unknown}; allowed: {', '.join(ELEMENT_KEYS)}")
    if element in PAPER_INPUTS:
        out = copy.deepcopy(PAPER_INPUTS[element]["params"])
    else:
        missing = [k for k in ELEMENT_KEYS if k not in params]
        if missing:
            raise PacemakerError(
                f"seed 000 S5 has no pacemaker input for {element} (it has {', '.join(PAPER_INPUTS)}); pass "
                f"all element parameters explicitly, missing: {', '.join(missing)} (cutoff, r_in, delta_in in "
                f"Å; core_repulsion [A, lambda]; DElow, DEup in eV/atom; DFup in eV/Å)")
        out = {}
    out.update(params)
    for k in ELEMENT_KEYS:
        v = out[k]
        vals = v if k == "core_repulsion" else [v]
        if k == "core_repulsion" and (not isinstance(v, (list, tuple)) or len(v) != 2):
            raise PacemakerError(f"core_repulsion must be [A, lambda], got {v!r}")
        for x in vals:
            if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x) or x < 0:
                raise PacemakerError(f"element parameter {k} = {v!r} must be a finite number >= 0")
    out["core_repulsion"] = [float(x) for x in out["core_repulsion"]]
    if out["cutoff"] <= 0:
        raise PacemakerError(f"cutoff must be > 0 Å, got {out['cutoff']}")
    if out["r_in"] >= out["cutoff"]:
        raise PacemakerError(f"r_in = {out['r_in']} Å must be below the cutoff {out['cutoff']} Å")
    if not out["DElow"] < out["DEup"]:
        raise PacemakerError(f"DElow = {out['DElow']} must be below DEup = {out['DEup']} (eV/atom)")
    return out


def _merge(base: dict, over: dict) -> dict:
    """Recursive update; a value ``None`` in ``over`` deletes the key."""
    for k, v in over.items():
        if v is None:
            base.pop(k, None)
        elif isinstance(v, dict) and isinstance(base.get(k), dict):
            _merge(base[k], v)
        else:
            base[k] = copy.deepcopy(v)
    return base


def pacemaker_input(element: str, dataset_filename: str | os.PathLike, *, test_size: float = 0.2,
                    nfit: int | None = None, evaluator: str = "tensorpot", maxiter: int = 800, seed: int = 42,
                    params: dict | None = None, overrides: dict | None = None) -> dict:
    """The complete pacemaker input (a dict for ``input.yaml``) of seed 000 S5 for ``element``.

    ``test_size``: fraction (0 < x < 1) or number (>= 1) of the dataset's structures held out and monitored
    during the fit (paper 0.2).  ``nfit``: structures the weighting policy selects (None: the paper's
    10,000).  ``evaluator``: ``tensorpot`` (the paper's; TensorFlow) or ``pyace`` (CPU).  ``maxiter``: BFGS
    iterations (per ladder step; paper 800).  ``params``: values of :data:`ELEMENT_KEYS` replacing the
    paper's (required in full for an element not in :data:`PAPER_INPUTS`).  ``overrides``: a nested dict
    merged last (``None`` deletes a key), e.g. ``{"fit": {"ladder_step": None}}``.
    """
    p = element_parameters(element, params)
    if evaluator not in EVALUATORS:
        raise PacemakerError(f"evaluator {evaluator!r} is not one of {', '.join(EVALUATORS)}")
    if isinstance(test_size, bool) or not isinstance(test_size, (int, float)) or not (
            (0 < test_size < 1) or (test_size >= 1 and float(test_size).is_integer())):
        raise PacemakerError(f"test_size must be a fraction in (0, 1) or a whole number >= 1, got {test_size!r}")
    if nfit is None:
        nfit = BE_TEMPLATE_SETTINGS["nfit"]
    if isinstance(nfit, bool) or not isinstance(nfit, int) or nfit < 1:
        raise PacemakerError(f"nfit must be a whole number >= 1, got {nfit!r}")
    if isinstance(maxiter, bool) or not isinstance(maxiter, int) or maxiter < 1:
        raise PacemakerError(f"maxiter must be a whole number >= 1, got {maxiter!r}")
    if overrides is not None and not isinstance(overrides, dict):
        raise PacemakerError(f"overrides must be a dict, got {type(overrides).__name__}")
    t = BE_TEMPLATE_SETTINGS
    el = element
    backend = {"evaluator": evaluator, "batch_size": t["batch_size"]}
    if evaluator == "pyace":
        backend["parallel_mode"] = "serial"
    inp = {
        "seed": int(seed),
        "cutoff": p["cutoff"],
        "metadata": {"origin": "revem fit pacemaker", "source": f"seed 000 {PAPER_INPUTS[el]['section']}"
                     if el in PAPER_INPUTS else "user parameters (not in seed 000 S5)",
                     "citation": CITATION},
        "data": {"filename": str(dataset_filename), "cache_ref_df": t["cache_ref_df"], "seed": int(seed),
                 "test_size": test_size},
        "potential": {
            "deltaSplineBins": t["deltaSplineBins"],
            "elements": [el],
            "embeddings": {el: {**copy.deepcopy(t["embedding"]), "rho_core_cut": p["rho_core_cut"],
                                "drho_core_cut": p["drho_core_cut"]}},
            "bonds": {el + el: {"rcut": p["cutoff"], **t["bond"], "radparameters": list(t["radparameters"]),
                                "r_in": p["r_in"], "delta_in": p["delta_in"],
                                "core-repulsion": list(p["core_repulsion"])}},
            "functions": {f"({el})": copy.deepcopy(t["functions"])},
        },
        "fit": {
            "loss": dict(t["loss"]),
            "weighting": {"type": t["weighting"]["type"], "nfit": nfit, "DElow": p["DElow"], "DEup": p["DEup"],
                          "DFup": p["DFup"], "DE": t["weighting"]["DE"], "DF": t["weighting"]["DF"],
                          "wlow": t["weighting"]["wlow"], "reftype": t["weighting"]["reftype"],
                          "seed": int(seed)},
            "optimizer": t["optimizer"],
            "maxiter": maxiter,
            "fit_cycles": t["fit_cycles"],
            "noise_relative_sigma": t["noise_relative_sigma"],
            "ladder_step": list(t["ladder_step"]),
            "ladder_type": t["ladder_type"],
        },
        "backend": backend,
    }
    if overrides:
        _merge(inp, overrides)
    return inp


def input_text(inp: dict) -> str:
    """``inp`` as YAML (``yaml.safe_dump``, keys in the order given) with revem's header line."""
    import yaml

    return ("# pacemaker input written by revem (seed 000 S5 settings; see revem.fitting.pacemaker)\n"
            + yaml.safe_dump(inp, sort_keys=False, default_flow_style=None, allow_unicode=True, width=120))


def dump_input(inp: dict, path: str | os.PathLike) -> Path:
    """Write ``inp`` as YAML (:func:`input_text`) through a temporary file renamed at the end."""
    from revem.safe_io import atomic_file

    path = Path(path)
    text = input_text(inp)
    atomic_file(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
    return path


# ----------------------------------------------------------------------------------------------------------
# the dataset
# ----------------------------------------------------------------------------------------------------------
def _labels(atoms, i: int):
    if atoms.calc is None:
        raise PacemakerError(f"frame {i} has no energy/forces (no calculator attached; label it first)")
    try:
        e = float(atoms.get_potential_energy())
        f = np.asarray(atoms.get_forces(), dtype=float)
    except Exception as exc:
        raise PacemakerError(f"frame {i} lacks energy or forces: {exc}") from exc
    if not math.isfinite(e):
        raise PacemakerError(f"frame {i} has a non-finite energy {e}")
    if f.shape != (len(atoms), 3) or not np.all(np.isfinite(f)):
        raise PacemakerError(f"frame {i} has forces of shape {f.shape} or non-finite values "
                             f"(expected finite ({len(atoms)}, 3))")
    s = None
    if "stress" in atoms.calc.results:
        s = np.asarray(atoms.get_stress(voigt=True), dtype=float)
    return e, f, s


def dataset_frame(frames, *, e_atom: float | None = None):
    """pandas DataFrame in pacemaker's format from labelled ``ase.Atoms``: columns ``name``, ``ase_atoms``
    (without calculator), ``energy`` (eV, total), ``energy_corrected`` (eV: energy − N·``e_atom``, or the
    energy), ``forces`` ((N, 3) eV/Å) and ``stress`` (Voigt eV/Å³, ASE sign) when every frame has one."""
    import pandas as pd
    from ase import Atoms

    frames = list(frames)
    if not frames:
        raise PacemakerError("no frames to write")
    if e_atom is not None and (isinstance(e_atom, bool) or not math.isfinite(float(e_atom))):
        raise PacemakerError(f"e_atom must be a finite energy in eV, got {e_atom!r}")
    rows = []
    for i, at in enumerate(frames):
        if not isinstance(at, Atoms):
            raise PacemakerError(f"frame {i} is a {type(at).__name__}, not ase.Atoms")
        if len(at) == 0:
            raise PacemakerError(f"frame {i} has no atoms")
        e, f, s = _labels(at, i)
        bare = Atoms(symbols=at.get_chemical_symbols(), positions=at.get_positions(), cell=at.get_cell(),
                     pbc=at.get_pbc())
        label = at.info.get("config_type") or at.info.get("source_id") or "frame"
        rows.append({"name": f"{label}:{i}", "ase_atoms": bare, "energy": e,
                     "energy_corrected": e - len(at) * float(e_atom) if e_atom is not None else e,
                     "forces": f, "stress": s})
    df = pd.DataFrame(rows)
    if df["stress"].isna().any():
        df = df.drop(columns=["stress"])
    return df


def write_dataset(frames, path: str | os.PathLike, *, e_atom: float | None = None) -> Path:
    """Write labelled frames (``ase.Atoms`` with a calculator holding energy and forces, e.g. a
    SinglePointCalculator) as pacemaker's dataset: a pandas DataFrame pickled with gzip compression
    (protocol 4, as ``pace_collect`` writes it).  Columns: see :func:`dataset_frame`.  Returns the path."""
    from revem.safe_io import atomic_file

    path = Path(path)
    if not path.name.endswith(".gzip"):
        raise PacemakerError(f"{path}: pacemaker recognises a gzip-compressed dataset by the ending "
                             f"'.gzip' (e.g. dataset.pckl.gzip)")
    df = dataset_frame(frames, e_atom=e_atom)
    atomic_file(path, lambda tmp: df.to_pickle(tmp, compression="gzip", protocol=4))
    return path


def _read_frames(src):
    """Frames from a list of Atoms, or from one or more inputs of the one input loader
    (:func:`revem.data.load_configurations`: extxyz paths, ASE databases, registry names, ``NAME@every=N``)."""
    from ase import Atoms

    if isinstance(src, Atoms):
        return [src]
    if isinstance(src, (str, os.PathLike)):
        src = [src]
    src = list(src)
    if src and all(isinstance(a, Atoms) for a in src):
        return src
    from revem.data import load_configurations
    from revem.safe_io import Refused

    frames = []
    for s in src:
        if not isinstance(s, (str, os.PathLike)):
            raise PacemakerError(f"{s!r} is neither ase.Atoms nor an extxyz path")
        try:
            got = load_configurations(str(s), what="dataset")
        except Refused as exc:
            raise PacemakerError(str(exc)) from None
        if got.placeholder:
            raise PacemakerError(f"{s}: generated configurations (placeholder species X) have no labels: label them "
                                 "first (revem label ... --element El)")
        frames.extend(got.frames)
    return frames


def _n_test(n: int, test_size: float) -> int:
    """Test structures out of ``n``, pacemaker's rule (``pyace.preparedata.train_test_split``)."""
    return int(test_size) if test_size >= 1 else int(n * test_size)


def labelled_copies(frames) -> list:
    """Bare copies of labelled frames (energy, forces, stress in a SinglePointCalculator; scalar info kept)."""
    from ase import Atoms
    from ase.calculators.singlepoint import SinglePointCalculator

    out = []
    for i, at in enumerate(frames):
        e, f, s = _labels(at, i)
        b = Atoms(symbols=at.get_chemical_symbols(), positions=at.get_positions(), cell=at.get_cell(),
                  pbc=at.get_pbc(), info={k: v for k, v in at.info.items() if isinstance(v, (str, int, float))})
        b.calc = SinglePointCalculator(b, energy=e, forces=f, **({"stress": s} if s is not None else {}))
        out.append(b)
    return out


def write_extxyz(frames, path: str | os.PathLike) -> Path:
    """Labelled frames as gzip-compressed extxyz (energy, forces, stress from their calculators), written
    through a temporary file renamed at the end (:func:`revem.safe_io.write_extxyz`: info values extxyz
    cannot carry are escaped or dropped)."""
    from revem.safe_io import atomic_file
    from revem.safe_io import write_extxyz as _write

    out = labelled_copies(frames)
    path = Path(path)
    atomic_file(path, lambda tmp: _write(out, tmp))
    return path


#: every file :func:`write_pacemaker_inputs` may write in the working folder (checked before any work)
WORKDIR_FILES = ("dataset.pckl.gzip", "test.pckl.gzip", "train.extxyz.gz", "test.extxyz.gz", "holdout.extxyz.gz",
                 "dataset.extxyz.gz", "input.yaml", "revem_pacemaker.json")
#: what :func:`run_pacemaker` lets pacemaker write under these names (an earlier run's, revem's, is replaced)
RUN_FILES = ("pacemaker.out", "output_potential.yaml", "output_potential.yace")


def _sources(frames_or_extxyz) -> list[str]:
    if isinstance(frames_or_extxyz, (str, os.PathLike)):
        return [str(frames_or_extxyz)]
    try:
        return [str(x) for x in frames_or_extxyz if isinstance(x, (str, os.PathLike))]
    except TypeError:
        return []


def write_pacemaker_inputs(frames_or_extxyz, element: str, workdir: str | os.PathLike, *,
                           n_sample: int | None = PAPER_N_SAMPLE, e_atom: float | None = None,
                           test_size: float = 0.2, split: str = "revem", nfit: int | None = None,
                           evaluator: str = "tensorpot", maxiter: int = 800, seed: int = 42,
                           params: dict | None = None, overrides: dict | None = None) -> dict:
    """Write a pacemaker working folder for ``element``; returns the paths written.

    ``frames_or_extxyz``: labelled ``ase.Atoms`` or extxyz path(s) / revem data registry names; every frame
    must consist of ``element`` only.  ``n_sample``: the paper's random sample (10,000, seeded by ``seed``)
    that becomes the pacemaker dataset; the remaining frames are the holdout, Table 5's "test" (None or 0:
    all frames, no holdout).  ``split``:

    * ``"revem"`` (default): revem draws the ``test_size`` part of the sample (pacemaker's rule: a fraction,
      or a count when >= 1; seeded) and writes ``dataset.pckl.gzip`` (train) and ``test.pckl.gzip``; the
      input names them as ``data: filename`` / ``test_filename``.  pacemaker treats this exactly like its own
      ``test_size`` split (the weighting policy sees train and test together), and revem knows which
      structures were held out, so :func:`run_pacemaker` can report test errors with any evaluator
      (pacemaker's ``pyace`` backend writes none).
    * ``"pacemaker"``: the paper's literal ``data: test_size`` (pacemaker draws the split).

    Also written: ``train.extxyz.gz``, ``test.extxyz.gz``, ``holdout.extxyz.gz`` (the same frames, for
    revem's own error evaluation; ``split="pacemaker"`` writes ``dataset.extxyz.gz`` instead of train/test),
    ``input.yaml`` and ``revem_pacemaker.json`` (provenance, the element parameters, counts).  Other
    arguments as :func:`pacemaker_input` and :func:`write_dataset`.
    """
    from revem.safe_io import OutputError, OutputFolder, Refused

    if split not in ("revem", "pacemaker"):
        raise PacemakerError(f"split must be 'revem' or 'pacemaker', got {split!r}")
    # every option and the working folder are checked before any frame is read or any file written
    pacemaker_input(element, "dataset.pckl.gzip", test_size=test_size, nfit=nfit, evaluator=evaluator,
                    maxiter=maxiter, seed=seed, params=params, overrides=overrides)
    if e_atom is not None and (isinstance(e_atom, bool) or not isinstance(e_atom, (int, float))
                               or not math.isfinite(float(e_atom))):
        raise PacemakerError(f"e_atom (--e-atom) must be a finite energy in eV, got {e_atom!r}")
    if n_sample is not None and (isinstance(n_sample, bool) or not isinstance(n_sample, int) or n_sample < 0):
        raise PacemakerError(f"n_sample must be a whole number >= 0 or None, got {n_sample!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise PacemakerError(f"seed must be a whole number >= 0, got {seed!r}")
    try:
        folder = OutputFolder(workdir, "--workdir", inputs=_sources(frames_or_extxyz),
                              command="revem fit pacemaker")
        folder.plan(*WORKDIR_FILES)
    except Refused as exc:
        raise PacemakerError(str(exc)) from None
    frames = _read_frames(frames_or_extxyz)
    if not frames:
        raise PacemakerError("no frames to write")
    for i, at in enumerate(frames):
        species = sorted(set(at.get_chemical_symbols()))
        if species != [element]:
            raise PacemakerError(f"frame {i} contains {species}, expected only {element} (a unary fit; rescale "
                                 f"or relabel the configurations to {element} first, cf. revem rescale)")
        _labels(at, i)  # every frame labelled with finite numbers, before anything is written
    rng = np.random.default_rng(seed)
    idx = np.arange(len(frames))
    hold = np.array([], dtype=int)
    if n_sample and len(frames) > n_sample:
        idx = np.sort(rng.choice(len(frames), size=n_sample, replace=False))
        hold = np.setdiff1d(np.arange(len(frames)), idx)
    test = np.array([], dtype=int)
    if split == "revem":
        k = _n_test(len(idx), test_size)
        if not 0 < k < len(idx):
            raise PacemakerError(f"test_size {test_size} leaves {k} test and {len(idx) - k} training structures "
                                 f"out of {len(idx)}; both must be at least one")
        test = np.sort(rng.choice(idx, size=k, replace=False))
        train = np.setdiff1d(idx, test)
    else:
        train = idx
    inp = pacemaker_input(element, "dataset.pckl.gzip", test_size=test_size, nfit=nfit, evaluator=evaluator,
                          maxiter=maxiter, seed=seed, params=params, overrides=overrides)
    pick = lambda ii: [frames[i] for i in ii]

    def dataset(name, ii):
        df = dataset_frame(pick(ii), e_atom=e_atom)
        return folder.write_with(name, lambda tmp: df.to_pickle(tmp, compression="gzip", protocol=4))

    def extxyz(name, ii):
        from revem.safe_io import write_extxyz as _write

        copies = labelled_copies(pick(ii))
        return folder.write_with(name, lambda tmp: _write(copies, tmp))

    try:
        out = {"dataset": dataset("dataset.pckl.gzip", train), "test_dataset": None, "holdout": None}
        if split == "revem":
            inp["data"].pop("test_size", None)
            inp["data"]["test_filename"] = "test.pckl.gzip"
            out["test_dataset"] = dataset("test.pckl.gzip", test)
            out["train_extxyz"] = extxyz("train.extxyz.gz", train)
            out["test_extxyz"] = extxyz("test.extxyz.gz", test)
        else:
            out["dataset_extxyz"] = extxyz("dataset.extxyz.gz", train)
        if len(hold):
            out["holdout"] = extxyz("holdout.extxyz.gz", hold)
        out["input"] = folder.write_bytes("input.yaml", input_text(inp))
        src = _sources(frames_or_extxyz) or "ase.Atoms given in memory"
        prov = {"element": element, "source": src, "n_frames": len(frames), "n_sample": n_sample, "seed": seed,
                "split": split, "n_train": len(train) if split == "revem" else None,
                "n_test": len(test) if split == "revem" else None, "n_dataset": len(idx),
                "n_holdout": len(hold), "e_atom_eV": e_atom,
                "energy_corrected": "energy - N * e_atom" if e_atom is not None else "energy (no free-atom reference)",
                "element_parameters": element_parameters(element, params),
                "paper": PAPER_INPUTS.get(element), "paper_table5_train_test": PAPER_TABLE5.get(element),
                "citation": CITATION}
        out["provenance"] = folder.write_bytes("revem_pacemaker.json", json.dumps(prov, indent=1, default=str))
        # an earlier call's inputs that no longer match (revem's, unchanged) are removed now; a fitted
        # potential of an earlier run (output_potential.*) is kept
        folder.finish(remove_stale=WORKDIR_FILES)
    except OutputError:
        folder.abort()
        raise
    except Refused as exc:
        folder.abort()
        raise PacemakerError(str(exc)) from None
    except PacemakerError:
        folder.abort()
        raise
    return out


# ----------------------------------------------------------------------------------------------------------
# running pacemaker
# ----------------------------------------------------------------------------------------------------------
@dataclass
class PacemakerRun:
    """A finished pacemaker run: the fitted potential (B-basis YAML and C-tilde ``.yace``), the last
    train/test metrics pacemaker wrote (``metrics.txt``, ``test_metrics.txt``; energies in eV/atom, forces
    in eV/Å per component; ``low_*`` = structures within 1 eV/atom of E_min; the ``pyace`` backend writes
    no test metrics), pacemaker's wall time (s), and ``evaluation``: revem's own errors of the ``.yace`` on
    ``train``/``test``/``holdout`` (:func:`potential_errors`)."""
    workdir: Path
    potential_yaml: Path
    potential_yace: Path | None
    train_errors: dict = field(default_factory=dict)
    test_errors: dict = field(default_factory=dict)
    wall_s: float = 0.0
    log: Path | None = None
    evaluation: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(self).items()}


_METRIC_UNITS = {"rmse_epa": "eV/atom", "low_rmse_epa": "eV/atom", "rmse_f_comp": "eV/A",
                 "low_rmse_f_comp": "eV/A", "mae_f_comp": "eV/A", "low_mae_f_comp": "eV/A"}


def read_metrics(path: str | os.PathLike) -> dict:
    """The last row of a pacemaker metrics table (whitespace-separated, header first) as
    ``{"iter_num": .., "loss": .., "rmse_epa_eV/atom": .., "rmse_f_comp_eV/A": .., ...}``; {} when absent
    or empty."""
    from revem.safe_io import Refused, read_text

    path = Path(path)
    if not path.is_file():
        return {}
    try:
        text = read_text(path, "pacemaker metrics", limit=64 << 20, decompress=False)
    except Refused:
        return {}
    lines = [ln.split() for ln in text.splitlines() if ln.strip()]
    if len(lines) < 2:
        return {}
    head, last = lines[0], lines[-1]
    out = {}
    for k, v in zip(head, last):
        try:
            x = float(v)
        except ValueError:
            continue
        if k in ("iter_num", "nfuncs", "ncoefs", "ladder_step", "cycle_step"):
            out[k] = int(x)
        elif k == "loss":
            out[k] = x
        elif k in _METRIC_UNITS:
            out[f"{k}_{_METRIC_UNITS[k]}"] = x
    return out


def _script_python(exe: str) -> str | None:
    """The interpreter named on the shebang line of a console script, if any."""
    try:
        with open(exe, "rb") as fh:
            first = fh.readline(512).decode(errors="replace").strip()
    except OSError:
        return None
    if first.startswith("#!"):
        cand = first[2:].strip().split()[0] if first[2:].strip() else ""
        if cand and Path(cand).name.startswith("python") and Path(cand).is_file():
            return cand
    return None


def _has_tensorpotential(pacemaker_exe: str) -> bool:
    py = _script_python(pacemaker_exe)
    if py is None:  # not a Python script we can inspect: look in this interpreter
        return importlib.util.find_spec("tensorpotential") is not None
    code = "import importlib.util, sys; sys.exit(importlib.util.find_spec('tensorpotential') is None)"
    r = subprocess.run([py, "-c", code], check=False, capture_output=True, timeout=120)
    return r.returncode == 0


def find_tool(name: str) -> str | None:
    """``name`` (pacemaker, pace_yaml2yace) on PATH, else beside this Python interpreter (a virtual
    environment used without activating it); None when absent."""
    exe = shutil.which(name)
    if exe is None:
        exe = shutil.which(name, path=str(Path(sys.executable).parent))
    return exe


def tensorpot_available() -> bool:
    """Whether the pacemaker found by :func:`find_tool` can use the ``tensorpot`` evaluator."""
    exe = find_tool("pacemaker")
    return bool(exe) and _has_tensorpotential(exe)




def potential_errors(potential: str | os.PathLike, frames, *, e_atom: float | None = None,
                     e_min: float | None = None, de_up: float | None = None, df_up: float | None = None) -> dict:
    """Errors of an ACE potential (``.yace``/``.yaml``, pyace) on labelled frames, per energy window.

    Energies are compared as energy − N·``e_atom`` (what pacemaker fitted).  Frames above ``e_min`` +
    ``de_up`` (eV/atom) or with a force longer than ``df_up`` (eV/Å) are left out, as pacemaker's weighting
    policy leaves them out of training and testing (seed 000 §5.5: "removed ... both for training and
    testing"); ``e_min`` (eV/atom, corrected) defaults to the frames' minimum.  Windows: all, E_min + 2 eV,
    E_min + 1 eV.  Returns ``{"n_frames", "n_excluded", window: {"n_configurations", "energy_rmse",
    "energy_mae" (meV/atom), "force_rmse", "force_mae" (eV/Å, per component), "stress_rmse", "stress_mae"
    (GPa, frames with stress)}}``.
    """
    from ase.units import GPa
    from pyace import PyACECalculator

    frames = list(frames)
    calc = PyACECalculator(str(potential))
    ref0 = float(e_atom or 0.0)
    epa, rows = [], []
    for i, at in enumerate(frames):
        e, f, s = _labels(at, i)
        epa.append((e - len(at) * ref0) / len(at))
        rows.append((e, f, s))
    epa = np.array(epa)
    e_min = float(epa.min()) if e_min is None else float(e_min)
    keep = np.ones(len(frames), bool)
    if de_up is not None:
        keep &= epa < e_min + de_up
    if df_up is not None:
        keep &= np.array([np.max(np.linalg.norm(r[1], axis=1)) <= df_up for r in rows])
    pred = {}
    for i in np.flatnonzero(keep):
        at = frames[i].copy()
        at.calc = calc
        ps = None
        if rows[i][2] is not None and at.pbc.all():
            ps = np.asarray(at.get_stress(voigt=True))
        pred[i] = (at.get_potential_energy() / len(at), at.get_forces(), ps)
    out = {"n_frames": len(frames), "n_excluded": int((~keep).sum()), "e_min_eV_per_atom": e_min}
    idx = sorted(pred)
    stress = [(pred[i][2] - rows[i][2]) / GPa if pred[i][2] is not None else None for i in idx]
    out.update(window_errors(epa[idx], [pred[i][0] for i in idx], e_min, [pred[i][1] - rows[i][1] for i in idx],
                             stress))
    return out


def run_pacemaker(workdir: str | os.PathLike, timeout: float | None = None, *, input_name: str = "input.yaml",
                  output: str = "output_potential.yaml", evaluate: bool = True) -> PacemakerRun:
    """Run ``pacemaker input.yaml`` in ``workdir`` (a subprocess; its output goes to ``pacemaker.out``) and
    convert the result to ``.yace`` (``pace_yaml2yace``).  ``timeout`` in s (None: no limit); on timeout
    the process group is killed and :class:`TimeoutError` raised.  With ``evaluate``, the ``.yace`` is
    evaluated (:func:`potential_errors`) on the ``train``/``test``/``holdout`` ``.extxyz.gz`` files that
    :func:`write_pacemaker_inputs` wrote, with its E_min (the fitted frames') and thresholds.  Raises
    :class:`PacemakerUnavailable` when pacemaker (or the input's ``tensorpot`` evaluator) is not installed,
    :class:`RuntimeError` (with the end of the log) when pacemaker fails.  pacemaker's own files (its
    pickles included) are left in ``workdir``; revem reads only its text metrics and the potential."""
    import yaml

    from revem.safe_io import OutputFolder, Refused, read_text

    workdir = Path(workdir)
    inp_path = workdir / input_name
    if not inp_path.is_file():
        raise PacemakerError(f"{inp_path} does not exist (write it with write_pacemaker_inputs / "
                             f"revem fit pacemaker first)")
    try:
        folder = OutputFolder(workdir, "--workdir", command="revem fit pacemaker --run")
        folder.plan("pacemaker.out", output, str(Path(output).with_suffix(".yace")))
        text = read_text(inp_path, "pacemaker input", limit=1 << 20, decompress=False)
    except Refused as exc:
        raise PacemakerError(str(exc)) from None
    exe = find_tool("pacemaker")
    if exe is None:
        raise PacemakerUnavailable(INSTALL_HINT)
    try:
        inp = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PacemakerError(f"{inp_path} is not valid YAML: {' '.join(str(exc).split())}") from None
    evaluator = ((inp or {}).get("backend") or {}).get("evaluator", "pyace") if isinstance(inp, dict) else None
    if evaluator is None:
        raise PacemakerError(f"{inp_path} is not a pacemaker input (a YAML mapping)")
    if evaluator == "tensorpot" and not _has_tensorpotential(exe):
        raise PacemakerUnavailable(f"{inp_path} asks for backend evaluator 'tensorpot', but tensorpotential "
                                   f"(TensorFlow) is not installed for {exe}: pip install tensorpotential, or "
                                   f"write the input with evaluator 'pyace' (CPU, slower)")
    env = dict(os.environ)
    env.setdefault("MPLBACKEND", "Agg")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    log = workdir / "pacemaker.out"
    out_yaml = workdir / output
    if out_yaml.exists():  # revem's (planned above): never report an earlier run's potential as this run's
        out_yaml.unlink()
    t0 = time.perf_counter()
    with open(log, "w") as fh:
        proc = subprocess.Popen([exe, input_name, "-o", output], cwd=workdir, stdout=fh, stderr=subprocess.STDOUT,
                                env=env, start_new_session=True)
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the group of the process started here
            proc.wait()
            raise TimeoutError(f"pacemaker in {workdir} did not finish within {timeout} s (killed); log: {log}")
    wall = time.perf_counter() - t0
    if rc != 0 or not out_yaml.is_file():
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-25:])
        raise RuntimeError(f"pacemaker failed in {workdir} (exit code {rc}); last lines of {log}:\n{tail}")
    yace = out_yaml.with_suffix(".yace")
    conv = find_tool("pace_yaml2yace")
    if conv:
        r = subprocess.run([conv, out_yaml.name, "-o", yace.name], check=False, cwd=workdir, capture_output=True,
                           text=True, timeout=600)
        if r.returncode != 0 or not yace.is_file():
            raise RuntimeError(f"pace_yaml2yace failed on {out_yaml}: {r.stderr[-2000:]}")
    else:
        from pyace import ACEBBasisSet

        ACEBBasisSet(str(out_yaml)).to_ACECTildeBasisSet().save_yaml(str(yace))
    for name in ("pacemaker.out", out_yaml.name, yace.name):
        folder.record(name)
    folder.finish(remove_stale=False)
    run = PacemakerRun(workdir=workdir, potential_yaml=out_yaml, potential_yace=yace,
                       train_errors=read_metrics(workdir / "metrics.txt"),
                       test_errors=read_metrics(workdir / "test_metrics.txt"), wall_s=wall, log=log)
    if evaluate:
        run.evaluation = evaluate_workdir(workdir, yace)
    return run


def evaluate_workdir(workdir: str | os.PathLike, potential: str | os.PathLike) -> dict:
    """:func:`potential_errors` of ``potential`` on the extxyz sets of a folder written by
    :func:`write_pacemaker_inputs` (``train``, ``test``, ``holdout``; ``dataset`` for ``split="pacemaker"``),
    with the folder's ``e_atom``, the element's ``DEup``/``DFup`` and E_min of the fitted data."""
    from revem.data import read_extxyz_fast
    from revem.safe_io import load_json

    workdir = Path(workdir)
    prov_path = workdir / "revem_pacemaker.json"
    prov = load_json(prov_path, "provenance", limit=16 << 20) if prov_path.is_file() else {}
    prov = prov if isinstance(prov, dict) else {}
    par = prov.get("element_parameters") or {}
    e_atom = prov.get("e_atom_eV")
    sets = {name: workdir / f"{name}.extxyz.gz" for name in ("train", "test", "dataset", "holdout")}
    sets = {k: v for k, v in sets.items() if v.is_file()}
    if not sets:
        return {}
    frames = {k: read_extxyz_fast(v) for k, v in sets.items()}
    fitted = [at for k in ("train", "test", "dataset") for at in frames.get(k, [])]
    ref0 = float(e_atom or 0.0)
    e_min = min((at.get_potential_energy() - len(at) * ref0) / len(at) for at in fitted) if fitted else None
    return {k: potential_errors(potential, fr, e_atom=e_atom, e_min=e_min, de_up=par.get("DEup"),
                                df_up=par.get("DFup")) for k, fr in frames.items()}


# ----------------------------------------------------------------------------------------------------------
# command line: revem fit pacemaker
# ----------------------------------------------------------------------------------------------------------
def configure_parser(p) -> None:
    """Arguments of ``revem fit pacemaker``."""
    p.add_argument("dataset", nargs="+", help="labelled extxyz file(s) (optionally .gz) or revem data registry "
                   "names, e.g. fitsnap-WBe/W/EOS_Data.extxyz.gz")
    p.add_argument("--element", required=True, help="the element of the unary fit; seed 000 S5 has "
                   f"{', '.join(PAPER_INPUTS)} (others need --param for every element parameter)")
    p.add_argument("--workdir", required=True, help="folder for input.yaml, dataset.pckl.gzip and pacemaker's output")
    p.add_argument("--run", action="store_true", help="run pacemaker after writing the inputs")
    p.add_argument("--evaluator", choices=("auto",) + EVALUATORS, default="auto",
                   help="pacemaker backend: tensorpot (the paper's; TensorFlow), pyace (CPU, slow); auto: "
                        "tensorpot when tensorpotential is installed, else pyace (default)")
    p.add_argument("--maxiter", type=int, default=800, help="BFGS iterations per ladder step (paper: 800)")
    p.add_argument("--test-size", type=float, default=0.2, help="held-out fraction monitored during the fit (0.2)")
    p.add_argument("--nfit", type=int, default=None, help="structures selected by the weighting policy (10000)")
    p.add_argument("--n-sample", type=int, default=PAPER_N_SAMPLE,
                   help="random sample written as the dataset, the rest is the holdout (10000; 0 = all)")
    p.add_argument("--e-atom", type=float, default=None,
                   help="free-atom DFT energy (eV) subtracted per atom for energy_corrected (default: none)")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help=f"replace an element parameter ({', '.join(ELEMENT_KEYS)}); core_repulsion=A,lambda")
    p.add_argument("--split", choices=("revem", "pacemaker"), default="revem",
                   help="who draws the test part: revem (writes test.pckl.gzip, test errors for every evaluator; "
                        "default) or pacemaker (the paper's literal data: test_size)")
    p.add_argument("--nradmax-by-orders", default=None, metavar="N1,N2,..",
                   help="replace the paper's basis (20,4,4,2,1), e.g. 4,2 for a quick CPU test")
    p.add_argument("--lmax-by-orders", default=None, metavar="L1,L2,..",
                   help="replace the paper's basis (0,3,3,1,1); same length as --nradmax-by-orders")
    p.add_argument("--no-ladder", action="store_true", help="fit the whole basis at once (no ladder_step)")
    p.add_argument("--seed", type=int, default=42, help="random seed of the sample, the split and pacemaker (42)")
    p.add_argument("--timeout", type=float, default=None, help="kill pacemaker after this many seconds")
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def _parse_params(items) -> dict:
    out = {}
    for it in items:
        if "=" not in it:
            raise PacemakerError(f"--param {it!r}: expected KEY=VALUE")
        k, v = (s.strip() for s in it.split("=", 1))
        try:
            out[k] = [float(x) for x in v.split(",")] if k == "core_repulsion" else float(v)
        except ValueError as exc:
            raise PacemakerError(f"--param {it!r}: {v!r} is not a number") from exc
    return out


def _cli_overrides(args) -> dict:
    ov: dict = {}
    if (args.nradmax_by_orders is None) != (args.lmax_by_orders is None):
        raise PacemakerError("give --nradmax-by-orders and --lmax-by-orders together")
    if args.nradmax_by_orders is not None:
        try:
            nrad = [int(x) for x in args.nradmax_by_orders.split(",")]
            lmax = [int(x) for x in args.lmax_by_orders.split(",")]
        except ValueError as exc:
            raise PacemakerError(f"--nradmax-by-orders/--lmax-by-orders must be comma-separated integers: {exc}")
        if len(nrad) != len(lmax) or min(nrad) < 1 or min(lmax) < 0:
            raise PacemakerError(f"basis orders {nrad} / {lmax}: need equal lengths, nradmax >= 1, lmax >= 0")
        ov["potential"] = {"functions": {f"({args.element})": {"nradmax_by_orders": nrad, "lmax_by_orders": lmax}}}
    if args.no_ladder:
        ov["fit"] = {"ladder_step": None, "ladder_type": None}
    return ov


def run_cli(args) -> int:
    """``revem fit pacemaker``: write the inputs (and run pacemaker with ``--run``); 0 on success, 2 on bad
    input (options, the working folder; checked before any file is written), 1 when pacemaker cannot run or
    fails or an output cannot be written."""
    from revem.safe_io import OutputError, Refused, number

    try:
        if args.timeout is not None:
            try:
                number(args.timeout, "--timeout", lo=0, lo_open=True, unit=" s")
            except Refused as exc:
                raise PacemakerError(str(exc)) from None
        evaluator = args.evaluator
        if evaluator == "auto":
            evaluator = "tensorpot" if tensorpot_available() else "pyace"
        paths = write_pacemaker_inputs(args.dataset if len(args.dataset) > 1 else args.dataset[0], args.element,
                                       args.workdir, n_sample=args.n_sample or None, e_atom=args.e_atom,
                                       test_size=args.test_size, split=args.split, nfit=args.nfit,
                                       evaluator=evaluator, maxiter=args.maxiter, seed=args.seed,
                                       params=_parse_params(args.param), overrides=_cli_overrides(args))
    except OutputError as exc:
        print(f"revem fit pacemaker: {exc}", file=sys.stderr)
        return 1
    except PacemakerError as exc:
        print(f"revem fit pacemaker: {exc}", file=sys.stderr)
        return 2
    prov = json.loads(paths["provenance"].read_text())
    result = {"evaluator": evaluator, **{k: (str(v) if v is not None else None) for k, v in paths.items()},
              "n_dataset": prov["n_dataset"], "n_holdout": prov["n_holdout"]}
    if not args.json:
        parts = (f"{prov['n_train']} train + {prov['n_test']} test" if prov["split"] == "revem"
                 else f"{prov['n_dataset']} structures, pacemaker splits off test_size {args.test_size}")
        hold = f", holdout {prov['n_holdout']} in {paths['holdout']}" if paths["holdout"] else ""
        print(f"wrote {paths['input']} (evaluator {evaluator}, {prov['element_parameters']}) and "
              f"{paths['dataset']} ({parts}{hold})")
        if evaluator == "pyace" and args.run:
            print("note: the pyace evaluator runs on CPU with ~4 loss evaluations per coefficient per BFGS "
                  "iteration (0.6-1 ms per atom each, measured): the paper's basis (1,094 coefficients, 800 "
                  "iterations per ladder step) on thousands of structures is out of reach; use tensorpot, or "
                  "--nradmax-by-orders/--lmax-by-orders/--no-ladder/--maxiter for a small fit", file=sys.stderr)
    if args.run:
        try:
            run = run_pacemaker(args.workdir, timeout=args.timeout)
        except (PacemakerUnavailable, RuntimeError, TimeoutError, PacemakerError) as exc:
            print(f"revem fit pacemaker: {exc}", file=sys.stderr)
            return 1
        result["run"] = run.to_dict()
        if not args.json:
            print(f"pacemaker finished in {run.wall_s:.1f} s: {run.potential_yaml}, {run.potential_yace}")
            for name, ev in run.evaluation.items():
                for win, e in ev.items():
                    if isinstance(e, dict) and e.get("n_configurations"):
                        print(f"  {name:8s} {win:10s} {e['n_configurations']:6d} configs: E RMSE "
                              f"{e['energy_rmse']:.2f} meV/atom, MAE {e['energy_mae']:.2f} meV/atom; F RMSE "
                              f"{e['force_rmse']:.4f} eV/Å, MAE {e['force_mae']:.4f} eV/Å")
                if ev.get("n_excluded"):
                    print(f"  {name:8s} ({ev['n_excluded']} of {ev['n_frames']} configurations above DEup/DFup "
                          f"left out)")
    if args.json:
        print(json.dumps(result, indent=1))
    return 0
