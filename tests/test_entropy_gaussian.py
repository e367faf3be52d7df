"""Gaussian conditional: normalisation, scale floor, scale table and its index mapping."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.special as sps

from lossyless_jax.entropy import gaussian as g

SCALES = [0.05, 0.11, 0.5, 3.0, 50.0, 256.0]


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("mean", [0.0, 0.37, -5.81])
def test_likelihoods_sum_to_one_with_tails(scale, mean):
  s_eff = max(scale, 0.11)
  n = int(math.ceil(12 * s_eff)) + 5
  k = np.arange(-n, n + 1, dtype=np.float64)
  tails = 2 * sps.ndtr(-(n + 0.5) / s_eff)
  p64 = g.gaussian_bin_probabilities(mean + k, scale, mean, xp=np)
  assert abs(p64.sum() + tails - 1.0) < 1e-12
  # float32, floored at 1e-9, as used in training/eval, over the coding support (tail 1e-9)
  n = int(math.ceil(s_eff * -sps.ndtri(0.5e-9)))
  k = np.arange(-n, n + 1, dtype=np.float64)
  tails = 2 * sps.ndtr(-(n + 0.5) / s_eff)
  y = jnp.asarray(mean + k, jnp.float32)
  p32 = jax.jit(g.gaussian_likelihood)(y, jnp.full_like(y, scale), jnp.full_like(y, mean))
  assert abs(np.asarray(p32, np.float64).sum() + tails - 1.0) <= 1e-6


def test_scale_floor_and_gradient_rule():
  y = jnp.array([0.0, 1.0, 2.0])
  lo = jax.jit(g.gaussian_likelihood)(y, jnp.full(3, 0.01))
  at = jax.jit(g.gaussian_likelihood)(y, jnp.full(3, 0.11))
  np.testing.assert_array_equal(lo, at)
  # d(-log p(0))/d(scale) > 0 (a smaller scale is better for y=0): g>0 below the bound -> blocked
  grad = jax.jit(jax.grad(lambda s: -jnp.log(g.gaussian_likelihood(jnp.zeros(1), s)).sum()))
  assert float(grad(jnp.array([0.05]))[0]) == 0.0
  assert float(grad(jnp.array([0.5]))[0]) > 0.0
  # for y=1 a larger scale is better (g<0): passes even below the bound
  grad3 = jax.jit(jax.grad(lambda s: -jnp.log(g.gaussian_likelihood(jnp.full(1, 1.0), s)).sum()))
  assert float(grad3(jnp.array([0.05]))[0]) < 0.0


def test_likelihood_floor():
  p = jax.jit(g.gaussian_likelihood)(jnp.array([100.0]), jnp.array([0.2]))
  assert float(p[0]) == pytest.approx(1e-9)


def test_scale_table_defaults():
  t = g.make_scale_table()
  assert t.size == 64 and t[0] == pytest.approx(0.11) and t[-1] == pytest.approx(256.0)
  np.testing.assert_allclose(np.diff(np.log(t)), np.log(256 / 0.11) / 63)
  with pytest.raises(ValueError):
    g.make_scale_table(num_scales=300)


def _kl(s_true, s_model):
  return math.log(s_model / s_true) + s_true**2 / (2 * s_model**2) - 0.5


def test_boundaries_are_kl_optimal():
  t = g.make_scale_table()
  b = g.scale_boundaries(t)
  assert b.size == 63 and np.all((t[:-1] < b) & (b < t[1:]))
  for i in (0, 20, 62):
    assert _kl(b[i], t[i]) == pytest.approx(_kl(b[i], t[i + 1]), rel=1e-9)


@pytest.mark.parametrize("num_scales", [2, 64, 255])
def test_scale_to_index_is_exact_searchsorted(num_scales):
  b = g.scale_boundaries(g.make_scale_table(num_scales=num_scales))
  rng = np.random.default_rng(0)
  bf = b.astype(np.float32)
  cases = [
    np.exp(rng.uniform(-6, 7, 200_000)).astype(np.float32),
    rng.normal(0, 3, 50_000).astype(np.float32),
    np.concatenate([bf, np.nextafter(bf, 0), np.nextafter(bf, 1e9), np.float32([0.0, -0.0, 1e-45, 3e38, -3e38])]),
    np.concatenate([b, np.nextafter(b, 0), np.nextafter(b, 1e9)]),
  ]
  for s in cases:
    idx = g.scale_to_index(s, b)
    assert idx.dtype == np.uint8
    np.testing.assert_array_equal(idx, np.searchsorted(b, s, side="right"))


def test_scale_to_index_rejects_non_finite():
  b = g.scale_boundaries(g.make_scale_table())
  with pytest.raises(ValueError, match="finite"):
    g.scale_to_index(np.array([1.0, np.nan], np.float32), b)


def test_module_train_and_eval():
  m = g.GaussianConditional()
  z = jnp.array([[0.2, 2.6, -4.4]])
  mu = jnp.array([[0.5, 0.5, -0.25]])
  s = jnp.array([[1.0, 2.0, 0.3]])
  y, p = jax.jit(lambda z, s, mu: m.apply({}, z, s, mu))(z, s, mu)
  np.testing.assert_allclose(y, jnp.round(z - mu) + mu)
  expect = g.gaussian_bin_probabilities(
    np.asarray(y, np.float64), np.asarray(s, np.float64), np.asarray(mu, np.float64), xp=np
  )
  np.testing.assert_allclose(p, np.maximum(expect, 1e-9), rtol=1e-5)
  y_t, _ = jax.jit(lambda z, s, mu, k: m.apply({}, z, s, mu, train=True, rngs={"noise": k}))(
    z, s, mu, jax.random.key(0)
  )
  assert float(jnp.abs(y_t - z).max()) <= 0.5
