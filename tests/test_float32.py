"""Identity checks scaled to the model's precision: a float32 model passes forces = −∇E and the
invariances within float32 round-off, and fails them when declared float64 (tolerance 1e-6 eV)."""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(tmp_path, precision_line: str, name: str):
    card = tmp_path / f"{name}.yaml"
    card.write_text(f"name: {name}\nelements: [Cu]\nkind: ase\nase: float32_emt:Float32EMT\n{precision_line}")
    env = dict(os.environ, REVEM_TRUSTED_MODULES="float32_emt",
               PYTHONPATH=os.pathsep.join([str(ROOT / "tests" / "calculators"), os.environ.get("PYTHONPATH", "")]))
    p = subprocess.run([sys.executable, "-m", "pytest", str(ROOT / "validation"), "--property", "verification",
                        "--potential", str(card), "--report-dir", str(tmp_path / "r"), "-p", "no:cacheprovider"],
                       capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    res = tmp_path / "r" / name / "Cu" / "results.json"
    recs = {r["case"]: r for r in json.loads(res.read_text())["records"]} if res.exists() else {}
    return p, recs


def test_float32_model_is_judged_at_float32_precision(tmp_path):
    p, recs = _run(tmp_path, "", "f32_detected")  # precision detected from the dtype of its forces
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-2000:]
    assert "float32 model (detected)" in recs["forces_fd"]["note"]
    # the round-off is real: a central difference of float32 energies misses −∇E by far more than the
    # float64 tolerance (1e-3 eV/Å), and the float32 tolerance (4 ε |E| / h) covers it
    assert 1e-3 < recs["forces_fd"]["value"] < recs["forces_fd"]["tolerance"]
    declared = _run(tmp_path, "precision: float32\n", "f32_declared")[0]
    assert declared.returncode == 0


def test_the_same_model_declared_float64_fails_its_identities(tmp_path):
    p, recs = _run(tmp_path, "precision: float64\n", "f32_as_f64")
    assert p.returncode == 1, p.stdout[-3000:]
    assert recs["forces_fd"]["passed"] is False and recs["forces_fd"]["tolerance"] == 1e-3
    assert "float64 model (declared on the card)" in recs["forces_fd"]["note"]
