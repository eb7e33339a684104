"""Transformation paths through bcc at constant volume per atom (seed 000, Fig. 7).

Energy per atom along four deformation paths that start at bcc, relative to the bcc point of the
same path, in meV/atom, at the calculator's own equilibrium volume ``V0`` of the element's ground lattice
(the literature convention: "volume of the ground state"; M. Čák et al., J. Phys.: Condens. Matter 26, 195501 (2014),
doi:10.1088/0953-8984/26/19/195501; V. Paidar, L. G. Wang, M. Šob, V. Vitek, Modelling Simul.
Mater. Sci. Eng. 7, 369 (1999), doi:10.1088/0965-0393/7/3/308; W. Luo et al., Phys. Rev. B 66,
094110 (2002)). The potential's curve is computed at the potential's V0, the DFT curve at the DFT
V0, so both are compared as shapes of their own energy landscapes.

Cases (:func:`cases`): the paths the element's ground lattice lies on, for every element -- bcc: all four;
fcc: the tetragonal (Bain) and trigonal paths, which pass through fcc; hcp: the hexagonal (Burgers) path;
diamond: none -- plus any path with a stored DFT curve.  W's paths are scored against its GPAW curves
(``paths_gpaw.json``); the others are reported (regression-gated).  Each costs a few dozen single points of
one- or two-atom cells.  Path coordinates ``p``:

* ``tetragonal`` (Bain): body-centred tetragonal cell, p = c/a; bcc p = 1, fcc p = √2.
* ``trigonal``: stretch of the bcc primitive cell along [111] by λ = p^(2/3) with lateral
  contraction μ = p^(-1/3) (λμ² = 1); bcc p = 1, sc p = 2, fcc p = 4.
* ``orthorhombic``: the face-centred orthorhombic description of bcc, axes [001], [1-10], [110]
  with lengths a0·(p, √2/p, √2); bcc p = 1, bct (c/a = 2^(3/4)) at p = 2^(1/4), bcc again at p = √2
  (E(p) = E(√2/p) by symmetry).
* ``hexagonal`` (Burgers bcc→hcp): C-centred orthorhombic cell with (110)_bcc as basal plane;
  B/A goes linearly in p from √2 to √3 and C/A from √2 to √(8/3), while the second (110) layer
  shuffles from B/2 to B/3 (s = 1/2 − p/6); bcc p = 0, ideal hcp p = 1.

All cells are primitive (1 atom; 2 for the hexagonal path), so the same protocol runs with DFT
(:mod:`revem.datasets.dft`, ``revem reference compute paths --element W --calculator gpaw``).

Scores against a DFT path: ``E_path`` (meV/atom), the barrier (highest interior maximum of E along
the path, see :func:`metrics`);
``E_path_rmse`` (meV/atom), the RMSE along the path at the reference's p values; ``p_max``, the
position of that maximum (parabola through it and its neighbours; orthorhombic folded onto
1 ≤ p ≤ 2^(1/4)).  Reported besides: ``E_<structure>`` (meV/atom), the energy of each named structure of the
path other than bcc (fcc, sc, bct, hcp) relative to the path's bcc point, where the grid samples it.

Disclaimers: ions are fixed at the path positions and the volume is not relaxed along the path
(constant-volume paths, as in the literature); the hexagonal path couples shuffle and shear linearly,
one of many possible bcc→hcp paths. DFT: the k-mesh is fixed along each path (the density mesh of
its bcc point), so the curve is smooth, but the same structure reached on two paths is sampled by
different meshes: fcc on the tetragonal and trigonal paths may differ by ~10 meV/atom.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from ase import Atoms

from .. import references
from ..plotting import DFT_COLOUR, POTENTIAL_COLOUR, TOLERANCE_COLOUR
from ..plotting import finite as _finite
from ..plotting import scored as _scored
from ..protocol import Measurement, Protocol
from ..target import Target
from .common import ground_state, lattice_of

PROPERTY = "paths"
PROTOCOL_VERSION = 2  # v2: every element's lattice paths at its ground-state volume; E_<structure> reported
SQ2 = math.sqrt(2.0)
PATHS = ("tetragonal", "trigonal", "orthorhombic", "hexagonal")
DEFAULTS = {
    # path coordinates (dimensionless); the reference's own p values are used when scoring
    # (6–11 points per path, sized for DFT on one core; orthorhombic: the half 1 <= p <= 2^(1/4),
    # as E(p) = E(√2/p))
    "p_tetragonal": (0.8, 0.9, 1.0, 1.1, 1.2, 1.3, SQ2, 1.5, 1.6, 1.8, 2.0),
    "p_trigonal": (0.8, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5),
    "p_orthorhombic": tuple(float(x) for x in np.geomspace(1.0, 2 ** 0.25, 6)),
    "p_hexagonal": (0.0, 0.2, 0.4, 0.6, 0.8, 1.0),
    "eos_volumes_rel": (0.94, 0.96, 0.98, 1.0, 1.02, 1.04, 1.06),  # V0 of a DFT factory without a given volume
}
SPECIAL = {  # named structures on each path: p -> name
    "tetragonal": {1.0: "bcc", SQ2: "fcc"},
    "trigonal": {1.0: "bcc", 2.0: "sc", 4.0: "fcc"},
    "orthorhombic": {1.0: "bcc", 2 ** 0.25: "bct", SQ2: "bcc"},
    "hexagonal": {0.0: "bcc", 1.0: "hcp"},
}
BCC_POINT = {"tetragonal": 1.0, "trigonal": 1.0, "orthorhombic": 1.0, "hexagonal": 0.0}
TOLERANCES = {
    # seed 000: ACE-2 RMSE 23.8 meV/atom within 1 eV of the ground state, Fig. 7 "extremely well
    # captured": twice that for the RMSE; barriers within 50 meV/atom or 15 %; p_max within 15 %
    # of the path's span
    "E_path_rmse_abs": 50.0, "E_path_abs": 50.0, "E_path_rel": 0.15, "p_max_span_frac": 0.15,
}


#: the paths each ground lattice lies on (its own structure is a named point of the path)
LATTICE_PATHS = {"bcc": PATHS, "fcc": ("tetragonal", "trigonal"), "hcp": ("hexagonal",)}


def cases(element: str, tier: str) -> list[str]:
    """The paths the element's ground lattice lies on (:data:`LATTICE_PATHS`) and those with a stored DFT
    curve (W: all four, GPAW PBE), in :data:`PATHS` order; every tier."""
    mine = set(LATTICE_PATHS.get(lattice_of(element), ()))
    return [p for p in PATHS if p in mine or references.has(element, PROPERTY, p)]


# --------------------------------------------------------------------------- structures
def path_cell(path: str, p: float, volume: float) -> tuple[np.ndarray, np.ndarray]:
    """(cell rows Å, Cartesian positions Å) of the primitive cell at coordinate ``p``, ``volume`` Å^3/atom."""
    a0 = (2.0 * volume) ** (1.0 / 3.0)  # bcc lattice constant at this volume
    if path == "tetragonal":
        a = (2.0 * volume / p) ** (1.0 / 3.0)
        c = p * a
        cell = np.array([[-a / 2, a / 2, c / 2], [a / 2, -a / 2, c / 2], [a / 2, a / 2, -c / 2]])
        return cell, np.zeros((1, 3))
    if path == "trigonal":
        lam, mu = p ** (2.0 / 3.0), p ** (-1.0 / 3.0)
        n = np.ones(3) / math.sqrt(3.0)
        f = mu * np.eye(3) + (lam - mu) * np.outer(n, n)
        bcc = 0.5 * a0 * np.array([[-1.0, 1, 1], [1, -1, 1], [1, 1, -1]])
        return bcc @ f.T, np.zeros((1, 3))
    if path == "orthorhombic":
        a, b, c = a0 * p, a0 * SQ2 / p, a0 * SQ2
        cell = np.array([[0, b / 2, c / 2], [a / 2, 0, c / 2], [a / 2, b / 2, 0]])
        return cell, np.zeros((1, 3))
    if path == "hexagonal":
        rb = SQ2 + p * (math.sqrt(3.0) - SQ2)
        rc = SQ2 + p * (math.sqrt(8.0 / 3.0) - SQ2)
        a = (4.0 * volume / (rb * rc)) ** (1.0 / 3.0)
        b, c = rb * a, rc * a
        s = 0.5 - p / 6.0
        cell = np.array([[a / 2, b / 2, 0], [-a / 2, b / 2, 0], [0, 0, c]])
        return cell, np.array([[0.0, 0.0, 0.0], [0.0, s * b, c / 2]])
    raise ValueError(f"unknown path '{path}' (one of {PATHS})")


def path_atoms(element: str, path: str, p: float, volume: float) -> Atoms:
    cell, pos = path_cell(path, p, volume)
    return Atoms(element * len(pos), positions=pos, cell=cell, pbc=True)


# --------------------------------------------------------------------------- protocol
def _grid(path: str, p_values) -> tuple[float, ...]:
    ps = tuple(float(x) for x in (p_values if p_values is not None else DEFAULTS[f"p_{path}"]))
    if not any(abs(p - BCC_POINT[path]) < 1e-9 for p in ps):
        ps = tuple(sorted(ps + (BCC_POINT[path],)))
    return ps


def path_curve(element: str, path: str, volume: float, target, p_values=None, fresh: bool = False) -> dict:
    """E(p) in meV/atom relative to the path's bcc point, at ``volume`` Å^3/atom, with ``target`` (anything
    :meth:`Target.of` takes); ``fresh``: a new calculator per point (a DFT code on cells of changing shape)."""
    t = Target.of(target)
    ps = _grid(path, p_values)
    e, calc = [], None
    for p in ps:
        atoms = path_atoms(element, path, float(p), volume)
        calc = t.calculator() if (calc is None or fresh) else calc
        atoms.calc = calc
        e.append(atoms.get_potential_energy() / len(atoms))
    e = np.array(e)
    i0 = int(np.argmin([abs(p - BCC_POINT[path]) for p in ps]))
    return {"path": path, "p": list(ps), "E_meV": list(map(float, 1000.0 * (e - e[i0]))),
            "volume_A3_per_atom": float(volume), "e_bcc_eV_per_atom": float(e[i0])}


def compute(target, element: str, case: str, tier: str = "standard", p_values=None) -> dict:
    """The energy along path ``case`` at the target's relaxed ground-state volume per atom (the element's
    ground lattice; cached): ``{"p": [...], "E_meV": [...] (meV/atom), "volume_A3_per_atom", ...}``.  The grid is
    ``p_values`` (default the path's :data:`DEFAULTS`); the tier changes nothing."""
    t = Target.of(target)
    ps = _grid(case, p_values)

    def run():
        vol = ground_state(t, element, "ground")["volume"]
        return path_curve(element, case, vol, t, ps)

    return dict(t.memo(PROPERTY, element, case, ps, PROTOCOL_VERSION, compute=run))


# --------------------------------------------------------------------------- metrics
def refine_max(p, e) -> tuple[float, float]:
    """(p, E) of the maximum: vertex of the parabola through the highest point and its neighbours."""
    p, e = np.asarray(p, float), np.asarray(e, float)
    i = int(np.argmax(e))
    if 0 < i < len(e) - 1:
        c2, c1, c0 = np.polyfit(p[i - 1:i + 2], e[i - 1:i + 2], 2)
        if c2 < 0:
            pv = -c1 / (2 * c2)
            if p[i - 1] <= pv <= p[i + 1]:
                return float(pv), float(np.polyval([c2, c1, c0], pv))
    return float(p[i]), float(e[i])


def extrema(p, e) -> list[dict]:
    """Interior local minima and maxima of a sampled curve: [{"kind", "p", "E_meV"}]."""
    p, e = np.asarray(p, float), np.asarray(e, float)
    out = []
    for i in range(1, len(e) - 1):
        if e[i] > e[i - 1] and e[i] >= e[i + 1]:
            out.append({"kind": "max", "p": float(p[i]), "E_meV": float(e[i])})
        elif e[i] < e[i - 1] and e[i] <= e[i + 1]:
            out.append({"kind": "min", "p": float(p[i]), "E_meV": float(e[i])})
    return out


def metrics(path: str, p, e) -> dict:
    """Barrier ``E_path`` (meV/atom) and its position ``p_max``.

    The barrier is the highest interior local maximum of the sampled curve (parabolic refinement),
    i.e. a saddle between minima, not the energy at the end of the sampled range; with no interior
    maximum it is the highest point. The orthorhombic path is folded onto 1 <= p <= 2^(1/4)
    (E(p) = E(√2/p)), so its end point 2^(1/4) counts as interior.
    """
    p, e = np.asarray(p, float), np.asarray(e, float)
    if path == "orthorhombic":
        keep = p <= 2 ** 0.25 + 1e-9
        p, e = p[keep], e[keep]
        p = np.concatenate([p, 2 ** 0.5 / p[-2::-1]])  # unfold: the mirror half
        e = np.concatenate([e, e[-2::-1]])
    ext = extrema(p, e)
    maxima = [x for x in ext if x["kind"] == "max"]
    if maxima:
        i = int(np.argmin(np.abs(p - max(maxima, key=lambda x: x["E_meV"])["p"])))
        if path == "orthorhombic" and abs(p[i] - 2 ** 0.25) < 1e-9:  # the symmetric midpoint (bct)
            pm, em = float(p[i]), float(e[i])
        else:
            pm, em = refine_max(p[i - 1:i + 2], e[i - 1:i + 2])
    else:
        pm, em = refine_max(p, e)
    if path == "orthorhombic":
        pm = min(pm, 2 ** 0.5 / pm)
        ext = [x for x in ext if x["p"] <= 2 ** 0.25 + 1e-9]
    return {"E_path": em, "p_max": pm, "extrema": ext}


def rmse(e, e_ref) -> float:
    """Root-mean-square difference (meV/atom) of two curves on the same p values."""
    d = np.asarray(e, float) - np.asarray(e_ref, float)
    return float(np.sqrt(np.mean(d ** 2)))


def fine_grid(path: str, n: int = 41) -> tuple[float, ...]:
    """A dense grid over the path's default range, for plotting the potential's curve."""
    ps = DEFAULTS[f"p_{path}"]
    return tuple(float(x) for x in np.linspace(min(ps), max(ps), n))


def span(path: str) -> float:
    ps = DEFAULTS[f"p_{path}"]
    if path == "orthorhombic":
        return 2 ** 0.25 - 1.0
    return float(max(ps) - min(ps))


# --------------------------------------------------------------------------- DFT references
def reference_entries(element: str, target_or_factory, tier: str = "standard", volume: float | None = None,
                      source: str = "", paths=None, log=print) -> dict:
    """Reference file content (``revem/validation/reference_data/<El>/paths_<set>.json``) computed with
    ``target_or_factory``: a target, or a zero-argument calculator factory such as
    :func:`revem.datasets.dft.gpaw_calculator` (``revem reference compute paths``).

    A DFT factory (one with ``.settings``) gets a fixed k-mesh per path, the density mesh of the path's bcc
    point, so the k-points deform with the cell and the curve has no mesh jumps, and a fresh calculator per
    point; its volume, where none is given, is the V0 of a 7-point E(V) fit of its ground lattice (bcc or fcc).
    ``paths`` default: :func:`cases`."""
    dft = getattr(target_or_factory, "settings", None)
    name = getattr(target_or_factory, "label", None) or ("dft" if dft is not None else None)
    if volume is None:
        volume = _dft_volume(element, target_or_factory) if dft is not None else \
            ground_state(Target.of(target_or_factory, name=name), element, "ground")["volume"]
    log(f"paths: V0 = {volume:.4f} Å^3/atom")
    tol = TOLERANCES
    refs = []
    for path in (paths or cases(element, tier)):
        mesh = None
        if dft is not None and dft.kpts_mesh is None:
            from ...datasets.dft import density_mesh, gpaw_calculator

            mesh = density_mesh(dft, path_atoms(element, path, BCC_POINT[path], volume))
            t = Target.of(gpaw_calculator(dft, kpts_mesh=mesh), name=name)
        else:
            t = Target.of(target_or_factory, name=name)
        cur = path_curve(element, path, volume, t, fresh=dft is not None)
        log(f"paths: {path}: " + ", ".join(f"{p:.3f}:{e:.1f}" for p, e in zip(cur["p"], cur["E_meV"])))
        m = metrics(path, cur["p"], cur["E_meV"])
        protocol = (f"revem.validation.properties.paths v{PROTOCOL_VERSION}: {path} path at the calculator's own "
                    f"ground-state V0 ({volume:.4f} Å^3/atom for this reference), fixed ions, E relative to the path's "
                    "bcc point")
        curve = {"p": cur["p"], "E_meV": cur["E_meV"], "kpts_mesh": None if mesh is None else list(mesh),
                 "special": {f"{k:.6f}": v for k, v in SPECIAL[path].items()}, "extrema": m["extrema"],
                 "volume_A3_per_atom": volume}
        refs += [
            {"case": path, "quantity": "E_path", "value": m["E_path"], "unit": "meV/atom",
             "tolerance": {"abs": tol["E_path_abs"], "rel": tol["E_path_rel"]}, "noise": {"abs": 0.5},
             "source": source, "protocol": protocol + "; barrier = highest interior maximum along the path (paths.metrics)"},
            {"case": path, "quantity": "E_path_rmse", "value": 0.0, "unit": "meV/atom",
             "tolerance": {"abs": tol["E_path_rmse_abs"]}, "noise": {"abs": 0.5},
             "source": source, "protocol": protocol + "; RMSE of the potential's curve against this curve", "curve": curve},
            {"case": path, "quantity": "p_max", "value": m["p_max"], "unit": "",
             "tolerance": {"abs": round(tol["p_max_span_frac"] * span(path), 4)}, "noise": {"abs": 1e-3},
             "source": source, "protocol": protocol + "; position of the maximum"
                                                     + (" folded onto 1 <= p <= 2^(1/4)" if path == "orthorhombic" else "")},
        ]
    return {"property": PROPERTY, "element": element, "references": refs}


def _dft_volume(element: str, factory) -> float:
    """V0 (Å^3/atom) of a DFT factory's ground lattice from a 7-point E(V) fit around the WIEN2k (dcdft) volume
    (:func:`revem.datasets.dft.energy_volume`: fixed k-mesh over the curve)."""
    from ase.collections import dcdft

    from ...datasets.dft import eos_fit, energy_volume

    lattice = lattice_of(element)
    if lattice not in ("bcc", "fcc"):
        raise ValueError(f"paths: give the volume of {element} ({lattice}): the E(V) fit here knows bcc and fcc")
    v_guess = dcdft.data[element]["wien2k_volume"]
    vols = [v_guess * r for r in DEFAULTS["eos_volumes_rel"]]
    return eos_fit(vols, energy_volume(factory, element, lattice, vols))["V0"]


def reference_curve(element: str, case: str) -> dict | None:
    """The stored DFT curve of ``case`` (from the ``E_path_rmse`` reference), or None."""
    for r in references.find(element, PROPERTY, case, "E_path_rmse"):
        if "curve" in r.extra:
            return {**r.extra["curve"], "source": r.source}
    return None


# --------------------------------------------------------------------------- plot


def plot(records: list[dict], outdir: Path) -> list[Path]:
    """E vs p, potential (red) vs DFT (black), one panel per path (Fig. 7 style).

    Grey: the DFT curve ± the tolerance of ``E_path_rmse`` (band) and the DFT barrier, p_max ± tol ×
    E_path ± tol (dashed box); the red star is the potential's barrier.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    curves = {r.get("case"): r["data"] for r in records if (r.get("data") or {}).get("E_meV") and r["data"].get("p")}
    names = [c for c in PATHS if c in curves] + sorted(c for c in curves if c not in PATHS)
    if not names:
        return []
    el = records[0].get("element", "")
    pot = records[0].get("potential", "potential")
    fig, axes = plt.subplots(1, len(names), figsize=(3.6 * len(names), 3.6), squeeze=False)
    for ax, c in zip(axes[0], names):
        d = curves[c]
        fine = bool(d.get("fine_p") and d.get("fine_E_meV"))
        if fine:
            ax.plot(d["fine_p"], d["fine_E_meV"], "-", color=POTENTIAL_COLOUR, lw=1.2, zorder=3, label=pot)
        ax.plot(d["p"], d["E_meV"], "o" if fine else "o-", color=POTENTIAL_COLOUR, ms=3, zorder=3,
                label=None if fine else pot)
        if d.get("ref_E_meV") and d.get("ref_p"):
            rp = np.asarray(d["ref_p"], float)
            re = np.asarray([x if _finite(x) else np.nan for x in d["ref_E_meV"]], float)
            rm = _scored(records, c, "E_path_rmse")
            ok = np.isfinite(rp) & np.isfinite(re)
            if rm and rm["tolerance"] > 0 and ok.sum() > 1:
                o = np.argsort(rp[ok])
                t = float(rm["tolerance"])
                ax.fill_between(rp[ok][o], re[ok][o] - t, re[ok][o] + t, color=TOLERANCE_COLOUR, lw=0, zorder=0,
                                label="DFT ± RMSE tolerance")
            ax.plot(rp, re, "s--", color=DFT_COLOUR, ms=3, lw=1, zorder=2, label="DFT (GPAW PBE)")
        eb, pb = _scored(records, c, "E_path"), _scored(records, c, "p_max")
        if eb and pb:  # where the DFT barrier is, and how far off the potential's may be
            te, tp = float(eb["tolerance"]), float(pb["tolerance"])
            ax.add_patch(Rectangle((pb["reference"] - tp, eb["reference"] - te), 2 * tp, 2 * te,
                                   facecolor=TOLERANCE_COLOUR, edgecolor=DFT_COLOUR, lw=0.7, ls="--", zorder=0.5,
                                   label="DFT barrier ± tolerance"))
            if _finite(eb.get("value")) and _finite(pb.get("value")):
                ax.plot([pb["value"]], [eb["value"]], "*", color=POTENTIAL_COLOUR, ms=9, zorder=5,
                        label=f"{pot} barrier")
        ps = [float(x) for x in list(d["p"]) + list(d.get("ref_p") or []) if _finite(x)]
        for pv, name in SPECIAL.get(c, {}).items():
            if not ps or not min(ps) - 1e-6 <= pv <= max(ps) + 1e-6:
                continue
            ax.axvline(pv, color="0.8", lw=0.8, zorder=0.4)
            ax.text(pv, 1.0, name, transform=ax.get_xaxis_transform(), ha="center", va="bottom", fontsize=8)
        ax.set_xlabel("path coordinate p")
        ax.set_title(c, pad=14)
    axes[0][0].set_ylabel(f"E − E(bcc) (meV/atom), {el}")
    handles = {}
    for ax in axes[0]:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(lab, h)
    if handles:
        fig.legend(list(handles.values()), list(handles.keys()), fontsize=8, loc="lower center",
                   ncol=min(len(handles), 5), frameon=False)
    fig.tight_layout(rect=(0, 0.09 if handles else 0, 1, 1))
    out = Path(outdir) / "paths.png"
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return [out]


class PathsProtocol(Protocol):
    """Constant-volume transformation paths (Bain, trigonal, orthorhombic, hexagonal)."""

    name, version, defaults = PROPERTY, PROTOCOL_VERSION, DEFAULTS

    def cases(self, element, tier):
        return cases(element, tier)

    def measure(self, target, element, case, tier):
        ref = reference_curve(element, case)
        res = compute(target, element, case, tier, p_values=tuple(ref["p"]) if ref else None)
        m = metrics(case, res["p"], res["E_meV"])
        data = {"p": res["p"], "E_meV": res["E_meV"], "volume_A3_per_atom": res["volume_A3_per_atom"],
                "extrema": m["extrema"]}
        fine = compute(target, element, case, tier, p_values=fine_grid(case))
        data.update(fine_p=fine["p"], fine_E_meV=fine["E_meV"])
        if ref:
            data.update(ref_p=ref["p"], ref_E_meV=ref["E_meV"])
        at = f"at the potential's own ground-state volume ({res['volume_A3_per_atom']:.4f} Å^3/atom)"
        out = [Measurement("E_path", m["E_path"], "meV/atom", data=data,
                           policy=references.policy(element, PROPERTY, case, "E_path"),
                           note=f"barrier: highest interior maximum of E − E(bcc) along the path, {at}")]
        for pv, name in SPECIAL[case].items():  # the named structures the grid samples, relative to bcc
            k = [i for i, p in enumerate(res["p"]) if abs(p - pv) < 1e-9]
            if name != "bcc" and k:
                out.append(Measurement(f"E_{name}", res["E_meV"][k[0]], "meV/atom",
                                       policy=references.policy(element, PROPERTY, case, f"E_{name}"),
                                       note=f"E({name}) − E(bcc) on the {case} path (p = {pv:.4f}), {at}"))
        if ref is None:
            return out
        out.append(Measurement("E_path_rmse", rmse(res["E_meV"], ref["E_meV"]), "meV/atom",
                               policy=references.policy(element, PROPERTY, case, "E_path_rmse"),
                               note=f"RMSE along the path vs the DFT curve ({len(ref['p'])} points)"))
        out.append(Measurement("p_max", m["p_max"], "", policy=references.policy(element, PROPERTY, case, "p_max"),
                               note="position of the barrier (path coordinate p)"))
        return out


PROTOCOL = PathsProtocol()
