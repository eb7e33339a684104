"""Candidate cell sizes (the paper's distribution by default) and vectorised random placement."""
import numpy as np
import pytest
from ase.geometry import get_distances

from revem.generator.candidate import (DEFAULT_ATOMS, LEGACY_ATOMS, min_distance, parse_atoms_distribution,
                                       random_cell, random_positions, random_structure)


def test_default_is_the_papers_cell_size_distribution():
    d = parse_atoms_distribution(None)
    assert d.text == DEFAULT_ATOMS and (d.n_min, d.n_max) == (2, 25)
    assert d.mean == pytest.approx(6.0, abs=1e-9)  # paper: 179,367 atoms / 30,349 structures = 5.9
    assert d.fraction_below(10) > 0.8  # "predominantly less than 10 atoms"
    assert np.all(np.diff(d.pmf) < 0) and d.pmf[-1] > 0  # up to 25
    rng = np.random.default_rng(0)
    n = np.array([d.sample(rng) for _ in range(20000)])
    assert n.min() == 2 and n.max() <= 25 and n.mean() == pytest.approx(6.0, abs=0.1)


@pytest.mark.parametrize("text, mean, lo, hi", [("7", 7, 7, 7), ("2-25", 13.5, 2, 25), ("2-25:uniform", 13.5, 2, 25),
                                               ("1-10:geometric:3", 3, 1, 10), ("2-25:geometric:20", 20, 2, 25),
                                               ("2-4:weights:1,0,3", 3.5, 2, 4)])
def test_parse(text, mean, lo, hi):
    d = parse_atoms_distribution(text)
    assert (d.n_min, d.n_max) == (lo, hi) and d.mean == pytest.approx(mean, abs=1e-9)
    assert sum(d.pmf) == pytest.approx(1.0)
    rng = np.random.default_rng(1)
    assert {d.sample(rng) for _ in range(300)} <= set(range(lo, hi + 1))


@pytest.mark.parametrize("text, why", [("", "empty"), ("0-5", "[1, 200]"), ("5-2", "empty"), ("2-300", "[1, 200]"),
                                       ("a-b", "not a number"), ("2-25:geometric", "geometric:MEAN"),
                                       ("2-25:geometric:30", "strictly between"), ("2-25:poisson:6", "unknown law"),
                                       ("2-4:weights:1,2", "3 sizes"), ("2-4:weights:0,0,0", "not all zero"),
                                       ("2-4:weights:1,-1,2", "non-negative"), ("2-25:uniform:3", "no parameter")])
def test_bad_distribution_is_refused_with_a_reason(text, why):
    with pytest.raises(ValueError, match="--atoms.*") as e:
        parse_atoms_distribution(text)
    assert why in str(e.value)


def test_legacy_uniform_draws_as_before():
    """'2-25:uniform' draws N with rng.integers(2, 26), the draw of revem before the distributions."""
    d = parse_atoms_distribution(LEGACY_ATOMS)
    a, b = np.random.default_rng(5), np.random.default_rng(5)
    assert [d.sample(a) for _ in range(50)] == [int(b.integers(2, 26)) for _ in range(50)]


def _one_at_a_time(rng, cell, n, d_min, tries=200):
    """The reference: random sequential addition with one ASE minimum-image test per trial point."""
    pos = np.empty((0, 3))
    for _ in range(n):
        for _ in range(tries):
            p = rng.random(3) @ cell
            if len(pos) == 0 or get_distances(p[None], pos, cell=cell, pbc=True)[1].min() >= d_min:
                break
        else:
            return None
        pos = np.vstack([pos, p])
    return pos


@pytest.mark.parametrize("seed", range(6))
def test_vectorised_placement_equals_the_one_at_a_time_loop(seed):
    """Same positions (to round-off: the vectorised matrix products may sum in another order, which BLAS
    kernels of other CPUs do) and the same generator state afterwards, in skewed cells near the packing limit."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(8, 25))
    cell = random_cell(rng, n, 8.0, min_length=1.7)
    a, b = np.random.default_rng([seed, 1]), np.random.default_rng([seed, 1])
    p1 = random_positions(a, cell, n, 1.55)
    p2 = _one_at_a_time(b, cell, n, 1.55)
    assert (p1 is None) == (p2 is None)
    if p1 is not None:
        np.testing.assert_allclose(p1, p2, rtol=0, atol=1e-12)  # Å
        assert min_distance(cell, p1, 2.0) >= 1.55
    assert a.random() == b.random()


def test_random_structure_follows_the_distribution_and_window():
    rng = np.random.default_rng(3)
    ns = []
    for _ in range(60):
        cell, pos, v = random_structure(rng, 15.0, 17.0, 2.0, atoms="2-6:weights:0,0,1,0,1")
        ns.append(len(pos))
        assert 15.0 <= abs(np.linalg.det(cell)) / len(pos) <= 17.0 and 15.0 <= v <= 17.0
        assert min_distance(cell, pos, 2.5) >= 2.0
    assert set(ns) == {4, 6}
