"""The validation harness under hostile or careless use: each refusal names the problem, nothing
computed is lost, a baseline that compares nothing never passes green, and renamed potentials are
compared by physics.  Every case runs the real harness (``pytest validation``) in a subprocess."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from revem.validation import results as results_io

ROOT = Path(__file__).resolve().parent.parent
def run(tmp_path, *args, props=("verification",), env=None, report="r"):
    cmd = [sys.executable, "-m", "pytest", str(ROOT / "validation"), "-p", "no:cacheprovider",
           *[f"--property={p}" for p in props], "--report-dir", str(tmp_path / report), *args]
    e = dict(os.environ, **(env or {}))
    for k, v in list(e.items()):
        if v is None:
            e.pop(k)
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=600, env=e)


def out(p) -> str:
    return p.stdout + p.stderr


@pytest.fixture(scope="module")
def zhou_results(tmp_path_factory):
    """A real results file of W_zhou (verification cases), made once."""
    d = tmp_path_factory.mktemp("zhou")
    p = run(d, "--potential", "W_zhou", "--tier", "smoke")
    assert p.returncode == 0, out(p)
    return d / "r" / "W_zhou" / "W" / "smoke" / "results.json"


# --- baselines that are not usable: a usage error naming the file, before anything runs ------------

@pytest.mark.parametrize("content, message", [
    ("{not json", "not valid JSON"),
    ('{"a": 1}', "not a revem results file"),
    ("[]", "bare list"),
    ('[{"test_id": "x"}]', "bare list"),
    ('"just a string"', "not a revem results file"),
    (b"\xff\xfe\x00garbage", "not UTF-8"),
])
def test_malformed_baseline_is_a_clear_error(tmp_path, content, message):
    f = tmp_path / "base.json"
    f.write_bytes(content if isinstance(content, bytes) else content.encode())
    p = run(tmp_path, "--potential", "W_zhou", "--baseline", str(f))
    assert p.returncode == 4, out(p)
    assert message in out(p) and str(f) in out(p)
    assert "INTERNALERROR" not in out(p)
    assert not (tmp_path / "r" / "W_zhou").exists()  # nothing ran


def test_baseline_records_without_keys(tmp_path, zhou_results):
    d = json.loads(zhou_results.read_text())
    del d["records"][0]["quantity"]
    f = tmp_path / "b.json"
    f.write_text(json.dumps(d))
    p = run(tmp_path, "--potential", "W_zhou", "--baseline", str(f), "--tier", "smoke")
    assert p.returncode == 4 and "records[0]: 'quantity' is a required property" in out(p) and str(f) in out(p)


def test_baseline_without_records_is_refused(tmp_path, zhou_results):
    d = json.loads(zhou_results.read_text())
    d["records"] = []
    f = tmp_path / "b.json"
    f.write_text(json.dumps(d))
    p = run(tmp_path, "--potential", "W_zhou", "--baseline", str(f), "--tier", "smoke")
    assert p.returncode == 4 and "holds no records" in out(p)


def test_missing_baseline_file(tmp_path):
    p = run(tmp_path, "--potential", "W_zhou", "--baseline", str(tmp_path / "nope.json"))
    assert p.returncode == 4 and "no such file" in out(p) and "nope.json" in out(p)


def test_baseline_of_another_tier_is_refused(tmp_path, zhou_results):
    p = run(tmp_path, "--potential", "W_zhou", "--baseline", str(zhou_results), "--tier", "standard")
    assert p.returncode == 4 and "tier 'smoke'" in out(p) and "tier 'standard'" in out(p)


def test_baseline_of_another_protocol_version_is_refused(tmp_path, zhou_results):
    d = json.loads(zhou_results.read_text())
    d["meta"]["protocol_versions"]["verification"] = 0
    f = tmp_path / "b.json"
    f.write_text(json.dumps(d))
    p = run(tmp_path, "--potential", "W_zhou", "--baseline", str(f), "--tier", "smoke")
    assert p.returncode == 4 and "verification v0 -> v1" in out(p)


def test_baseline_whose_cases_all_skip_does_not_pass(tmp_path):
    # dataset_errors needs the data mirror: with it, a baseline; without it, every case skips
    files = ("dataset_errors",)
    if not os.environ.get("REVEM_DATA_DIR"):
        pytest.skip("needs REVEM_DATA_DIR for the baseline run")
    first = run(tmp_path, "--potential", "W_zhou", "--tier", "smoke", "-k", "BCC_ForceLib_W110", props=files, report="a")
    assert first.returncode == 0, out(first)
    base = tmp_path / "a" / "W_zhou" / "W" / "smoke" / "results.json"
    p = run(tmp_path, "--potential", "W_zhou", "--tier", "smoke", "-k", "BCC_ForceLib_W110", "--baseline", str(base),
            props=files, env={"REVEM_DATA_DIR": str(tmp_path / "empty")})
    assert p.returncode == 1, out(p)
    assert "skipped now" in out(p) and "allow-partial-baseline" in out(p)


def test_baseline_that_lacks_numbers_is_an_error_unless_allowed(tmp_path, zhou_results):
    d = json.loads(zhou_results.read_text())
    d["records"] = [r for r in d["records"] if r["case"] != "rotation"]
    f = tmp_path / "b.json"
    f.write_text(json.dumps(d))
    p = run(tmp_path, "--potential", "W_zhou", "--baseline", str(f), "--tier", "smoke")
    assert p.returncode == 1 and "1 numbers computed now are not in the baseline" in out(p), out(p)
    ok = run(tmp_path, "--potential", "W_zhou", "--baseline", str(f), "--tier", "smoke", "--allow-partial-baseline",
             report="r2")
    assert ok.returncode == 0, out(ok)


def test_regression_mode_needs_a_baseline(tmp_path):
    p = run(tmp_path, "--potential", "W_zhou", "--fail-on", "regression")
    assert p.returncode == 4 and "needs --baseline" in out(p)


# --- elements, names, report directory -------------------------------------------------------------

def test_unknown_element_is_refused(tmp_path):
    p = run(tmp_path, "--potential", "W_zhou", "--element", "Xx")
    assert p.returncode == 4 and "Xx: not a chemical symbol" in out(p)


def test_element_no_potential_covers_is_refused(tmp_path):
    p = run(tmp_path, "--potential", "W_zhou", "--element", "Mo")
    assert p.returncode == 4 and "W_zhou covers W, not Mo: it would run nothing" in out(p)


def test_element_option_is_exact_not_a_substring(tmp_path):
    # WBe covers W and Be: --element W runs W only (-k W would also match Be's ids, 'WBe')
    p = run(tmp_path, "--potential", "WBe_Wood_PRB2019", "--element", "W", "--collect-only", "-q")
    assert p.returncode == 0, out(p)
    ids = [ln for ln in p.stdout.splitlines() if "::" in ln]
    assert ids and all("-W-" in i for i in ids) and not any("-Be-" in i for i in ids)


def test_cli_refuses_unknown_or_uncovered_element(tmp_path):
    for el, msg in (("Xx", "not a chemical symbol"), ("Mo", "W_zhou covers W, not Mo")):
        p = subprocess.run([sys.executable, "-m", "revem.cli", "validate", "--element", el, "--potential", "W_zhou",
                            "--report-dir", str(tmp_path / "r")], capture_output=True, text=True, cwd=ROOT, timeout=300)
        assert p.returncode == 4 and msg in out(p), out(p)  # pytest's usage-error code (revem validate --help)
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("name", ["../../outside", "/abs/path", "..", "a b"])
def test_potential_name_that_would_leave_the_report_dir(tmp_path, name):
    card = tmp_path / "cards" / "c.yaml"
    card.parent.mkdir()
    card.write_text(f"name: {json.dumps(name)}\nelements: [W]\nkind: ase\nase: ase.calculators.emt:EMT\n")
    p = run(tmp_path, "--potential", str(card))
    assert p.returncode == 4 and "name" in out(p), out(p)
    assert sorted(x.name for x in tmp_path.iterdir() if x.name != "r") == ["cards"]  # nothing written outside
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())
    assert not (tmp_path.parent / "outside").exists() and not Path("/abs/path").exists()


def test_two_potentials_with_one_name_are_refused(tmp_path, lammps_potentials):
    card = tmp_path / "W_zhou.yaml"
    card.write_text("name: W_zhou\nelements: [W]\nkind: lammps\nfiles_from: lammps\n"
                    "lammps:\n  pair_style: eam/alloy\n  pair_coeff: ['* * W_zhou.eam.alloy W']\n")
    p = run(tmp_path, "--potential", "W_zhou", "--potential", str(card))
    assert p.returncode == 4 and "two potentials are called 'W_zhou'" in out(p)


def test_unwritable_report_dir_is_found_before_anything_runs(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    p = run(tmp_path, "--potential", "W_zhou", report="file/sub")
    assert p.returncode == 4 and "cannot be written" in out(p) and "nothing was run" in out(p)
    assert "passed" not in p.stdout


# --- nothing computed is lost ----------------------------------------------------------------------

def test_killed_run_keeps_finished_cases_and_next_run_merges(tmp_path):
    p = run(tmp_path, "--potential", "W_zhou", "--tier", "smoke", env={"REVEM_TEST_KILL_AFTER_CASES": "2"})
    assert p.returncode == -9, out(p)
    folder = tmp_path / "r" / "W_zhou" / "W" / "smoke"
    journal = folder / results_io.JOURNAL
    assert journal.is_file() and not (folder / "results.json").exists()
    kept = {o["case"]["case"] for _, o in results_io.read_journal(folder)}
    assert len(kept) == 2
    # the killed run's report says so on its first line, naming the cases without a result
    first = (folder / "report.md").read_text().splitlines()[0]
    assert first.startswith("**INCOMPLETE**") and "in progress (or killed)" in first
    assert "of the 2 with a result" in first  # every other case of the smoke tier is listed as without a result
    # the next run (only one other case) finds the journal and merges both into results.json
    again = run(tmp_path, "--potential", "W_zhou", "--tier", "smoke", "-k", "permutation")
    assert again.returncode == 0, out(again)
    recs = results_io.load(folder / "results.json")["records"]
    assert {r["case"] for r in recs} == kept | {"permutation"}
    assert not journal.exists()


def test_narrower_run_merges_and_removes_stale_plots(tmp_path):
    full = run(tmp_path, "--potential", "W_zhou", "--tier", "smoke")
    assert full.returncode == 0
    folder = tmp_path / "r" / "W_zhou" / "W" / "smoke"
    n_full = len(results_io.load(folder / "results.json")["records"])
    (folder / "stale_plot.png").write_bytes(b"old")
    narrow = run(tmp_path, "--potential", "W_zhou", "--tier", "smoke", "-k", "translation")
    assert narrow.returncode == 0
    assert len(results_io.load(folder / "results.json")["records"]) == n_full
    assert not (folder / "stale_plot.png").exists()


def test_summary_covers_every_potential_folder(tmp_path):
    assert run(tmp_path, "--potential", "W_zhou", "--tier", "smoke").returncode == 0
    assert run(tmp_path, "--potential", "W_quadratic", "--tier", "smoke").returncode == 0
    summary = (tmp_path / "r" / "summary.md").read_text()
    assert "W_zhou" in summary and "W_quadratic" in summary


def test_tiers_live_side_by_side(tmp_path):
    """A run at another tier never displaces a report: each tier has its own folder."""
    assert run(tmp_path, "--potential", "W_zhou", "--tier", "smoke").returncode == 0
    smoke = tmp_path / "r" / "W_zhou" / "W" / "smoke"
    before = {p.name: p.read_bytes() for p in smoke.iterdir() if p.is_file()}
    assert run(tmp_path, "--potential", "W_zhou", "--tier", "standard", "-k", "rotation").returncode == 0
    after = {p.name: p.read_bytes() for p in smoke.iterdir() if p.is_file()}
    assert after == before  # byte-identical
    d = results_io.load(tmp_path / "r" / "W_zhou" / "W" / "standard" / "results.json")
    assert d["meta"]["tier"] == "standard" and {r["case"] for r in d["records"]} == {"rotation"}


# --- the gate: physics keys, direction ---------------------------------------------------------------

def _perturbed_zhou(tmp_path, lammps_potentials, factor: float | None, name: str) -> Path:
    """A card named ``name`` for a copy of W_zhou.eam.alloy whose tabulated values are scaled by ``factor``."""
    lines = (lammps_potentials / "W_zhou.eam.alloy").read_text().splitlines()
    if factor is not None:
        lines = lines[:6] + [" ".join(repr(float(x) * factor) for x in ln.split()) for ln in lines[6:]]
    d = tmp_path / name
    d.mkdir()
    (d / "W_copy.eam.alloy").write_text("\n".join(lines) + "\n")
    card = d / f"{name}.yaml"
    card.write_text(f"name: {name}\nelements: [W]\nkind: lammps\n"
                    "lammps:\n  pair_style: eam/alloy\n  pair_coeff: ['* * W_copy.eam.alloy W']\n")
    return card


def test_renamed_copy_is_compared_and_a_one_percent_change_fails(tmp_path, lammps_potentials):
    files = ("elastic", "defects")
    base = run(tmp_path, "--potential", "W_zhou", "--tier", "smoke", "-k", "C11 or C44 or vacancy", props=files,
               report="base")
    assert base.returncode == 0, out(base)
    bfile = tmp_path / "base" / "W_zhou" / "W" / "smoke" / "results.json"
    n_base = len(results_io.load(bfile)["records"])
    same = run(tmp_path, "--potential", str(_perturbed_zhou(tmp_path, lammps_potentials, None, "my_W_v2")),
               "--tier", "smoke", "-k", "C11 or C44 or vacancy", "--baseline", str(bfile), props=files, report="same")
    assert same.returncode == 0, out(same)
    recs = results_io.load(tmp_path / "same" / "my_W_v2" / "W" / "smoke" / "results.json")["records"]
    assert len(recs) == n_base and all(r["baseline"] is not None for r in recs)  # every record compared
    moved = run(tmp_path, "--potential", str(_perturbed_zhou(tmp_path, lammps_potentials, 1.01, "my_W_v3")),
                "--tier", "smoke", "-k", "C11 or C44 or vacancy", "--baseline", str(bfile), props=files, report="moved")
    assert moved.returncode == 1, out(moved)
    assert "REGRESSION" in moved.stdout
    md = (tmp_path / "moved" / "my_W_v3" / "W" / "smoke" / "report.md").read_text()
    assert "**REGRESSED**" in md.splitlines()[0] and "## Regressions against the baseline" in md
    assert "| elastic | bcc | C11 |" in md


def test_fail_on_worse_accepts_moves_towards_the_reference(tmp_path):
    args = ("--potential", "W_zhou", "--tier", "smoke", "-k", "C11")
    first = run(tmp_path, *args, props=("elastic",), report="base")
    d = results_io.load(tmp_path / "base" / "W_zhou" / "W" / "smoke" / "results.json")
    rec = next(r for r in d["records"] if r["quantity"] == "C11" and r["reference"] is not None)
    assert first.returncode in (0, 1) and abs(rec["value"] - rec["reference"]) > rec["noise"], out(first)

    def with_baseline_value(v, name):
        for r in d["records"]:
            if r["quantity"] == "C11":
                r["value"] = v
        f = tmp_path / f"{name}.json"
        f.write_text(json.dumps(d))
        return str(f)

    # the baseline was further from DFT than now: a move towards the reference
    worse_before = rec["value"] + 20 * (rec["value"] - rec["reference"])
    towards = with_baseline_value(worse_before, "towards")
    ok = run(tmp_path, *args, "--baseline", towards, "--fail-on", "worse", props=("elastic",), report="t1")
    assert ok.returncode == 0, out(ok)
    flagged = run(tmp_path, *args, "--baseline", towards, props=("elastic",), report="t2")
    assert flagged.returncode == 1 and "towards from DFT" in flagged.stdout  # a plain regression check flags any move
    # the baseline sat on the reference: now it is further away
    away = with_baseline_value(rec["reference"], "away")
    p = run(tmp_path, *args, "--baseline", away, "--fail-on", "worse", props=("elastic",), report="t3")
    assert p.returncode == 1 and "away from DFT" in p.stdout, out(p)


def test_vanished_baseline_numbers_are_reported_not_failed(tmp_path, zhou_results):
    d = json.loads(zhou_results.read_text())
    extra = dict(next(r for r in d["records"] if r["case"] == "rotation"), quantity="retired_quantity")
    d["records"].append(extra)
    f = tmp_path / "b.json"
    f.write_text(json.dumps(d))
    p = run(tmp_path, "--potential", "W_zhou", "--baseline", str(f), "--tier", "smoke")
    assert p.returncode == 0, out(p)
    assert "no longer produced" in p.stdout and "verification/rotation/retired_quantity" in p.stdout
    assert "no longer produced" in (tmp_path / "r" / "W_zhou" / "W" / "smoke" / "report.md").read_text()


def test_a_potential_that_does_not_cover_the_element_is_refused(tmp_path):
    p = run(tmp_path, "--potential", "W_zhou", "--potential", "Mo_Zuo_JPCA2020", "--element", "W")
    assert p.returncode == 4 and "Mo_Zuo_JPCA2020 covers Mo, not W" in out(p)
