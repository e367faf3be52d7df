"""Synthetic rate–distortion sources (data/rd_sources.py)."""

import jax
import numpy as np
import pytest

from lossyless_jax.data import rd_sources as S


def test_authors_variances_and_rotation():
  v20 = S.gaussian_variances(20)
  np.testing.assert_allclose(v20, 4 * np.exp(-np.arange(20) / 2))
  np.testing.assert_allclose(S.gaussian_variances(40), 4 * np.exp(-np.arange(40.0)))
  assert v20.sum() == pytest.approx(10.166, abs=1e-3)  # D_max = sum of the variances
  u = S.random_rotation(20)
  np.testing.assert_allclose(u @ u.T, np.eye(20), atol=1e-12)
  np.testing.assert_array_equal(u, S.random_rotation(20))  # deterministic (authors' seed 233423)
  assert not np.allclose(u, S.random_rotation(20, seed=1))
  with pytest.raises(ValueError, match="r explicitly"):
    S.gaussian_variances(7)


@pytest.mark.parametrize("use_jax", [True, False])
def test_gaussian_covariance(use_jax):
  src = S.get_source("gaussian20")
  rng = jax.random.key(0) if use_jax else np.random.default_rng(0)
  x = np.asarray(src.sample(rng, 100_000), np.float64)
  assert x.shape == (100_000, 20)
  assert isinstance(src.sample(rng, 3), jax.Array if use_jax else np.ndarray)
  cov = np.cov(x.T)
  assert np.abs(cov - src.covariance).max() < 0.06  # std of an entry ≈ 4·sqrt(2/1e5) ≈ 0.018
  np.testing.assert_allclose(np.linalg.eigvalsh(src.covariance), np.sort(src.variances), rtol=1e-10, atol=1e-12)
  assert src.d_max == pytest.approx(10.166, abs=1e-3)


def test_diag_and_custom_gaussian():
  src = S.get_source("gaussian40_diag")
  assert src.rotation is None and src.dim == 40
  x = np.asarray(src.sample(jax.random.key(1), 50_000))
  np.testing.assert_allclose(x.var(0)[:5], src.variances[:5], rtol=0.05)
  kink = S.gaussian_source(variances=[4.0, 1.0, 0.25], rotated=False)
  assert kink.dim == 3 and kink.d_max == pytest.approx(5.25)
  scalar = S.get_source("gaussian1")
  assert scalar.dim == 1 and scalar.variances.tolist() == [1.0]


@pytest.mark.parametrize("use_jax", [True, False])
def test_laplace_and_bernoulli(use_jax):
  rng = jax.random.key(2) if use_jax else np.random.default_rng(2)
  lap = S.get_source("laplace", alpha=2.0)
  x = np.asarray(lap.sample(rng, 200_000))
  assert x.shape == (200_000, 1)
  assert np.abs(x).mean() == pytest.approx(0.5, rel=0.01)  # E|X| = 1/α
  assert lap.distortion == "l1" and lap.d_max == pytest.approx(0.5)
  ber = S.get_source("bernoulli", p=0.3, dim=2)
  b = np.asarray(ber.sample(rng, 200_000))
  assert b.shape == (200_000, 2)
  assert set(np.unique(b).tolist()) == {0.0, 1.0}
  assert b.mean() == pytest.approx(0.3, abs=0.005)
  assert ber.distortion == "hamming_relaxed" and ber.d_max == pytest.approx(0.6)


def test_registry_names():
  for name in S.SOURCE_NAMES:
    src = S.get_source(name)
    assert np.asarray(src.sample(jax.random.key(0), 4)).shape == (4, src.dim)
    assert src.distortion in ("squared_error", "l1", "hamming_relaxed")


def test_determinism_and_errors():
  src = S.get_source("gaussian20")
  a = src.sample(jax.random.key(5), 10)
  b = src.sample(jax.random.key(5), 10)
  np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  x1 = S.fixed_dataset(src, 100, seed=3)
  np.testing.assert_array_equal(x1, S.fixed_dataset(src, 100, seed=3))
  assert x1.dtype == np.float32
  with pytest.raises(TypeError, match="Generator"):
    src.sample(123, 10)
  with pytest.raises(ValueError, match="unknown"):
    S.get_source("cauchy")
  with pytest.raises(ValueError, match="p must"):
    S.sample_bernoulli(np.random.default_rng(0), 3, p=1.5)
  with pytest.raises(ValueError, match="rotation"):
    S.sample_gaussian(jax.random.key(0), 3, [1.0, 2.0], rotation=np.eye(3))
