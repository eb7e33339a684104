"""DFT cold curves (GPAW PBE) of bcc, fcc, hcp, sc and diamond from 0.45 to 3 V0, through ``revem label``.

    nice -n 10 python -m revem.validation.references_build.cold_curves --elements W Be Al C Re Os --work ~/revem-cold-curves
    # -> revem/validation/reference_data/<El>/cold_curves_gpaw.json (with --out DIR: DIR/<El>/cold_curves_gpaw.json,
    #    refused before any work if that file exists)

Per element: the cells of :func:`revem.validation.properties.cold_curves.cell` at x · V0 for every x of
:data:`~revem.validation.properties.cold_curves.REFERENCE_GRID` (0.45 … 3) and every lattice are written to
``WORK/<El>/structures.extxyz`` and labelled by :func:`revem.datasets.labelling.label` (``revem label
--dft``): each finished calculation is journalled, so a killed run resumes where it stopped when the same
command is run again, and the labels do not depend on the order of the work.  The labelled energies
(eV/atom; GPAW's energy extrapolated to zero smearing) and pressures (GPa, from GPAW's stress) become the
reference curves, relative to the ground lattice at V0.

**V0, the anchor** (:data:`ANCHOR`): the WIEN2k PBE equilibrium volume of the Delta benchmark
(``ase.collections.dcdft``; Lejaeghere et al., Science 351, aad3000 (2016), doi:10.1126/science.aad3000) where
its structure is the element's ground lattice (W bcc, Al fcc, Be, Re, Os hcp); for C (dcdft holds graphite)
the experimental diamond volume of ASE's reference states (a = 3.567 Å).  GPAW's own V0 (Birch–Murnaghan fit of
the ground lattice's 0.8–1.3 V0 points) is recorded beside it.

**Settings** (:class:`revem.datasets.dft.DFTSettings` with a lower k-point density, recorded in the file):
PBE, PW 400 eV, Γ-centred Monkhorst–Pack mesh of density 3.0 per Å⁻¹ (each cell its own mesh: the
curves span a factor 6.7 in volume, and the ~1 meV/atom steps a density mesh puts into E(V) are far below the
tolerances of 25–50 meV/atom), Methfessel–Paxton order 1, 0.2 eV, SCF 1e-5 eV per valence electron, GPAW's
default PAW setups (file, generator and sha256 recorded), non-spin-polarised.  The tolerances follow
:data:`~revem.validation.properties.cold_curves.TOLERANCE_RULE`.

Consistency: a point whose energy disagrees with the pressure of its neighbours (the energy change over a grid
interval must equal the work of the pressure, trapezoid rule, within :data:`CONSISTENCY`) is a calculation that
went wrong and is left out, named in the file's ``dropped_points`` (:func:`inconsistent_points`; it caught Re
diamond at 0.45 V0, −89 eV/atom below its neighbour's trend, where the PAW spheres overlap by 42 %).

Cross-check: where the data mirror holds E(V) data beyond ±25 % of V0 (FitSNAP WBe ``Be/EOS_FCC``,
``Be/EOS_HCP``, ``Be/EOS_BCC``: VASP PBE, Wood et al. 2019), the GPAW curve is compared with them (both
relative to their own hcp minimum, at the mirror's volumes, by interpolation in log V) and the RMSE is
recorded in the file (:func:`cross_check`); it needs ``REVEM_DATA_DIR`` and is recorded as not checked otherwise.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from pathlib import Path

import numpy as np

from ..properties import cold_curves as cc

PROPERTY = cc.PROPERTY
ELEMENTS = ("W", "Be", "Al", "C", "Re", "Os")
KPTS_DENSITY_PER_A = 3.0
#: the mirror's wide-range E(V) sets: element -> {lattice: (registry name, source_id prefix or None)}
MIRROR_EOS = {"Be": {"fcc": ("fitsnap-WBe/Be/EOS_FCC.extxyz.gz", None), "hcp": ("fitsnap-WBe/Be/EOS_HCP.extxyz.gz", None),
                     "bcc": ("fitsnap-WBe/Be/EOS_BCC.extxyz.gz", None)}}


def anchor(element: str) -> tuple[float, str]:
    """(V0 Å^3/atom, its source) of the reference grid (see the module docstring)."""
    from ase.collections import dcdft
    from ase.data import atomic_numbers, reference_states

    lat = cc.lattices(element)[0]
    d = dcdft.data.get(element)
    if d is not None:
        at = dcdft[element]
        import spglib

        sg = spglib.get_spacegroup((at.cell[:], at.get_scaled_positions(), at.numbers), symprec=1e-3) or ""
        expected = {"bcc": "Im-3m", "fcc": "Fm-3m", "hcp": "P6_3/mmc", "diamond": "Fd-3m"}[lat]
        if sg.split()[0] == expected:
            return float(d["wien2k_volume"]), ("WIEN2k PBE equilibrium volume, Delta benchmark (ase.collections.dcdft; "
                                              "Lejaeghere et al., Science 351, aad3000 (2016))")
    ref = reference_states[atomic_numbers[element]]
    if ref and ref.get("symmetry") == lat == "diamond":
        return ref["a"] ** 3 / 8, f"experimental diamond lattice constant a = {ref['a']} Å (ASE reference states)"
    raise ValueError(f"cold_curves: no anchor volume for {element} ({lat})")


def structures(element: str, grid=cc.REFERENCE_GRID, lattices=None) -> tuple[list, float, str]:
    """The cells to label (info: ``cold_lattice``, ``cold_x``), V0 and its source (``lattices`` default: all five,
    the ground lattice first)."""
    v0, src = anchor(element)
    out = []
    for lat in (lattices or cc.lattices(element)):
        for x in grid:
            at = cc.cell(element, lat, x * v0)
            at.info.update(cold_lattice=lat, cold_x=float(x))
            out.append(at)
    return out, v0, src


def _write_structures(path: Path, frames) -> None:
    """Write the input once; an existing file must hold the same cells (otherwise a resumed labelling would
    mix two grids): refused naming it."""
    from ase.io import write

    text_of = lambda fs: hashlib.sha256(b"".join(  # noqa: E731
        np.ascontiguousarray(np.round(a.cell.array, 8)).tobytes() + np.round(a.positions, 8).tobytes()
        + a.numbers.tobytes() for a in fs)).hexdigest()
    if path.exists():
        from ...safe_io import read_extxyz

        old = read_extxyz(path, "cold-curve structures")
        if len(old) != len(frames) or text_of(old) != text_of(frames):
            raise SystemExit(f"{path} holds other cells than this grid; move it away (nothing was changed)")
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.extxyz")
    write(str(tmp), frames, format="extxyz")
    os.replace(tmp, path)


def curves_from_labels(frames, labelled) -> dict:
    """{lattice: {"x": [...], "E": eV/atom, "P": GPa}} from the labelled frames (matched by
    ``label_source_index``); calculations that failed are left out and counted."""
    from ..properties.common import EV_PER_A3_TO_GPA

    out, failed = {}, []
    for at in labelled:
        i = int(at.info["label_source_index"])
        src = frames[i]
        try:
            e = float(at.get_potential_energy()) / len(at)
            p = float(-np.trace(at.get_stress(voigt=False)) / 3 * EV_PER_A3_TO_GPA)
        except Exception:  # noqa: BLE001  (a failed label carries no energy)
            failed.append(i)
            continue
        c = out.setdefault(src.info["cold_lattice"], {"x": [], "E": [], "P": []})
        c["x"].append(float(src.info["cold_x"]))
        c["E"].append(e)
        c["P"].append(p)
    for c in out.values():
        order = np.argsort(c["x"])
        for k in c:
            c[k] = [c[k][j] for j in order]
    return {"curves": out, "failed": failed}


#: an interval whose energy change differs from the work of the pressure (trapezoid) by more than
#: max(abs, rel × |ΔE|) marks a calculation that went wrong (e.g. a collapsed SCF where PAW spheres overlap)
CONSISTENCY = {"abs_eV": 0.5, "rel": 0.25}


def inconsistent_points(x, e_eV, p_GPa, v0: float) -> list[dict]:
    """Points whose energy disagrees with the pressure of their neighbours: E(V_i) − E(V_i+1) must equal
    ∫ P dV over the interval (trapezoid) within :data:`CONSISTENCY`.  A point is blamed when both its
    intervals fail, or when the one failing interval is the grid's first or last (its outer point)."""
    from ..properties.common import EV_PER_A3_TO_GPA

    x, e, p = (np.asarray(a, float) for a in (x, e_eV, p_GPa))
    v = x * v0
    bad_int = []
    for i in range(len(x) - 1):
        de = e[i] - e[i + 1]
        work = 0.5 * (p[i] + p[i + 1]) / EV_PER_A3_TO_GPA * (v[i + 1] - v[i])
        if abs(de - work) > max(CONSISTENCY["abs_eV"], CONSISTENCY["rel"] * abs(de)):
            bad_int.append((i, float(de), float(work)))
    blamed = {}
    idx = [b[0] for b in bad_int]
    for i, de, work in bad_int:
        if i == 0 and 1 not in idx:
            k = 0
        elif i == len(x) - 2 and (i - 1) not in idx:
            k = len(x) - 1
        elif (i + 1) in idx:
            k = i + 1
        else:
            continue
        blamed[k] = {"x": float(x[k]), "E_rel_eV": float(e[k]), "P_GPa": float(p[k]),
                     "why": f"E changes by {de:+.3f} eV/atom over x {x[i]:.2f}-{x[i + 1]:.2f}, the pressure's work is "
                            f"{work:+.3f} eV/atom"}
    return [blamed[k] for k in sorted(blamed)]


def cross_check(element: str, curves: dict, v0: float) -> dict:
    """RMSE (meV/atom) of the GPAW curves vs the mirror's wide-range E(V) sets (:data:`MIRROR_EOS`), both relative to
    their own lowest hcp energy, at the mirror volumes inside the GPAW grid."""
    sets = MIRROR_EOS.get(element)
    if not sets:
        return {"checked": False, "why": f"the data mirror holds no E(V) set of {element} reaching beyond ±25 % of V0"}
    try:
        from ...data import read_frames

        mirror = {lat: [(a.get_volume() / len(a), a.get_potential_energy() / len(a)) for a in read_frames(name)]
                  for lat, (name, _) in sets.items()}
    except Exception as exc:  # noqa: BLE001
        return {"checked": False, "why": f"mirror not readable here ({type(exc).__name__}: {exc}); set REVEM_DATA_DIR"}
    base = "hcp" if "hcp" in mirror else next(iter(mirror))
    m0 = min(e for _, e in mirror[base])
    g0 = min(curves[base]["E"])
    res = {"checked": True, "zero": f"each set relative to its own lowest {base} energy", "lattices": {}}
    for lat, pts in mirror.items():
        if lat not in curves:
            continue
        gv = np.array(curves[lat]["x"]) * v0
        ge = np.array(curves[lat]["E"]) - g0
        pts = [(v, e - m0) for v, e in pts if gv.min() <= v <= gv.max()]
        if not pts:
            continue
        v, e = np.array(pts).T
        from scipy.interpolate import CubicSpline

        gi = CubicSpline(np.log(gv), ge)(np.log(v))
        d = 1000 * (gi - e)
        per_window = {}
        for w, _, _ in cc.WINDOWS:
            sel = cc.in_window(v / v0, w)
            if sel.any():
                per_window[w] = {"n_points": int(sel.sum()), "rmse_meV_per_atom": round(float(np.sqrt(np.mean(d[sel] ** 2))), 1),
                                 "rms_mirror_meV_per_atom": round(float(np.sqrt(np.mean((1000 * e[sel]) ** 2))), 1)}
        res["lattices"][lat] = {"source": sets[lat][0], "n_points": int(len(v)), "windows": per_window,
                                "x_range": [round(float(v.min() / v0), 3), round(float(v.max() / v0), 3)],
                                "rmse_meV_per_atom": round(float(np.sqrt(np.mean(d ** 2))), 1),
                                "max_abs_meV_per_atom": round(float(np.abs(d).max()), 1),
                                "note": "GPAW interpolated in log V between its grid points (a few meV/atom of the "
                                        "difference is interpolation where the grid is sparse)"}
    return res


def paw_overlap(element: str, v0: float) -> dict:
    """Where the PAW augmentation spheres of nearest neighbours overlap: the largest augmentation radius r_c (Å) of
    the element's GPAW setup and, per lattice, the x = V/V0 below which the nearest-neighbour distance is < 2 r_c,
    and the overlap at 0.45 V0 as a fraction of 2 r_c."""
    from ase.neighborlist import neighbor_list
    from gpaw.setup_data import SetupData

    rc = max(SetupData(element, "PBE", "paw").rcut_j) * 0.52917721
    out = {"r_c_A": round(rc, 4), "lattices": {}}
    for lat in cc.lattices(element):
        at = cc.cell(element, lat, v0)
        d1 = float(neighbor_list("d", at, 6.0).min())
        out["lattices"][lat] = {"nn_distance_at_V0_A": round(d1, 4),
                                "overlap_below_x": round(min(1.0, (2 * rc / d1) ** 3), 3),
                                "overlap_at_0.45_fraction": round(max(0.0, 1 - d1 * 0.45 ** (1 / 3) / (2 * rc)), 3)}
    return out


def reference_entries(element: str, curves: dict, v0: float, v0_source: str, source: str) -> list[dict]:
    """The reference records: per lattice ``E_rmse_<window>`` and ``P_rmse_<window>`` (value 0, tolerance by
    :func:`~revem.validation.properties.cold_curves.tolerances`); the curve rides on ``E_rmse_equilibrium``."""
    ground = cc.lattices(element)[0]
    g = curves[ground]
    k = int(np.argmin(np.abs(np.array(g["x"]) - 1.0)))
    if abs(g["x"][k] - 1.0) > 1e-9:
        raise ValueError(f"{element}: the ground lattice lacks its V0 point (x = 1)")
    zero = g["E"][k]
    protocol = (f"revem.validation.properties.cold_curves v{cc.PROTOCOL_VERSION}: primitive cells scaled isotropically "
                f"(ions on lattice sites, hcp at c/a {cc.c_over_a(element, 'hcp'):.4f}) to x · V0, V0 = {v0:.4f} Å^3/atom "
                f"({v0_source}); E relative to {ground} at V0")
    refs = []
    for lat, c in curves.items():
        x = np.array(c["x"])
        e_rel = [e - zero for e in c["E"]]
        tol = cc.tolerances(x, 1000 * np.array(e_rel), np.array(c["P"]))
        curve = {"V0": v0, "V": [float(xx * v0) for xx in x], "x": [float(xx) for xx in x], "E_rel": e_rel, "P": c["P"]}
        for q, (t, unit) in tol.items():
            window = q.split("_rmse_")[1]
            if not cc.in_window(x, window).any():
                continue
            r = {"case": lat, "quantity": q, "value": 0.0, "unit": unit, "tolerance": {"abs": t},
                 "noise": {"abs": 1.0 if unit == "meV/atom" else 0.5}, "source": source,
                 "protocol": protocol + f"; RMSE over the {window} window's points; tolerance "
                                        f"max{cc.TOLERANCE_RULE[q[0]][window]} (floor, × RMS of the DFT values there)"}
            if q == "E_rmse_equilibrium":
                r["curve"] = curve
            refs.append(r)
    return refs


def run(elements, work: Path, out: Path | None = None, workers: int = 1, log=print, grid=cc.REFERENCE_GRID,
        lattices=None) -> list[Path]:
    """Build (or resume) the references of ``elements`` (``grid``/``lattices``: a smaller set, for tests)."""
    from ...datasets.labelling import dft_spec, label
    from ...datasets.dft import DFTSettings
    from ...safe_io import read_extxyz
    from .. import references

    spec = dft_spec(kpts_density_per_A=KPTS_DENSITY_PER_A)
    settings = DFTSettings(kpts_density_per_A=KPTS_DENSITY_PER_A)
    if out is not None:  # a user's folder: never replace a file there (checked before any DFT is run)
        taken = [f for f in (Path(out) / el / "cold_curves_gpaw.json" for el in elements) if f.exists() or f.is_symlink()]
        if taken:
            raise SystemExit(f"{', '.join(map(str, taken))} exists; revem does not replace it (remove it or give "
                             "another --out); nothing was run")
    written = []
    for el in elements:
        t0 = time.time()
        frames, v0, v0_src = structures(el, grid, lattices)
        d = Path(work) / el
        inp, lab = d / "structures.extxyz", d / "labelled.extxyz"
        _write_structures(inp, frames)
        log(f"cold_curves {el}: {len(frames)} cells ({len(lattices or cc.lattices(el))} lattices x {len(grid)} volumes), "
            f"V0 = {v0:.4f} Å^3/atom; labelling into {lab} (resumable)")
        summary = label(str(inp), str(lab), spec, workers=workers)
        labelled = read_extxyz(lab, "labelled cold-curve cells")
        got = curves_from_labels(frames, labelled)
        if got["failed"]:
            log(f"cold_curves {el}: {len(got['failed'])} calculations failed (indices {got['failed'][:10]}); left out")
        curves = got["curves"]
        dropped = {}
        for lat, c in curves.items():
            bad = inconsistent_points(c["x"], c["E"], c["P"], v0)
            if bad:
                dropped[lat] = bad
                keep = [i for i, xx in enumerate(c["x"]) if all(abs(xx - b["x"]) > 1e-9 for b in bad)]
                for k in c:
                    c[k] = [c[k][i] for i in keep]
                log(f"cold_curves {el}: {lat}: dropped " + "; ".join(f"x = {b['x']:.2f} ({b['why']})" for b in bad))
        from ...datasets.dft import eos_fit

        gx = np.array(curves[cc.lattices(el)[0]]["x"])
        sel = cc.in_window(gx, "equilibrium")
        fit = eos_fit(gx[sel] * v0, np.array(curves[cc.lattices(el)[0]]["E"])[sel])
        prov = settings.as_provenance(elements=(el,))
        cpu = sum(float(a.info.get("label_cpu_s", 0.0)) for a in labelled)
        prov.update(generated_by="python -m revem.validation.references_build.cold_curves",
                    labelled_with="revem.datasets.labelling.label (revem label --dft)",
                    V0_anchor_A3_per_atom=v0, V0_anchor_source=v0_src,
                    V0_gpaw_fit_A3_per_atom=round(fit["V0"], 4), B0_gpaw_fit_GPa=round(fit["B0"], 1),
                    V0_gpaw_fit_note="Birch–Murnaghan fit of the ground lattice's 0.8–1.3 V0 points (a wide window: ±1 % in V0)",
                    n_calculations=len(labelled), n_failed=len(got["failed"]), cpu_time_s=round(cpu, 1),
                    dropped_points=dropped,
                    dropped_rule=(f"a point whose energy disagrees with the pressure of its neighbours (|ΔE − ∫P dV| > "
                                  f"max({CONSISTENCY['abs_eV']} eV/atom, {CONSISTENCY['rel']:.0%} of |ΔE|)) is left out"),
                    cpu_time_note="sum of label_cpu_s (CPU time of the labelling thread, one thread each) of every calculation",
                    paw_overlap=paw_overlap(el, v0),
                    paw_overlap_note=("where neighbours are closer than 2 r_c the PAW augmentation spheres overlap and DFT's own "
                                      "error grows (the frozen core and the partial-wave basis were made for isolated spheres)"),
                    cross_check=cross_check(el, curves, v0), labels_summary={k: summary.get(k) for k in ("n_labelled", "n_failed", "wall_s") if k in summary})
        src = (f"DFT computed by revem (revem.validation.references_build.cold_curves) with GPAW {prov['gpaw_version']} PBE, "
               f"PW {settings.ecut_eV:g} eV, k-density {KPTS_DENSITY_PER_A:g}/Å^-1 (Γ-centred MP, each cell its own mesh), "
               f"Methfessel–Paxton 0.2 eV, PAW {prov['paw_setups'][el]['file']}, non-spin-polarised")
        refs = reference_entries(el, curves, v0, v0_src, src)
        target = (Path(out) / el / "cold_curves_gpaw.json") if out else None
        written.append(references.write(el, PROPERTY, refs, "cold_curves_gpaw", out=target, provenance=prov))
        log(f"cold_curves {el}: wrote {written[-1]} ({len(refs)} references; {cpu / 60:.1f} CPU-min in labels, "
            f"{(time.time() - t0) / 60:.1f} min wall now)")
    return written


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--elements", nargs="+", default=list(ELEMENTS))
    ap.add_argument("--work", required=True, help="folder of the structures and the resumable labelling journals")
    ap.add_argument("--out", default=None, help="write <out>/<El>/cold_curves_gpaw.json instead of into the package")
    ap.add_argument("--workers", type=int, default=1)
    a = ap.parse_args(argv)
    run(a.elements, Path(a.work).expanduser(), Path(a.out) if a.out else None, a.workers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
