"""``revem fit pacemaker``: seed 000 S5 inputs, pacemaker's dataset format (read back by pyace itself), refusal
of bad input, and (slow) a tiny real pacemaker fit on CPU with the pyace evaluator."""
from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np
import pytest
import yaml

from revem.fitting import pacemaker as pm

# seed 000 Supplementary S5.1, typed in from the paper (the complete Be input)
S51_BE = {
    "cutoff": 4.5,
    "data": {"cache_ref_df": False, "seed": 42, "test_size": 0.2},
    "potential": {"deltaSplineBins": 0.001, "elements": ["Be"],
                  "embeddings": {"Be": {"ndensity": 2, "npot": "FinnisSinclairShiftedScaled",
                                        "fs_parameters": [1, 1, 1, 0.5], "rho_core_cut": 50000,
                                        "drho_core_cut": 27}},
                  "bonds": {"BeBe": {"rcut": 4.5, "dcut": 0.01, "NameOfCutoffFunction": "cos", "radbase": "SBessel",
                                     "r_in": 1.0, "delta_in": 0.25, "core-repulsion": [5000.0, 5.0]}},
                  "functions": {"(Be)": {"nradmax_by_orders": [20, 4, 4, 2, 1], "lmax_by_orders": [0, 3, 3, 1, 1],
                                         "coefs_init": "zero"}}},
    "loss": {"kappa": 0.1, "L1": 1e-9, "L2": 1e-11, "w0_rad": 1e-9, "w1_rad": 1e-9, "w2_rad": 1e-9},
    "weighting": {"type": "EnergyBasedWeightingPolicy", "nfit": 10000, "DElow": 2.0, "DEup": 10.0, "DFup": 20.0,
                  "DE": 1.0, "DF": 1.0, "wlow": 0.75, "reftype": "all"},
    "fit": {"optimizer": "BFGS", "maxiter": 800, "fit_cycles": 1, "noise_relative_sigma": 1e-4,
            "ladder_step": [10, 0.1], "ladder_type": "power_order"},
    "backend": {"evaluator": "tensorpot", "batch_size": 1000},
}


def _subset(expected: dict, got: dict, where=""):
    for k, v in expected.items():
        assert k in got, f"{where}{k} missing"
        if isinstance(v, dict):
            _subset(v, got[k], f"{where}{k}.")
        else:
            assert got[k] == v, f"{where}{k}: {got[k]!r} != {v!r}"


def test_be_input_is_the_complete_s5_template():
    inp = pm.pacemaker_input("Be", "df_Be.pckl.gzip")
    assert inp["cutoff"] == S51_BE["cutoff"]
    assert inp["data"]["filename"] == "df_Be.pckl.gzip"
    _subset(S51_BE["data"], inp["data"], "data.")
    _subset(S51_BE["potential"], inp["potential"], "potential.")
    _subset(S51_BE["weighting"], inp["fit"]["weighting"], "fit.weighting.")
    _subset(S51_BE["fit"], inp["fit"], "fit.")
    _subset(S51_BE["backend"], inp["backend"], "backend.")
    loss = inp["fit"]["loss"]
    # pacemaker's spelling of the paper's L1_coefs / L2_coefs (see the module doc)
    assert (loss["kappa"], loss["L1_coeffs"], loss["L2_coeffs"]) == (0.1, 1e-9, 1e-11)
    assert (loss["w0_rad"], loss["w1_rad"], loss["w2_rad"]) == (1e-9, 1e-9, 1e-9)
    # the only additions: radparameters (pyace needs it) and the weighting seed
    assert inp["potential"]["bonds"]["BeBe"]["radparameters"] == [5.25]
    assert set(inp["potential"]["bonds"]["BeBe"]) - set(S51_BE["potential"]["bonds"]["BeBe"]) == {"radparameters"}
    assert set(inp["fit"]["weighting"]) - set(S51_BE["weighting"]) == {"seed"}


def test_w_input_matches_s5_w():
    inp = pm.pacemaker_input("W", "w.pckl.gzip", evaluator="pyace", maxiter=50)
    emb = inp["potential"]["embeddings"]["W"]
    bond = inp["potential"]["bonds"]["WW"]
    w = inp["fit"]["weighting"]
    assert inp["cutoff"] == 6.0 and bond["rcut"] == 6.0
    assert (emb["rho_core_cut"], emb["drho_core_cut"]) == (20000, 270)
    assert (bond["r_in"], bond["delta_in"], bond["core-repulsion"]) == (1.5, 0.5, [35000.0, 5.0])
    assert (w["DElow"], w["DEup"], w["DFup"], w["wlow"], w["nfit"]) == (2.0, 20.0, 100.0, 0.75, 10000)
    assert inp["fit"]["loss"]["kappa"] == 0.1
    assert inp["potential"]["elements"] == ["W"] and "(W)" in inp["potential"]["functions"]
    assert inp["fit"]["maxiter"] == 50
    assert inp["backend"]["evaluator"] == "pyace"
    assert inp["data"]["test_size"] == 0.2


def test_per_element_values_agree_with_section_5_5_text():
    # §5.5: cutoffs 4.5 Be, 5.5 Al/C, 6.0 W/Re/Os; ΔE 2 eV/atom (3 for C); energy thresholds 10 Be/C/Al,
    # 20 W/Re, 40 Os (eV/atom); force thresholds 20 Be/Al, 25 C, 100 W/Re/Os (eV/Å)
    text = {"Be": (4.5, 2, 10, 20), "C": (5.5, 3, 10, 25), "Al": (5.5, 2, 10, 20), "W": (6.0, 2, 20, 100),
            "Re": (6.0, 2, 20, 100), "Os": (6.0, 2, 40, 100)}
    assert set(pm.PAPER_INPUTS) == set(text)
    for el, (rc, delow, deup, dfup) in text.items():
        inp = pm.pacemaker_input(el, "d.pckl.gzip")
        w = inp["fit"]["weighting"]
        assert inp["potential"]["bonds"][el + el]["rcut"] == rc, el
        assert (w["DElow"], w["DEup"], w["DFup"]) == (delow, deup, dfup), el
    # S5.2 C: r_in 0.9, delta_in 0.2; S5.6 Os: rho-core-cut (typo) 20000
    assert pm.pacemaker_input("C", "d.pckl.gzip")["potential"]["bonds"]["CC"]["r_in"] == 0.9
    assert pm.pacemaker_input("Os", "d.pckl.gzip")["potential"]["embeddings"]["Os"]["rho_core_cut"] == 20000


def test_basis_has_the_papers_387_functions_and_1094_parameters():
    from pyace import ACEBBasisSet, create_multispecies_basis_config

    for el in ("Be", "W"):
        conf = create_multispecies_basis_config(pm.pacemaker_input(el, "d.pckl.gzip")["potential"])
        assert conf.total_number_of_functions == 387, el
        assert len(ACEBBasisSet(conf).all_coeffs) == 1094, el


def test_unknown_element_and_bad_parameters_refused():
    with pytest.raises(pm.PacemakerError, match="seed 000 S5 has no pacemaker input for Fe"):
        pm.pacemaker_input("Fe", "d.pckl.gzip")
    with pytest.raises(pm.PacemakerError, match="missing: .*DFup"):
        pm.pacemaker_input("Fe", "d.pckl.gzip", params={"cutoff": 5.0})
    full = dict(pm.PAPER_INPUTS["W"]["params"], cutoff=5.2)
    inp = pm.pacemaker_input("Fe", "d.pckl.gzip", params=full)
    assert inp["potential"]["bonds"]["FeFe"]["rcut"] == 5.2 and "user parameters" in inp["metadata"]["source"]
    with pytest.raises(pm.PacemakerError, match="not a chemical symbol"):
        pm.pacemaker_input("Xx", "d.pckl.gzip")
    with pytest.raises(pm.PacemakerError, match="unknown element parameter"):
        pm.pacemaker_input("W", "d.pckl.gzip", params={"rcut": 5.0})
    with pytest.raises(pm.PacemakerError, match="r_in"):
        pm.pacemaker_input("W", "d.pckl.gzip", params={"r_in": 7.0})
    with pytest.raises(pm.PacemakerError, match="evaluator"):
        pm.pacemaker_input("W", "d.pckl.gzip", evaluator="torch")
    with pytest.raises(pm.PacemakerError, match="test_size"):
        pm.pacemaker_input("W", "d.pckl.gzip", test_size=1.5)


def test_overrides_merge_and_delete():
    inp = pm.pacemaker_input("W", "d.pckl.gzip", overrides={
        "potential": {"functions": {"(W)": {"nradmax_by_orders": [4, 2], "lmax_by_orders": [0, 1]}}},
        "fit": {"ladder_step": None, "ladder_type": None}})
    assert inp["potential"]["functions"]["(W)"] == {"nradmax_by_orders": [4, 2], "lmax_by_orders": [0, 1],
                                                     "coefs_init": "zero"}
    assert "ladder_step" not in inp["fit"] and "ladder_type" not in inp["fit"]
    assert inp["fit"]["weighting"]["DEup"] == 20.0  # untouched


@pytest.fixture(scope="module")
def w_frames():
    """12 rattled/strained bcc W cells labelled by a real EAM (W_zhou, LAMMPS), as SinglePointCalculators."""
    from ase.build import bulk
    from ase.calculators.singlepoint import SinglePointCalculator

    from revem.potentials.core import load_potential

    calc = load_potential("W_zhou").calculator()
    rng = np.random.default_rng(3)
    out = []
    for k in range(12):
        at = bulk("W", "bcc", a=3.17 * (0.94 + 0.01 * k), cubic=True).repeat((2, 1, 1))
        at.positions += rng.normal(0, 0.08, at.positions.shape)
        at.calc = calc
        e, f, s = at.get_potential_energy(), at.get_forces(), at.get_stress()
        at.calc = SinglePointCalculator(at, energy=e, forces=f, stress=s)
        at.info["config_type"] = "rattled_bcc"
        out.append(at)
    return out


def test_dataset_is_read_by_pyace(tmp_path, w_frames):
    from pyace.preparedata import ACEDataset, load_dataframe

    paths = pm.write_pacemaker_inputs(w_frames, "W", tmp_path, n_sample=10, test_size=0.2, evaluator="pyace",
                                      e_atom=-0.5)
    prov = json.loads(paths["provenance"].read_text())
    assert (prov["n_train"], prov["n_test"], prov["n_holdout"]) == (8, 2, 2)
    df = load_dataframe(str(paths["dataset"]))
    assert {"ase_atoms", "energy", "energy_corrected", "forces", "stress", "name"} <= set(df.columns)
    assert len(df) == 8
    # pyace's own preparation (neighbour lists, weighting policy of the written input)
    inp = yaml.safe_load(paths["input"].read_text())
    assert inp["data"]["test_filename"] == "test.pckl.gzip" and "test_size" not in inp["data"]
    ds = ACEDataset(data_config={"filename": str(paths["dataset"]), "test_filename": str(paths["test_dataset"])},
                    weighting_policy_spec=inp["fit"]["weighting"], cutoff=6.0, elements=["W"],
                    evaluator_name="pyace")
    assert len(ds.fitting_data) == 8 and len(ds.test_data) == 2
    by_pos = {tuple(np.round(a.positions.ravel(), 8)): a for a in w_frames}
    for _, row in ds.fitting_data.iterrows():
        src = by_pos[tuple(np.round(row["ase_atoms"].positions.ravel(), 8))]
        n = len(src)
        assert row["energy"] == pytest.approx(src.get_potential_energy(), abs=1e-10)
        assert row["energy_corrected"] == pytest.approx(src.get_potential_energy() + 0.5 * n, abs=1e-10)
        np.testing.assert_allclose(np.asarray(row["forces"]), src.get_forces(), atol=1e-12)
        np.testing.assert_allclose(row["ase_atoms"].cell.array, src.cell.array, atol=1e-12)
    assert np.isclose(ds.fitting_data["w_energy"].sum(), 1.0)  # pacemaker's weights were built
    # the extxyz copies hold the same split
    from revem.data import read_extxyz_fast

    assert len(read_extxyz_fast(paths["test_extxyz"])) == 2 and len(read_extxyz_fast(paths["holdout"])) == 2


def test_pacemaker_split_and_refusals(tmp_path, w_frames):
    paths = pm.write_pacemaker_inputs(w_frames, "W", tmp_path / "p", split="pacemaker", n_sample=None)
    inp = yaml.safe_load(paths["input"].read_text())
    assert inp["data"]["test_size"] == 0.2 and "test_filename" not in inp["data"]
    assert paths["holdout"] is None and paths["test_dataset"] is None
    # pacemaker's own (ruamel, safe) loader reads the same mapping
    import ruamel.yaml

    assert ruamel.yaml.YAML(typ="safe", pure=True).load(paths["input"].read_text()) == inp
    with pytest.raises(pm.PacemakerError, match="expected only Re"):
        pm.write_pacemaker_inputs(w_frames, "Re", tmp_path / "x")
    bare = w_frames[0].copy()
    bare.calc = None
    with pytest.raises(pm.PacemakerError, match="frame 0 has no energy"):
        pm.write_dataset([bare], tmp_path / "x.pckl.gzip")
    with pytest.raises(pm.PacemakerError, match=".gzip"):
        pm.write_dataset(w_frames, tmp_path / "x.pckl")


@pytest.mark.skipif(pm.tensorpot_available(), reason="tensorpotential is installed here")
def test_tensorpot_input_refused_without_tensorpotential(tmp_path, w_frames):
    pm.write_pacemaker_inputs(w_frames, "W", tmp_path, evaluator="tensorpot")
    with pytest.raises(pm.PacemakerUnavailable, match="tensorpotential"):
        pm.run_pacemaker(tmp_path, timeout=60)


def test_cli_writes_inputs_and_refuses_unknown_element(tmp_path, w_frames, capsys):
    from revem.fitting.pacemaker import write_extxyz

    src = write_extxyz(w_frames, tmp_path / "w.extxyz.gz")
    p = argparse.ArgumentParser()
    pm.configure_parser(p)
    rc = pm.run_cli(p.parse_args([str(src), "--element", "W", "--workdir", str(tmp_path / "wd"),
                                  "--evaluator", "pyace", "--maxiter", "30", "--test-size", "0.25",
                                  "--param", "DEup=15", "--nradmax-by-orders", "3,2", "--lmax-by-orders", "0,1",
                                  "--no-ladder"]))
    assert rc == 0
    inp = yaml.safe_load((tmp_path / "wd" / "input.yaml").read_text())
    assert inp["fit"]["maxiter"] == 30 and inp["fit"]["weighting"]["DEup"] == 15.0
    assert inp["potential"]["functions"]["(W)"]["nradmax_by_orders"] == [3, 2]
    assert "ladder_step" not in inp["fit"]
    assert json.loads((tmp_path / "wd" / "revem_pacemaker.json").read_text())["n_test"] == 3  # int(12 * 0.25)
    rc = pm.run_cli(p.parse_args([str(src), "--element", "Fe", "--workdir", str(tmp_path / "fe")]))
    assert rc == 2 and "no pacemaker input for Fe" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.needs_data
def test_tiny_pacemaker_fit_on_cpu(tmp_path, data_dir):
    """A real pacemaker run (pyace evaluator, 10 functions, 20 BFGS iterations) on 30 W EOS frames."""
    from pyace import PyACECalculator

    from revem.data import read_extxyz_fast

    frames = read_extxyz_fast(data_dir / "fitsnap-WBe" / "W" / "EOS_Data.extxyz.gz")[::4][:30]
    assert len(frames) == 30
    ov = {"potential": {"functions": {"(W)": {"nradmax_by_orders": [4, 2], "lmax_by_orders": [0, 1]}}},
          "fit": {"ladder_step": None, "ladder_type": None}}
    pm.write_pacemaker_inputs(frames, "W", tmp_path, evaluator="pyace", maxiter=20, overrides=ov)
    t0 = time.perf_counter()
    run = pm.run_pacemaker(tmp_path, timeout=1200)
    wall = time.perf_counter() - t0
    print(f"tiny pacemaker fit (pyace, 24 train + 6 test W frames, 20 iterations): {wall:.1f} s wall, "
          f"pacemaker {run.wall_s:.1f} s")
    assert run.potential_yaml.is_file() and run.potential_yace.is_file()
    calc = PyACECalculator(str(run.potential_yace))
    for at in frames[:5]:
        at = at.copy()
        at.calc = calc
        e = at.get_potential_energy()
        assert math.isfinite(e) and np.all(np.isfinite(at.get_forces()))
    # pacemaker's own training RMSE (metrics.txt, eV/atom) = revem's evaluation of the .yace on train.extxyz
    assert run.train_errors["nfuncs"] == 10 and run.train_errors["iter_num"] == 20
    ours = run.evaluation["train"]["all"]
    assert ours["n_configurations"] == 24
    assert ours["energy_rmse"] == pytest.approx(1000 * run.train_errors["rmse_epa_eV/atom"], rel=1e-3)
    assert run.evaluation["test"]["all"]["n_configurations"] == 6
    # the fit moved away from the zero initial potential: the DFT energies are about -8.9 eV/atom
    assert ours["energy_rmse"] < 1000.0
