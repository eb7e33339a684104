"""``revem label``: generated configurations labelled by a catalog teacher (W_zhou) and by GPAW.

* kill -9 + resume: a CLI run with 2 workers is SIGKILLed (process group) after 7 of 21 configurations,
  a torn line is appended as a kill inside a write would leave it, the run is resumed with 1 worker and
  its labels equal those of an uninterrupted run bit for bit; they also equal a fresh W_zhou calculator
  on the rows of ``revem rescale`` (the rescaling is the same);
* refusals: other labeller settings on resume, a changed input under a recorded index, malformed and
  unusable inputs (the message names the file), options that do not fit;
* failures (overlapping atoms, GPAW SCF not converged) are recorded with their reason and left out;
* ``--max-atoms`` refusals are not recorded, so a later run with a larger cap labels them;
* dask: a LocalCluster gives the same labels;
* GPAW (skipped where it is not installed, as tests/test_dft.py does; ``slow``): a rattled 2-atom bcc W cell at
  250 eV / k-density 1.5 A (3x3x3 mesh) equals a direct GPAW calculation, settings recorded.
"""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from revem.datasets import dft
from revem.datasets import labelling as lb
from revem.cli import main

ROOT = Path(__file__).resolve().parents[1]
needs_gpaw = pytest.mark.skipif(not dft.is_available(), reason=dft.INSTALL_HINT)


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """21 generated configurations (10 bootstrap + 11 accepted, 2-21 atoms) of species X."""
    from revem.generator.cli import main as gmain

    db = str(tmp_path_factory.mktemp("lab") / "g.db")
    assert gmain(["generate", "--out", db, "--windows", "8", "--modes", "per-atom", "--iterations", "12",
                  "--seed", "2", "--bootstrap", "10", "--bootstrap-rows", "0", "--no-progress"]) == 0
    return db


@pytest.fixture(scope="module")
def reference(generated, tmp_path_factory):
    """An uninterrupted, in-process labelling of all 21 configurations with W_zhou."""
    out = str(tmp_path_factory.mktemp("ref") / "ref.extxyz")
    s = lb.label(generated, out, lb.teacher_spec("W_zhou"), element="W", include_bootstrap=True, progress=False)
    return out, s


def _records(out):
    lines = Path(lb.progress_path(out)).read_text().splitlines()
    return json.loads(lines[0]), {r["index"]: r for r in map(json.loads, lines[1:])}


def _same_labels(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for i, ra in a.items():
        rb = b[i]
        assert ra["status"] == rb["status"] == "ok"
        assert ra["structure_hash"] == rb["structure_hash"]
        assert ra["energy"] == rb["energy"], i  # exact: bit for bit
        assert np.array_equal(ra["forces"], rb["forces"]), i
        assert np.array_equal(ra["stress"], rb["stress"]), i


def _cli(args, env_extra=None, **kw):
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    env.update(env_extra or {})
    return subprocess.Popen([sys.executable, "-m", "revem.cli", "label"] + args, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


def test_reference_labels_are_real(reference, generated, tmp_path):
    import ase.db
    import ase.io

    from revem.generator.rescale import rescale_db
    from revem.potentials.core import load_potential

    out, s = reference
    assert s["n_configs"] == s["n_labelled"] == 21 and s["n_failed"] == s["n_refused"] == 0
    frames = ase.io.read(out, ":")
    assert len(frames) == 21
    assert [f.info["label_source_index"] for f in frames] == sorted(f.info["label_source_index"] for f in frames)
    e = np.array([f.get_potential_energy() / len(f) for f in frames])
    assert np.ptp(e) > 0.1  # eV/atom: different structures, different energies
    assert all(set(f.get_chemical_symbols()) == {"W"} for f in frames)
    assert all(f.get_stress().shape == (6,) for f in frames)
    assert sum(np.abs(f.get_forces()).max() > 1.0 for f in frames) >= 19  # eV/A (a symmetric 2-atom cell has none)
    assert frames[0].info["label_labeller"] == "W_zhou" and json.loads(frames[0].info["label_settings"])["kind"] == "teacher"
    assert s["cost"]["cpu_s_per_atom"] > 0
    # the rescaling is revem rescale's: a fresh W_zhou calculator on its rows gives the same labels
    resc = str(tmp_path / "g-W.db")
    rescale_db(generated, "W", resc)
    _, recs = _records(out)
    pot = load_potential("W_zhou")
    for row in list(ase.db.connect(resc).select(sort="id"))[::5]:
        a = row.toatoms()
        a.calc = pot.calculator()
        r = recs[row.id]
        assert a.get_potential_energy() == r["energy"]
        assert np.array_equal(a.get_forces(), r["forces"])


def test_kill_and_resume_give_identical_labels(reference, generated, tmp_path):
    out = str(tmp_path / "run.extxyz")
    prog = lb.progress_path(out)
    args = [generated, "--out", out, "--teacher", "W_zhou", "--element", "W", "--include-bootstrap", "--no-progress"]
    p = _cli(args + ["--workers", "2"], {lb.STALL_ENV: "7"}, start_new_session=True)
    try:
        deadline = time.time() + 180
        while time.time() < deadline:
            if os.path.exists(prog) and len(Path(prog).read_text().splitlines()) >= 8:  # header + 7
                break
            if p.poll() is not None:
                pytest.fail(f"the run ended before it was killed: {p.communicate()}")
            time.sleep(0.05)
        else:
            pytest.fail("no 7 configurations recorded within 180 s")
    finally:
        os.killpg(p.pid, signal.SIGKILL)  # the launcher and its pool workers
        p.communicate()
    assert p.returncode == -signal.SIGKILL
    assert not os.path.exists(out)  # killed before the end
    _, part = _records(out)
    assert len(part) == 7
    with open(prog, "a") as fh:  # what a kill inside a write leaves: a line cut short
        fh.write('{"index": 3, "energy": -1.2')
    r = _cli(args + ["--workers", "1", "--json"])
    so, se = r.communicate(timeout=300)
    assert r.returncode == 0, se
    assert "resuming" in se and "7 of 21" in se
    s = json.loads(so)
    assert s["n_labelled"] == 21 and s["this_run"]["labelled"] == 14
    _, resumed = _records(out)
    _, ref = _records(reference[0])
    _same_labels(resumed, ref)
    import ase.io

    a, b = ase.io.read(out, ":"), ase.io.read(reference[0], ":")
    for fa, fb in zip(a, b):
        assert fa.info["label_source_index"] == fb.info["label_source_index"]
        assert fa.get_potential_energy() == fb.get_potential_energy()
        assert np.array_equal(fa.get_forces(), fb.get_forces()) and np.array_equal(fa.get_stress(), fb.get_stress())
    # a finished run run again does nothing and writes the same output
    size = os.path.getsize(prog)
    assert main(["label"] + args) == 0
    assert os.path.getsize(prog) == size


def test_other_labeller_settings_are_refused_on_resume(generated, tmp_path, capsys):
    out = str(tmp_path / "r.extxyz")
    base = [generated, "--out", out, "--element", "W", "--no-progress"]
    assert main(["label"] + base + ["--teacher", "W_zhou"]) == 0
    before = Path(lb.progress_path(out)).read_bytes()
    capsys.readouterr()
    assert main(["label"] + base + ["--teacher", "W_2940_2017_2"]) == 2
    err = capsys.readouterr().err
    assert "different labeller settings" in err and lb.progress_path(out) in err and "W_zhou" in err
    assert Path(lb.progress_path(out)).read_bytes() == before  # nothing written
    # an output that exists without its progress file is not overwritten
    other = tmp_path / "taken.extxyz"
    other.write_text("keep")
    assert main(["label", generated, "--out", str(other), "--element", "W", "--teacher", "W_zhou"]) == 2
    assert "taken.extxyz exists" in capsys.readouterr().err and other.read_text() == "keep"


def test_changed_input_under_recorded_index_is_refused(reference, tmp_path, capsys):
    import ase.io

    frames = ase.io.read(reference[0], ":4")
    src = tmp_path / "four.extxyz"
    ase.io.write(src, frames, format="extxyz")
    out = str(tmp_path / "four-lab.extxyz")
    assert main(["label", str(src), "--out", out, "--teacher", "W_zhou", "--no-progress"]) == 0
    frames[2].positions[0, 0] += 0.01
    ase.io.write(src, frames, format="extxyz")
    capsys.readouterr()
    assert main(["label", str(src), "--out", out, "--teacher", "W_zhou", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "belongs to another input" in err and "configuration 2" in err


@pytest.mark.parametrize("name, content, expect", [pytest.param(*p, id=p[0]) for p in [
    ("garbage.extxyz", b"this is not\nan extxyz file at all\n", "cannot be read as extxyz"),
    ("notsqlite.db", b"hello world, definitely not SQLite" * 10, "not an SQLite database"),
    ("truncated.db", b"SQLite format 3\x00" + b"\x10\x00" + b"\x00" * 30, "truncated"),
    ("data.csv", b"a,b\n1,2\n", "unknown format"),
    ("empty.extxyz", b"", "holds no configurations"),
]])
def test_malformed_input_is_refused_naming_the_file(tmp_path, capsys, name, content, expect):
    f = tmp_path / name
    f.write_bytes(content)
    out = tmp_path / "o.extxyz"
    assert main(["label", str(f), "--out", str(out), "--teacher", "W_zhou"]) == 2
    err = capsys.readouterr().err
    assert name in err and expect in err, err
    assert not out.exists() and not Path(lb.progress_path(str(out))).exists()


def test_unusable_inputs_and_options_are_refused(generated, tmp_path, capsys):
    import ase.io

    from revem.generator.storage import Store, row_atoms

    out = str(tmp_path / "o.extxyz")
    assert main(["label", generated, "--out", out, "--teacher", "W_zhou"]) == 2  # no --element
    assert "--element" in capsys.readouterr().err
    assert main(["label", generated, "--out", out, "--teacher", "W_zhou", "--element", "Og"]) == 2
    assert "Og" in capsys.readouterr().err
    x = tmp_path / "x.extxyz"  # an export of species X
    ase.io.write(x, [row_atoms(r) for r in Store(generated, create=False).rows()][:3], format="extxyz")
    assert main(["label", str(x), "--out", out, "--teacher", "W_zhou"]) == 2
    err = capsys.readouterr().err
    assert "x.extxyz" in err and "placeholder species X" in err
    assert main(["label", generated, "--out", out, "--teacher", "Mo_Zuo_JPCA2020", "--element", "W"]) == 2
    assert "covers Mo, not W" in capsys.readouterr().err
    assert main(["label", generated, "--out", str(tmp_path / "o.txt"), "--teacher", "W_zhou", "--element", "W"]) == 2
    assert "o.txt" in capsys.readouterr().err
    assert main(["label", generated, "--out", out, "--teacher", "W_zhou", "--element", "W", "--ecut", "300"]) == 2
    assert "only apply with --dft" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["label", generated, "--out", out, "--teacher", "W_zhou", "--dft"])
    assert not os.path.exists(out) and not os.path.exists(lb.progress_path(out))


def test_failures_are_recorded_and_caps_are_not(reference, tmp_path, capsys):
    import ase.io

    frames = ase.io.read(reference[0], ":6")
    bad = frames[1].copy()
    bad.positions[1] = bad.positions[0] + [0.1, 0.0, 0.0]  # overlapping atoms: the teacher refuses them
    frames[1] = bad
    src = tmp_path / "six.extxyz"
    ase.io.write(src, frames, format="extxyz")
    n_atoms = [len(f) for f in frames]
    cap = sorted(n_atoms)[-2]  # refuses the largest
    out = str(tmp_path / "six-lab.extxyz")
    assert main(["label", str(src), "--out", out, "--teacher", "W_zhou", "--max-atoms", str(cap), "--json",
                 "--no-progress"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["n_failed"] == 1 and s["n_refused"] == sum(n > cap for n in n_atoms) >= 1
    assert s["n_labelled"] == 6 - s["n_failed"] - s["n_refused"]
    fail = next(f for f in s["failures"] if f["recorded"])
    assert fail["source_index"] == 1 and "overlap" in fail["reason"] and "BadStructure" in s["failure_reasons"]
    assert 1 not in {f.info["label_source_index"] for f in ase.io.read(out, ":")}
    _, recs = _records(out)
    assert recs[1]["status"] == "failed" and len(recs) == 6 - s["n_refused"]
    # without the cap the refused ones are labelled now; the failure stays recorded (not retried)
    assert main(["label", str(src), "--out", out, "--teacher", "W_zhou", "--json", "--no-progress"]) == 0
    s2 = json.loads(capsys.readouterr().out)
    assert s2["n_labelled"] == 5 and s2["n_refused"] == 0 and s2["this_run"]["labelled"] == s["n_refused"]
    assert main(["label", str(src), "--out", out, "--teacher", "W_zhou", "--json", "--no-progress",
                 "--retry-failed"]) == 0
    s3 = json.loads(capsys.readouterr().out)
    assert s3["this_run"]["labelled"] == 1 and s3["n_failed"] == 1


def test_dask_local_cluster_gives_the_same_labels(reference, generated, tmp_path):
    distributed = pytest.importorskip("distributed")
    out = str(tmp_path / "dask.extxyz")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cl:
        s = lb.label(generated, out, lb.teacher_spec("W_zhou"), element="W", include_bootstrap=True,
                     dask_address=cl.scheduler_address, progress=False)
    assert s["n_labelled"] == 21
    _same_labels(_records(out)[1], _records(reference[0])[1])


# -- GPAW ---------------------------------------------------------------------------------------
@pytest.mark.slow  # two GPAW runs: ~15 s CPU, 20-50 s wall on a busy 2-core machine
@needs_gpaw
def test_gpaw_labels_a_two_atom_cell_with_recorded_settings(tmp_path, capsys):
    import ase.io
    from ase.build import bulk

    a = bulk("W", "bcc", a=3.17, cubic=True)
    a.rattle(0.05, seed=3)
    src = tmp_path / "w2.extxyz"
    ase.io.write(src, a, format="extxyz")
    out = str(tmp_path / "w2-dft.extxyz")
    assert main(["label", str(src), "--out", out, "--dft", "--ecut", "250", "--kpts-density", "1.5",
                 "--json", "--no-progress"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["n_labelled"] == 1
    prov = s["labeller"]
    assert prov["code"] == "GPAW" and prov["ecut_eV"] == 250 and prov["kpts_density_per_A"] == 1.5
    assert prov["xc"] == "PBE" and prov["smearing"] == "methfessel-paxton" and prov["spin"] == "non-spin-polarised"
    assert len(prov["paw_setups"]["W"]["sha256"]) == 64
    (f,) = ase.io.read(out, ":")
    settings = json.loads(f.info["label_settings"])
    assert settings["ecut_eV"] == 250 and settings["gpaw_version"] == prov["gpaw_version"]
    assert f.info["label_scf_converged"] and f.info["label_scf_iterations"] > 0
    assert list(f.info["label_kpts_mesh"]) == [3, 3, 3]
    # the same numbers as GPAW run directly with these settings (on the structure as the file has it)
    b = ase.io.read(src)
    b.calc = dft.gpaw_calculator(dft.DFTSettings(ecut_eV=250, kpts_density_per_A=1.5))()
    _, recs = _records(out)
    r = recs[0]
    assert r["energy"] == b.get_potential_energy()
    assert np.array_equal(r["forces"], b.get_forces()) and np.array_equal(r["stress"], b.get_stress())
    assert np.abs(r["forces"]).max() > 0.1  # eV/A: the rattled cell is not at equilibrium
    print(f"GPAW 2-atom cell: {r['wall_s']:.1f} s wall, {r['cpu_s']:.1f} s CPU, {r['scf_iterations']} SCF iterations")


@needs_gpaw
def test_gpaw_scf_not_converged_is_a_recorded_failure(tmp_path, capsys):
    import ase.io
    from ase.build import bulk

    src = tmp_path / "w1.extxyz"
    ase.io.write(src, bulk("W", "bcc", a=3.17), format="extxyz")
    out = str(tmp_path / "w1-dft.extxyz")
    assert main(["label", str(src), "--out", out, "--dft", "--ecut", "200", "--kpts-density", "1.0",
                 "--scf-maxiter", "2", "--json", "--no-progress"]) == 1  # nothing could be labelled
    s = json.loads(capsys.readouterr().out)
    assert s["n_labelled"] == 0 and s["n_failed"] == 1 and s["failure_reasons"] == {"SCF not converged": 1}
    assert "after 2 iterations" in s["failures"][0]["reason"]
    _, recs = _records(out)
    assert recs[0]["scf_converged"] is False
    assert os.path.getsize(out) == 0  # an empty output: the failure is left out
