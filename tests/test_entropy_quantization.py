"""Quantization ops: noise, rounding modes, straight-through gradients, LowerBound's rule."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lossyless_jax.entropy import quantization as q


def test_uniform_noise_range_and_mean():
  x = jnp.zeros((100_000,))
  y = q.add_uniform_noise(x, jax.random.key(0))
  assert float(y.min()) >= -0.5 and float(y.max()) <= 0.5
  assert abs(float(y.mean())) < 0.01
  assert abs(float(y.var()) - 1 / 12) < 0.002


def test_round_around_offset():  # half to even: 2.5 -> 2
  x = jnp.array([0.2, 0.9, -1.3, 2.55])
  off = jnp.array([0.3, 0.3, 0.3, 0.05])
  np.testing.assert_allclose(q.round_around(x, off), [0.3, 1.3, -1.7, 2.05], rtol=0, atol=1e-6)


def test_ste_round_forward_and_identity_gradient():
  x = jnp.array([0.2, 0.7, -1.6, 3.5])
  np.testing.assert_array_equal(q.ste_round(x), jnp.round(x))
  g = jax.grad(lambda v: jnp.sum(q.ste_round(v) * jnp.arange(1.0, 5.0)))(x)
  np.testing.assert_array_equal(g, jnp.arange(1.0, 5.0))
  g2 = jax.grad(lambda v: jnp.sum(q.ste_round_around(v, 0.25)))(x)
  np.testing.assert_array_equal(g2, jnp.ones(4))


def test_round_half_toward_zero():
  x = jnp.array([0.5, 1.5, -1.5, -0.5, 2.5, 2.51, -2.49, 0.49, -0.0, 7.0])
  expect = [0.0, 1.0, -1.0, 0.0, 2.0, 3.0, -2.0, 0.0, 0.0, 7.0]
  np.testing.assert_array_equal(q.round_half_toward_zero(x), expect)
  y = q.ste_round_half_toward_zero(x)
  np.testing.assert_array_equal(y, expect)  # exact integers forward
  g = jax.grad(lambda v: jnp.sum(q.ste_round_half_toward_zero(v)))(x)
  np.testing.assert_array_equal(g, jnp.ones_like(x))


def test_lower_bound_forward():
  x = jnp.array([-1.0, 0.05, 0.11, 2.0])
  np.testing.assert_allclose(q.lower_bound(x, 0.11), [0.11, 0.11, 0.11, 2.0])


@pytest.mark.parametrize(
  "upstream,expect",
  [
    # x below the bound: gradient passes only if g < 0 (descent would raise x)
    (1.0, [0.0, 1.0, 1.0]),
    (-1.0, [-1.0, -1.0, -1.0]),
  ],
)
def test_lower_bound_gradient_rule(upstream, expect):
  x = jnp.array([0.0, 0.11, 5.0])  # below, at, above the bound
  g = jax.grad(lambda v: jnp.sum(upstream * q.lower_bound(v, 0.11)))(x)
  np.testing.assert_array_equal(g, expect)


def test_lower_bound_mixed_signs_elementwise():
  x = jnp.array([0.0, 0.0, 1.0, 1.0])
  w = jnp.array([2.0, -3.0, 4.0, -5.0])
  g = jax.grad(lambda v: jnp.sum(w * q.lower_bound(v, 0.5)))(x)
  np.testing.assert_array_equal(g, [0.0, -3.0, 4.0, -5.0])


def test_lower_bound_jits_and_vmaps():
  f = jax.jit(jax.vmap(jax.grad(lambda v: q.lower_bound(v, 1.0))))
  np.testing.assert_array_equal(f(jnp.array([0.0, 2.0])), [0.0, 1.0])


def test_quantize_is_the_one_quantizer_of_every_mode():
  x = jnp.array([0.5, 1.5, -1.5, 2.2, -0.7])
  off = jnp.array([0.0, 0.0, 0.0, 0.25, -0.25])
  np.testing.assert_array_equal(q.quantize(x, "round", off), jnp.round(x - off) + off)
  np.testing.assert_array_equal(q.quantize(x, "ste_half_toward_zero"), [0.0, 1.0, -1.0, 2.0, -1.0])
  np.testing.assert_array_equal(q.quantize(x, "ste", off), jnp.round(x - off) + off)
  for mode in ("ste", "ste_half_toward_zero"):  # straight through: identity gradient
    np.testing.assert_array_equal(jax.grad(lambda v: q.quantize(v, mode, off).sum())(x), np.ones(5))
  noisy = q.quantize(x, "noise", key=jax.random.PRNGKey(0))
  assert np.all(np.abs(noisy - x) <= 0.5) and not np.array_equal(noisy, x)
  with pytest.raises(ValueError, match="needs a PRNG key"):
    q.quantize(x, "noise")
  with pytest.raises(ValueError, match="quantization mode must be one of"):
    q.quantize(x, "floor")
