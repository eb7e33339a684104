"""The `revem` console script."""
import json
import subprocess
import sys


def _revem(*args):
    return subprocess.run([sys.executable, "-m", "revem.cli", *args], capture_output=True, text=True, timeout=300)


def test_potentials_json_lists_w_potentials():
    out = _revem("potentials", "--json")
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert all({"name", "elements", "kind", "citation"} <= set(r) for r in rows)
    w = {r["name"] for r in rows if "W" in r["elements"]}
    assert {"W_2940_2017_2", "WBe_Wood_PRB2019", "W_quadratic", "W_zhou"} <= w
    assert all(r["citation"] for r in rows)


def test_potentials_table():
    out = _revem("potentials")
    assert out.returncode == 0 and "Ta06A" in out.stdout and "Mo_Zuo_JPCA2020" in out.stdout


def test_card_with_shell_is_refused(tmp_path):
    from revem.potentials import UnsafeCommand, load_potential

    card = tmp_path / "evil.yaml"
    card.write_text("name: evil\nelements: [W]\nkind: lammps\nlammps: |\n  pair_style zero 4.0\n  shell rm -rf /tmp/x\n")
    try:
        load_potential(card)
    except UnsafeCommand as exc:
        assert "shell" in str(exc) and "line 2" in str(exc)
    else:
        raise AssertionError("a card with a shell line was accepted")
