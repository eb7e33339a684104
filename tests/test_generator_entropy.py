"""Entropy: running sums, closed-form gradient vs JAX, objective gradient vs finite differences."""
import numpy as np
import pytest

from revem.generator.candidate import Objective
from revem.generator.entropy import (DegenerateCovariance, Normalization, RunningMoments, jax_logdet,
                                     logdet, objective_and_grad, recompute_entropy, sample_rows)
from revem.generator.featurizer import LammpsSnapFeaturizer
from revem.generator.windows import make_windows, parse_index_list


def _dataset(rng, m=55, n=80):
    A = rng.normal(size=(m, m))
    return rng.normal(size=(n, m)) @ A + 3.0


def test_running_sums_match_recompute():
    rng = np.random.default_rng(0)
    configs = [_dataset(rng, n=int(k)) for k in rng.integers(2, 26, size=12)]
    norm = Normalization.from_features(np.vstack(configs[:4]))
    for mode in ("per-atom", "per-config"):
        mom = RunningMoments(55)
        for c in configs:
            mom.add(sample_rows(norm.apply(c), mode))
        assert logdet(mom, norm) == pytest.approx(recompute_entropy(configs, norm, mode), abs=1e-8)
        # bytes round trip is exact
        assert logdet(RunningMoments.from_bytes(55, mom.to_bytes()), norm) == logdet(mom, norm)


def test_closed_form_gradient_equals_jax():
    import jax
    jax.config.update("jax_enable_x64", True)
    rng = np.random.default_rng(1)
    norm = Normalization(np.zeros(55), np.ones(55), ridge=1e-6)
    mom = RunningMoments(55)
    mom.add(rng.normal(size=(70, 55)))
    rows = rng.normal(size=(7, 55))
    ld, g = objective_and_grad(mom, norm, rows)
    f = lambda r: jax_logdet(mom.n, mom.s, mom.M, r, norm.ridge, norm.ddof)
    assert ld == pytest.approx(float(f(rows)), abs=1e-9)
    np.testing.assert_allclose(g, np.asarray(jax.grad(f)(rows)), rtol=1e-8, atol=1e-10)


def test_degenerate_covariance_message():
    norm = Normalization(np.zeros(55), np.ones(55), ridge=0.0)
    mom = RunningMoments(55)
    mom.add(np.random.default_rng(0).normal(size=(10, 55)))
    with pytest.warns(UserWarning, match="singular"), pytest.raises(DegenerateCovariance, match="ridge"):
        logdet(mom, norm, np.ones((1, 55)))
    with pytest.raises(DegenerateCovariance):
        logdet(RunningMoments(55, 1, np.zeros(55), np.zeros((55, 55))), norm)


@pytest.mark.parametrize("mode", ["per-atom", "per-config"])
def test_objective_gradient_vs_central_differences(mode):
    rng = np.random.default_rng(2)
    f = LammpsSnapFeaturizer()
    n = 5
    L = (15.9 * n) ** (1 / 3)
    cell = np.array([[L, 0, 0], [0.4, L, 0], [0.2, -0.3, L]])
    boot = [f.features_of(cell, rng.random((8, 3)) @ cell) for _ in range(10)]
    norm = Normalization.from_features(np.vstack(boot))
    mom = RunningMoments(55)
    for b in boot:
        mom.add(sample_rows(norm.apply(b), mode))
    pos = rng.random((n, 3)) @ cell
    f.set_structure(cell, pos, 2.2)
    obj = Objective(f, mom, norm, mode, K=0.7)
    F0, g = obj(pos.ravel())
    h = 1e-5
    for k in [0, 4, 8, 14]:
        xp, xm = pos.ravel().copy(), pos.ravel().copy()
        xp[k] += h
        xm[k] -= h
        fd = (obj(xp)[0] - obj(xm)[0]) / (2 * h)
        assert g[k] == pytest.approx(fd, rel=1e-4, abs=1e-6 * max(1.0, abs(F0)))
    f.close()


def test_windows():
    w = make_windows(15.9)
    assert len(w) == 17
    assert w[0].v_start == pytest.approx(0.45 * 15.9) and w[-1].v_end == pytest.approx(3 * 15.9)
    for a, b in zip(w, w[1:]):
        assert a.v_end == pytest.approx(b.v_start)
        # exclusion volume proportional to V_start
        assert (b.r_core / a.r_core) ** 3 == pytest.approx(b.v_start / a.v_start)
    assert all(x.r_min == pytest.approx(0.9 * x.r_core) for x in w)
    assert len(make_windows(low_density=True)) == 21
    assert parse_index_list("0-2,5,7-8") == [0, 1, 2, 5, 7, 8]


def test_union_of_differently_standardised_datasets_equals_recomputation():
    """Whole-dataset S from running sums kept in different standardisations (one per stream) equals
    S recomputed from the raw rows with the union's own mean and standard deviation."""
    from revem.generator.entropy import affine_moments, union_entropy

    rng = np.random.default_rng(5)
    parts, raw = [], []
    for shift, k in ((0.0, 40), (4.0, 70), (-2.0, 25)):
        X = _dataset(rng, n=k) * (1 + shift / 10) + shift  # different centres and spreads
        norm = Normalization.from_features(X[:10])  # each stream: its own bootstrap standardisation
        mom = RunningMoments(55)
        mom.add(norm.apply(X))
        parts.append((mom, norm))
        raw.append(X)
    u = union_entropy(parts, ridge=1e-6)
    allX = np.vstack(raw)
    assert u.n == len(allX) == 135
    np.testing.assert_allclose(u.norm.center, allX.mean(axis=0), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(u.norm.scale, allX.std(axis=0), rtol=1e-9)
    common = Normalization(allX.mean(axis=0), allX.std(axis=0), 1e-6)
    assert u.S == pytest.approx(recompute_entropy([allX], common, "per-atom"), abs=1e-7)
    for X, S in zip(raw, u.parts_S):
        assert S == pytest.approx(recompute_entropy([X], common, "per-atom"), abs=1e-7)
    # the affine map itself: moments of a*z + b
    mom, norm = parts[1]
    a, b = rng.uniform(0.5, 2, 55), rng.normal(size=55)
    t = affine_moments(mom, a, b)
    Z = norm.apply(raw[1]) * a + b
    np.testing.assert_allclose(t.s, Z.sum(axis=0), rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(t.M, Z.T @ Z, rtol=1e-10, atol=1e-8)
    # concavity of log det: S(union) >= m log A + sum (a_w / A) S_w, a_w = (n_w - 1) / (n - 1), A = sum a_w
    a = (np.array(u.parts_n) - 1) / (u.n - 1)
    assert u.S >= 55 * np.log(a.sum()) + float(a / a.sum() @ np.array(u.parts_S)) - 1e-9
