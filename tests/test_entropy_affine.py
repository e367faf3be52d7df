"""AffinePrecision: (z + b)·exp(s) around a rate model, and its inverse."""

import math

import jax
import jax.numpy as jnp
import numpy as np

from lossyless_jax.entropy.affine import AffinePrecision, affine_forward, affine_inverse
from lossyless_jax.entropy.factorized import EntropyBottleneck, factorized_likelihood


def test_forward_inverse():
  z = jnp.linspace(-5, 5, 12).reshape(3, 4)
  s = jnp.array([1.0, 0.0, -2.0, 3.0])
  b = jnp.array([0.5, -1.0, 0.0, 2.0])
  z_in = affine_forward(z, s, b)
  np.testing.assert_allclose(z_in, (z + b) * jnp.exp(s), rtol=1e-6)
  np.testing.assert_allclose(affine_inverse(z_in, s, b), z, rtol=1e-5, atol=1e-5)


def test_module_init_and_semantics():
  m = AffinePrecision(EntropyBottleneck(4))
  z = jnp.array([[0.1, -0.4, 2.2, 7.7], [1.0, 0.0, -3.3, 0.2]])

  @jax.jit
  def run(z):
    v = m.init({"params": jax.random.key(0)}, z)
    out, lik = m.apply(v, z)
    aux = m.apply(v, method=AffinePrecision.aux_loss)
    return v, out, lik, aux

  v, out, lik, aux = run(z)
  p = v["params"]
  np.testing.assert_array_equal(p["scaling"], jnp.ones(4))  # multiplier e at init
  np.testing.assert_array_equal(p["biasing"], jnp.zeros(4))
  y = jnp.round(z * math.e)  # medians are 0 at init
  np.testing.assert_allclose(out, y / math.e, rtol=1e-6)
  np.testing.assert_allclose(lik, factorized_likelihood(p["rate_model"], y), rtol=1e-5)
  assert np.isfinite(float(aux)) and float(aux) > 0
