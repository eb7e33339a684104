"""revem.fitting.snap and `revem fit snap`: the design matrix is the written potential, fits recover a known
SNAP, the paper's weighting, refusals, and an end-to-end fit of the mirror's W data validated by the harness."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.singlepoint import SinglePointCalculator

from revem.fitting import snap
from revem.potentials.core import load_potential

ROOT = Path(__file__).resolve().parent.parent


def _frames(n=12, seed=0):
    """Rattled, strained bcc W cells (cubic 2-atom, a triclinic 1-atom and a 16-atom one), unlabelled."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        if k % 3 == 0:
            at = bulk("W", "bcc", a=3.17)  # primitive, triclinic cell
        elif k % 3 == 1:
            at = bulk("W", "bcc", a=3.17, cubic=True)
        else:
            at = bulk("W", "bcc", a=3.17, cubic=True).repeat((2, 2, 2))
        eps = rng.normal(0, 0.02, (3, 3))
        at.set_cell(at.cell.array @ (np.eye(3) + 0.5 * (eps + eps.T)), scale_atoms=True)
        at.positions += rng.normal(0, 0.08, at.positions.shape)
        out.append(at)
    return out


def _label(frames, calc):
    out = []
    for at in frames:
        a = at.copy()
        a.calc = calc
        e, f, s = a.get_potential_energy(), a.get_forces(), a.get_stress()
        a.calc = SinglePointCalculator(a, energy=e, forces=f, stress=s)
        out.append(a)
    return out


@pytest.fixture(scope="module")
def zhou_frames():
    return _label(_frames(), load_potential("W_zhou").calculator())


@pytest.mark.parametrize("quadratic", [False, True])
def test_written_potential_is_the_fitted_model(zhou_frames, tmp_path, quadratic):
    """LAMMPS pair snap (+ ZBL) reading the written files reproduces the design-matrix model's energies,
    forces and stresses (rotated back from the LAMMPS frame): the sign and order conventions of snad/atom and
    snav/atom are right."""
    s = snap.SnapSettings(twojmax=4 if quadratic else 6, quadratic=quadratic)
    res = snap.fit(zhou_frames, s, snap.Weighting(kind="uniform", stress_weight=1.0), test_size=0.0)
    card = snap.write_potential(res.coef, res.settings, tmp_path, "Wfit")
    calc = load_potential(str(card)).calculator()
    pred = snap.predict(res.design, res.coef)
    d = res.design
    for c in range(len(zhou_frames)):
        at = zhou_frames[c].copy()
        at.calc = calc
        _, _, R = snap._in_lammps_frame(at, c)
        rows = np.flatnonzero(d.config == c)
        e_model = pred[rows[d.kind[rows] == 0]][0]
        assert at.get_potential_energy() / len(at) == pytest.approx(e_model, abs=1e-9)
        f_model = pred[rows[d.kind[rows] == 1]].reshape(-1, 3) @ R.T  # back to the original frame
        np.testing.assert_allclose(at.get_forces(), f_model, atol=1e-9)
        s_model = pred[rows[d.kind[rows] == 2]] / snap.GPA_PER_EV_A3
        full = np.array([[s_model[0], s_model[5], s_model[4]], [s_model[5], s_model[1], s_model[3]],
                         [s_model[4], s_model[3], s_model[2]]])
        np.testing.assert_allclose(at.get_stress(voigt=False), R @ full @ R.T, atol=1e-8)


def test_fit_recovers_a_known_snap(zhou_frames, tmp_path):
    """Data labelled by a linear SNAP written by revem (random coefficients, same ZBL) are fitted back to those
    coefficients and to zero error."""
    s = snap.settings_for(zhou_frames, snap.SnapSettings(twojmax=6))
    rng = np.random.default_rng(3)
    true = np.concatenate([[-8.0], rng.normal(0, 0.02, s.n_columns - 1)])
    card = snap.write_potential(true, s, tmp_path, "Wtrue")
    frames = _label(_frames(24, seed=5), load_potential(str(card)).calculator())
    res = snap.fit(frames, s, snap.Weighting(kind="uniform"), test_size=0.25, ridge=0.0)
    np.testing.assert_allclose(res.coef, true, rtol=1e-6, atol=1e-8)
    for part in ("train", "test"):
        assert res.errors[part]["all"]["energy_rmse"] < 1e-6  # meV/atom
        assert res.errors[part]["all"]["force_rmse"] < 1e-8  # eV/Å


def test_paper_weighting(zhou_frames):
    """seed 000 §5.5: 10 % of the loss on forces, 90 % on energies, 75 % of the energy weight on configurations
    within ΔE of E_min; configurations above DEup are excluded."""
    frames = list(zhou_frames)
    hot = frames[0].copy()  # a configuration 5 eV/atom above the rest
    hot.calc = SinglePointCalculator(hot, energy=frames[0].get_potential_energy() + 5.0 * len(hot),
                                     forces=frames[0].get_forces())
    frames.append(hot)
    s = snap.settings_for(frames, snap.SnapSettings(twojmax=4))
    d = snap.design_matrix(frames, s, stress=False)
    w = snap.Weighting(kind="paper", de_low=0.5, de_up=20.0, df_up=100.0)
    rw, keep = snap.row_weights(d, frames, w, "W")
    assert keep.all()
    e2 = rw[d.kind == 0] ** 2
    f2 = rw[d.kind == 1] ** 2  # pacemaker's loss: kappa sum_j w_F,j |dF_j|^2, i.e. w_F,j on each component of atom j
    assert e2.sum() == pytest.approx(0.9) and f2.sum() / 3 == pytest.approx(0.1)
    low = d.config[d.kind == 0] != len(frames) - 1
    assert e2[low].sum() == pytest.approx(0.9 * 0.75)
    rw, keep = snap.row_weights(d, frames, snap.Weighting(kind="paper", de_low=0.5, de_up=2.0, df_up=100.0), "W")
    assert not keep[-1] and keep[:-1].all()
    assert np.all(rw[d.config == len(frames) - 1] == 0)


def test_refusals(zhou_frames):
    s = snap.SnapSettings()
    mixed = zhou_frames[1].copy()
    mixed.symbols[0] = "Mo"
    mixed.calc = SinglePointCalculator(mixed, energy=0.0, forces=np.zeros((len(mixed), 3)))
    with pytest.raises(snap.FitError, match="configuration 0 holds"):
        snap.design_matrix([mixed], snap.settings_for([mixed], s))
    slab = zhou_frames[1].copy()
    slab.pbc = [True, True, False]
    slab.calc = SinglePointCalculator(slab, energy=0.0, forces=np.zeros((len(slab), 3)))
    with pytest.raises(snap.FitError, match="not periodic"):
        snap.design_matrix([slab], snap.settings_for([slab], s))
    bare = zhou_frames[1].copy()
    with pytest.raises(snap.FitError, match="no energy/forces"):
        snap.design_matrix([bare], snap.settings_for([bare], s))
    with pytest.raises(snap.FitError, match="no configurations"):
        snap.design_matrix([], s)
    with pytest.raises(snap.FitError, match="potential name"):
        snap.write_potential(np.zeros(s.n_columns), snap.settings_for(zhou_frames, s), "/tmp", "../evil")


def test_group_split_holds_out_whole_groups():
    groups = np.repeat(np.array(["a", "b", "c", "d", "e", "f"]), [50, 10, 30, 5, 40, 15])
    for seed in range(5):
        train, test = snap.split(len(groups), 0.3, [seed, 2], groups, "group")
        assert set(groups[train]).isdisjoint(groups[test])
        assert 0 < len(test) <= 0.5 * len(groups) and len(train) + len(test) == len(groups)
    with pytest.raises(snap.FitError, match="group label"):
        snap.split(10, 0.3, 0, None, "group")


def test_cli_refuses_unlabelled_data(tmp_path):
    from ase.io import write

    f = tmp_path / "bare.extxyz"
    write(str(f), _frames(2))
    r = subprocess.run([sys.executable, "-m", "revem.cli", "fit", "snap", str(f), "--out", str(tmp_path / "o")],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "has no energy/forces" in r.stderr and "bare.extxyz" in r.stderr


@pytest.mark.needs_data
def test_fit_mirror_w_and_validate_end_to_end(data_dir, tmp_path):
    """`revem fit snap` on the mirror's W data writes a card that `pytest validation` runs (EOS and elastic
    cases of the smoke tier here; the whole smoke tier is in the note) and whose training RMSE is reported."""
    env = dict(os.environ, REVEM_DATA_DIR=str(data_dir))
    out = tmp_path / "fit"
    r = subprocess.run([sys.executable, "-m", "revem.cli", "fit", "snap", "fitsnap-WBe/W/EOS_Data.extxyz.gz",
                        "fitsnap-WBe/W/slice_sample.extxyz.gz@every=4", "--element", "W", "--out", str(out),
                        "--quiet", "--name", "W_test_snap"], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    fit = json.loads((out / "fit.json").read_text())
    tr = fit["errors"]["train"]["all"]
    assert 0 < tr["energy_rmse"] < 30 and tr["energy_unit"] == "meV/atom"  # DFT vs a 56-coefficient SNAP
    assert (out / "parity.png").stat().st_size > 10_000
    card = out / "W_test_snap.yaml"
    r = subprocess.run([sys.executable, "-m", "pytest", str(ROOT / "validation"), "-k", "W and (eos or elastic)",
                        "--potential", str(card), "--tier", "smoke", "--report-dir", str(tmp_path / "rep"),
                        "-p", "no:cacheprovider", "-q"], capture_output=True, text=True, env=env, cwd=ROOT)
    assert r.returncode in (0, 1), r.stdout[-3000:] + r.stderr[-2000:]  # 1: some property outside tolerance
    assert " passed" in r.stdout
    report = (tmp_path / "rep" / "W_test_snap" / "W" / "smoke" / "report.md").read_text()
    assert report.startswith("**INCOMPLETE**")  # two properties of the smoke tier: the verdict says so
    assert "# Validation of `W_test_snap` for W (smoke tier)" in report
    assert "Coverage of the training data" in report
