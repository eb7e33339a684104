"""Reports that tell the truth about their run, runs that own what they write, exit codes that mean one
thing (issue 24), and the Python front door of the same engine (issue 20)."""
from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from ase.calculators.emt import EMT

import revem
from revem.validation.engine import CaseId, ConfigError, Engine, RunConfig, load_targets
from revem.validation.scoring import compare_baseline, score
from revem.validation.writer import FolderLocked, RunWriter

ROOT = Path(__file__).resolve().parent.parent


def _files(folder: Path) -> dict:
    """Every file's bytes (the lock file apart: it says who holds the folder)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != ".revem.lock"}


def _pytest(tmp_path, *args, report="r"):
    cmd = [sys.executable, "-m", "pytest", "--pyargs", "revem.validation", "-p", "no:cacheprovider", "-q",
           "--report-dir", str(tmp_path / report), *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=600)


def _cli(tmp_path, *args):
    cmd = [sys.executable, "-m", "revem.cli", "validate", *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=600)


# -- the Python API ------------------------------------------------------------------------------------
def test_validate_an_ase_calculator_object_from_python(tmp_path):
    res = revem.validate(EMT(), element="Cu", tier="smoke", properties=["eos"], report_dir=tmp_path, progress=False)
    assert res.outcomes and all(o.case.potential == "EMT" and o.case.element == "Cu" for o in res.outcomes)
    df = res.to_dataframe()
    assert len(df) == len(res.records) and {"property", "case", "quantity", "value", "unit", "passed"} <= set(df)
    # EMT Cu is fitted to experiment: its fcc volume is ~3 % below PBE's, so a V0 fails against WIEN2k
    fcc_v0 = df[(df.case == "fcc") & (df.quantity == "V0") & df.reference.notna()]
    assert len(fcc_v0) and (fcc_v0.value < fcc_v0.reference).all()
    assert res.report_paths == [tmp_path / "EMT" / "Cu" / "smoke" / "report.md"]
    first = res.report_paths[0].read_text().splitlines()[0]
    assert first.startswith("**INCOMPLETE**")  # one property of the smoke tier: the report says so
    assert "INCOMPLETE" in res.verdict
    # the same engine through pytest would name the same cases
    eng = Engine(load_targets([revem.Target.of(EMT(), name="EMT", elements=["Cu"])], elements=["Cu"]),
                 RunConfig(tier="smoke", properties=["eos"], report_dir=None))
    assert [c.case for c in eng.collect()] == [o.case.case for o in res.outcomes]


def test_validate_refuses_what_it_cannot_run():
    with pytest.raises(ConfigError, match="pass element="):
        revem.validate(EMT(), report_dir=None, progress=False)
    with pytest.raises(ConfigError, match="--tier 'huge'"):
        revem.validate(EMT(), element="Cu", tier="huge", report_dir=None, progress=False)
    with pytest.raises(ConfigError, match="no such property protocol"):
        revem.validate(EMT(), element="Cu", properties=["colour"], report_dir=None, progress=False)
    with pytest.raises(ConfigError, match="covers W, not Cu"):
        revem.validate("W_zhou", element="Cu", report_dir=None, progress=False)


# -- the gate cannot be fooled by a noisier number --------------------------------------------------------
def test_a_move_is_judged_against_the_baseline_noise_and_a_grown_uncertainty_is_a_regression():
    old = {"value": 309.0, "noise": 1.0, "uncertainty": 0.5}
    # a 6 GPa move whose own stated uncertainty grew to 12 GPa: judged against the baseline's 1 GPa noise
    new = score(315.2, None, test_id="t", potential="p", element="W", prop="eos", case="bcc", quantity="B0",
                unit="GPa", uncertainty=12.2)
    cmp = compare_baseline(new, old)
    assert cmp["moved"] and cmp["noise"] == 1.0
    # the value barely moved, but its uncertainty grew 24x: a regression in itself
    noisy = score(309.1, None, test_id="t", potential="p", element="W", prop="eos", case="bcc", quantity="B0",
                  unit="GPa", uncertainty=12.2)
    cmp = compare_baseline(noisy, old)
    assert cmp["moved"] and cmp["direction"] == "away" and "uncertainty grew" in cmp["message"]
    # growth below 3x, or below the unit's noise floor, is not
    calm = score(309.1, None, test_id="t", potential="p", element="W", prop="eos", case="bcc", quantity="B0",
                 unit="GPa", uncertainty=1.2)
    assert not compare_baseline(calm, old)["moved"]


# -- runs own what they write ----------------------------------------------------------------------------
def test_collect_only_writes_nothing(tmp_path):
    p = _pytest(tmp_path, "--potential", "W_zhou", "--tier", "smoke", "--property", "eos", "--collect-only")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "test_eos[W_zhou-W-bcc]" in p.stdout
    assert not (tmp_path / "r").exists()


def test_a_run_rewrites_only_its_own_folders_and_a_locked_folder_is_refused(tmp_path):
    a = _pytest(tmp_path, "--potential", "W_zhou", "--tier", "smoke", "--property", "eos")
    assert a.returncode in (0, 1), a.stdout + a.stderr
    mine = tmp_path / "r" / "W_zhou"
    before = _files(mine)
    b = _pytest(tmp_path, "--potential", "W_2940_2017_2", "--tier", "smoke", "--property", "eos")
    assert b.returncode in (0, 1), b.stdout + b.stderr
    assert _files(mine) == before  # another potential's run left it byte-identical
    assert (tmp_path / "r" / "W_2940_2017_2" / "W" / "smoke" / "report.md").is_file()
    # a run holding W_zhou's folder (as a run still computing does): a second run on it is refused, naming it
    lock = os.open(mine / "W" / "smoke" / ".revem.lock", os.O_RDWR)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        os.write(lock, json.dumps({"pid": 4242, "host": "h", "started": "t", "command": "the first run"}).encode())
        c = _pytest(tmp_path, "--potential", "W_zhou", "--tier", "smoke", "--property", "eos")
        assert c.returncode == 4 and "being written by another revem run" in c.stdout + c.stderr
        assert "pid 4242" in c.stdout + c.stderr and "the first run" in c.stdout + c.stderr
        assert _files(mine) == before
    finally:
        os.close(lock)


def test_writer_refuses_a_folder_another_writer_holds(tmp_path):
    cfg = RunConfig(tier="smoke", properties=["eos"], report_dir=tmp_path)
    one = Engine(load_targets(["W_zhou"]), cfg)
    two = Engine(load_targets(["W_zhou"]), cfg)
    w1 = RunWriter(one)
    w1.begin([CaseId("W_zhou", "W", "eos", "bcc")])
    try:
        with pytest.raises(FolderLocked, match="being written by another revem run"):
            RunWriter(two).begin([CaseId("W_zhou", "W", "eos", "bcc")])
    finally:
        w1.release()


# -- exit codes -------------------------------------------------------------------------------------------
def test_revem_validate_exit_codes(tmp_path):
    args = ["--element", "W", "--potential", "W_zhou", "--tier", "smoke", "--property", "eos",
            "--report-dir", str(tmp_path / "r")]
    failing = _cli(tmp_path, *args)  # W_zhou's fcc is far from DFT: a case fails, as in pytest
    assert failing.returncode == 1, failing.stdout + failing.stderr
    # one failure count everywhere: pytest's line and the report's first line (INCOMPLETE: one property of the tier)
    assert "of the 3 with a result, 1 failed" in failing.stdout and "1 failed, 2 passed" in failing.stdout
    report_only = _cli(tmp_path, *args, "--report-only")
    assert report_only.returncode == 0 and "--report-only: exit 0" in report_only.stdout
    nothing = _cli(tmp_path, *args, "-k", "no_such_case")
    assert nothing.returncode == 5 and "no case was selected" in nothing.stderr
    usage = _cli(tmp_path, "--element", "W", "--potential", "no_such_potential", "--report-dir", str(tmp_path / "r"))
    assert usage.returncode == 4 and "unknown potential 'no_such_potential'" in usage.stdout + usage.stderr
