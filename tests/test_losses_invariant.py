"""Tests for lossyless_jax.losses.invariant (VIC / VC / lossy-Z distortions)."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lossyless_jax.losses import invariant as inv


def _np_bce(logits, target):
  p = 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))
  return -(target * np.log(p) + (1 - target) * np.log(1 - p))


def test_bernoulli_matches_closed_form_summed_over_pixels():
  rng = np.random.default_rng(0)
  logits = rng.normal(size=(3, 4, 4, 1)).astype(np.float32) * 3
  x = rng.random((3, 4, 4, 1)).astype(np.float32)
  d, m = inv.vic_distortion(jnp.asarray(logits), jnp.asarray(x), "bernoulli")
  ref = _np_bce(logits, x).reshape(3, -1).sum(-1)
  np.testing.assert_allclose(np.asarray(d), ref, rtol=1e-5)
  assert float(m["vic_distortion"]) == pytest.approx(float(d.mean()))
  d_vc, _ = inv.vc_distortion(jnp.asarray(logits), jnp.asarray(x), "bernoulli")
  np.testing.assert_allclose(np.asarray(d_vc), ref, rtol=1e-5)
  # Minimum over logits is at logit(x): the summed binary entropy, with zero gradient.
  x_in = np.clip(x, 0.05, 0.95)
  opt = np.log(x_in / (1 - x_in))
  ent = -(x_in * np.log(x_in) + (1 - x_in) * np.log(1 - x_in)).reshape(3, -1).sum(-1)
  d_opt, _ = inv.vic_distortion(jnp.asarray(opt), jnp.asarray(x_in))
  np.testing.assert_allclose(np.asarray(d_opt), ent, rtol=1e-5)
  g = jax.grad(lambda l: inv.vic_distortion(l, jnp.asarray(x_in))[0].sum())(jnp.asarray(opt))
  np.testing.assert_allclose(np.asarray(g), 0.0, atol=1e-5)


def test_bernoulli_is_stable_for_large_logits():
  logits = jnp.array([[100.0, -100.0, 100.0, -100.0]])
  x = jnp.array([[1.0, 0.0, 0.0, 1.0]])
  d, _ = inv.vc_distortion(logits, x)
  np.testing.assert_allclose(np.asarray(d), [200.0], rtol=1e-6)


def test_gaussian_likelihoods_are_sums_of_squares():
  rng = np.random.default_rng(1)
  out = rng.normal(size=(5, 2)).astype(np.float32)
  tgt = rng.normal(size=(5, 2)).astype(np.float32)
  d, m = inv.vic_distortion(jnp.asarray(out), jnp.asarray(tgt), "gaussian")
  np.testing.assert_allclose(np.asarray(d), ((out - tgt) ** 2).sum(-1), rtol=1e-5)
  d_mean, _ = inv.vic_distortion(jnp.asarray(out), jnp.asarray(tgt), "gaussian", reduce="mean")  # Banana
  np.testing.assert_allclose(np.asarray(d_mean), ((out - tgt) ** 2).mean(-1), rtol=1e-5)
  np.testing.assert_allclose(float(m["vic_mse_per_dim"]), ((out - tgt) ** 2).mean(), rtol=1e-5)
  img = rng.random((2, 3, 3, 3)).astype(np.float32)
  d2, _ = inv.vc_distortion(jnp.asarray(out[:2, :1, None, None] * np.ones((2, 3, 3, 3), np.float32)),
                            jnp.asarray(img), "gaussian_sigmoid")
  sig = 1 / (1 + np.exp(-out[:2, :1, None, None]))
  np.testing.assert_allclose(np.asarray(d2), ((sig - img) ** 2).reshape(2, -1).sum(-1), rtol=1e-5)


def test_lossy_z_is_l1_and_lagrangian_convention():
  z = jnp.array([[1.0, -2.0, 0.5], [0.0, 0.0, 0.0]])
  z_hat = jnp.array([[1.5, -2.0, 0.0], [1.0, -1.0, 2.0]])
  d, m = inv.lossy_z_distortion(z, z_hat)
  np.testing.assert_allclose(np.asarray(d), [1.0, 4.0])
  d = jnp.mean(d)
  rate = jnp.array([2.0, 4.0])  # nats
  loss, lm = inv.lagrangian(d, rate, lmbda=0.1, distortion_factor=0.5)
  assert float(loss) == pytest.approx(2.5 / 0.5 + 0.1 * 3.0)
  assert float(lm["rate_bits_per_example"]) == pytest.approx(3.0 / math.log(2))


def test_shape_and_name_errors():
  with pytest.raises(ValueError, match="decoder output shape"):
    inv.vic_distortion(jnp.zeros((2, 3)), jnp.zeros((2, 4)))
  with pytest.raises(ValueError, match="likelihood must be"):
    inv.reconstruction_nll(jnp.zeros((2, 3)), jnp.zeros((2, 3)), "laplace")
  with pytest.raises(ValueError, match="z shape"):
    inv.lossy_z_distortion(jnp.zeros((2, 3)), jnp.zeros((3, 3)))
